"""The checked summary as plain data: per layer what the model has and what the spec expects.

Nothing here prints; :mod:`layerkit.model.render` turns a :class:`Summary` into a table, text or JSON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..catalog.layers import lookup_key
from ..errors import Location
from ..spec.document import ExpectedRow, Spec
from ..spec.plan import Plan, layer_names
from ..spec.validation import plan_from
from .flops import count_flops, count_operation_flops
from .shapes import Shape, format_shape

if TYPE_CHECKING:
    import keras

# format_shape and Shape live in layerkit.model.shapes; importable from here as before
__all__ = ["Row", "Shape", "Summary", "Total", "format_shape", "summarize"]


@dataclass(frozen=True)
class Row:
    """One layer (or ``op:`` node) of the model, with what the spec expects of it."""

    index: int  # 1-based, as in the expect.rows list
    name: str
    type: str
    output_shape: Shape  # batch dimension first, as Keras prints it
    params: int
    trainable_params: int
    flops: int | None  # multiply-adds for one sample; None when unknown
    location: Location | None  # where the spec writes this layer
    expected: ExpectedRow | None = None
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def checked(self) -> bool:
        return self.expected is not None

    @property
    def label(self) -> str:
        """How messages name the row: ``row 7 conv2d_2 (expected as conv2d_21)``."""
        text = f"row {self.index} {self.name}"
        if self.expected is not None and self.expected.name and self.expected.name != self.name:
            text += f" (expected as {self.expected.name})"
        return text


@dataclass(frozen=True)
class Total:
    """One of the three parameter totals, with the expected value where the spec gives one."""

    label: str
    key: str
    actual: int
    expected: int | None
    location: Location | None

    @property
    def ok(self) -> bool:
        return self.expected is None or self.expected == self.actual


@dataclass(frozen=True)
class Summary:
    """A model checked against its spec: rows, totals, FLOPs and every mismatch in words."""

    name: str
    file: str | None
    rows: tuple[Row, ...]
    totals: tuple[Total, ...]
    flops: int
    flops_complete: bool  # False when some weighted layer had no FLOP formula
    problems: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def checked_count(self) -> int:
        """How many expectations the spec states (rows with an expectation plus totals)."""
        return sum(row.checked for row in self.rows) + sum(
            total.expected is not None for total in self.totals
        )

    def total(self, key: str) -> Total:
        return next(total for total in self.totals if total.key == key)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``layerkit build --json`` prints exactly this."""
        return {
            "ok": self.ok,
            "name": self.name,
            "file": self.file,
            "total_params": self.total("total_params").actual,
            "trainable_params": self.total("trainable_params").actual,
            "non_trainable_params": self.total("non_trainable_params").actual,
            "flops": self.flops,
            "flops_complete": self.flops_complete,
            "expected": {total.key: total.expected for total in self.totals},
            "layers": [
                {
                    "index": row.index,
                    "name": row.name,
                    "type": row.type,
                    "output_shape": list(row.output_shape),
                    "params": row.params,
                    "trainable_params": row.trainable_params,
                    "flops": row.flops,
                    "expected_output_shape": _expected_shape(row),
                    "expected_params": row.expected.params if row.expected else None,
                    "ok": row.ok,
                    "problems": list(row.problems),
                    "line": row.location.line if row.location else None,
                }
                for row in self.rows
            ],
            "problems": list(self.problems),
        }


def _expected_shape(row: Row) -> list[int | None] | None:
    if row.expected is None or row.expected.shape is None:
        return None
    return [None, *row.expected.shape]


def _weight_count(weights: list[Any]) -> int:
    return sum(math.prod(weight.shape) for weight in weights)


def _shape(tensor: Any) -> Shape:
    # a layer fed several tensors (a merge, or an RNN given a mask) reports the first one's shape
    if isinstance(tensor, list | tuple):
        tensor = tensor[0]
    return tuple(tensor.shape)


def summarize(model: keras.Model, spec: Spec | Plan | None = None) -> Summary:
    """Check a model against the shapes and parameter counts its spec expects.

    Args:
        model: a model from :func:`layerkit.build` (any functional or Sequential model works).
        spec: the plan it was built from (or its Spec, validated here), for ``expect:`` and the
            line of each layer; omit it to summarize without checks. A path or YAML text is
            refused: load it with :func:`layerkit.load_spec`.

    Returns:
        The :class:`Summary`; ``summary.ok`` is False when any expectation fails, and
        ``summary.problems`` says which, in words.

    Raises:
        TypeError: ``spec`` is not a Spec, a Plan or None.
    """
    plan = plan_from(spec, None, "summarize") if spec is not None else None
    layers = _row_nodes(model, plan)
    expected_rows = plan.spec.expect.rows if plan else None
    locations: dict[str, Location] = {}
    uses: dict[str, int] = {}  # a shared layer runs once per use: its FLOPs count each time
    if plan is not None:
        names = layer_names(plan)
        for node in reversed(plan.layers):  # a shared layer's row points where it is defined
            locations[names[node.key]] = node.location
            uses[names[node.key]] = uses.get(names[node.key], 0) + 1
    rows = []
    for index, layer in enumerate(layers):
        expected = expected_rows[index] if expected_rows and index < len(expected_rows) else None
        row = _row(index + 1, layer, expected, locations.get(layer.name))
        if row.flops is not None and uses.get(layer.name, 1) > 1:
            row = replace(row, flops=row.flops * uses[layer.name])
        rows.append(row)
    trainable = _weight_count(model.trainable_weights)
    non_trainable = _weight_count(model.non_trainable_weights)
    expect = plan.spec.expect if plan else None

    def total(label: str, key: str, actual: int) -> Total:
        expected = getattr(expect, key) if expect else None
        return Total(label, key, actual, expected, expect.locations.get(key) if expect else None)

    totals = (
        total("Total params", "total_params", trainable + non_trainable),
        total("Trainable params", "trainable_params", trainable),
        total("Non-trainable params", "non_trainable_params", non_trainable),
    )
    problems = [f"{row.label}: {'; '.join(row.problems)}" for row in rows if row.problems]
    problems += [
        f"{t.label.lower()} {t.actual:,}, expected {t.expected:,}" for t in totals if not t.ok
    ]
    if expected_rows is not None and len(expected_rows) != len(rows):
        problems.append(
            f"expect.rows lists {len(expected_rows)} rows, the model has {len(rows)} "
            + ("layer" if len(rows) == 1 else "layers")
        )
    flops = [row.flops for row in rows]
    return Summary(
        name=model.name,
        file=plan.spec.file if plan else None,
        rows=tuple(rows),
        totals=totals,
        flops=sum(count for count in flops if count is not None),
        flops_complete=all(count is not None for count in flops),
        problems=tuple(problems),
    )


def _row_nodes(model: Any, plan: Plan | None) -> list[Any]:
    """The layers and ops that are rows, in the model's order.

    A functional model's ops (``x + 3``, ``keras.ops.mean``) are rows too, as ``model.summary()``
    shows them. With a plan, only the ops its ``op:`` items made: Keras adds ops of its own (an
    embedding's padding mask is a ``not_equal``), numbered per process, that a spec never writes.
    """
    nodes = [
        node
        for node in getattr(model, "operations", None) or model.layers
        if type(node).__name__ != "InputLayer"
    ]
    if plan is None:
        return nodes
    names = layer_names(plan)
    spec_ops = {names[node.key] for node in plan.layers if node.operation}
    return [node for node in nodes if hasattr(node, "count_params") or node.name in spec_ops]


def _flops(layer: Any, output_shape: Shape) -> int | None:
    """A layer's FLOPs, or an op's (a Keras operation that is not a layer) from its inputs'."""
    if hasattr(layer, "count_params"):
        return count_flops(layer, _shape(layer.input), output_shape)
    inputs = layer.input if isinstance(layer.input, list | tuple) else [layer.input]
    shapes = [tuple(tensor.shape) for tensor in inputs]
    return count_operation_flops(type(layer).__name__, shapes, output_shape)


def _row(index: int, layer: Any, expected: ExpectedRow | None, location: Location | None) -> Row:
    output_shape = _shape(layer.output)
    is_layer = hasattr(layer, "count_params")  # an op (keras.ops.add…) holds no weights
    params = layer.count_params() if is_layer else 0
    problems = []
    if expected is not None:
        if expected.shape is not None and tuple(expected.shape) != output_shape[1:]:
            problems.append(
                f"output shape {format_shape(output_shape)}, expected "
                f"{format_shape((None, *expected.shape))}"
            )
        if expected.params is not None and expected.params != params:
            problems.append(f"params {params:,}, expected {expected.params:,}")
        if expected.type is not None and lookup_key(expected.type) != lookup_key(
            type(layer).__name__
        ):
            problems.append(f"type {type(layer).__name__}, expected {expected.type}")
    return Row(
        index=index,
        name=layer.name,
        type=type(layer).__name__,
        output_shape=output_shape,
        params=params,
        trainable_params=_weight_count(layer.trainable_weights) if is_layer else 0,
        flops=_flops(layer, output_shape),
        location=location,
        expected=expected,
        problems=tuple(problems),
    )
