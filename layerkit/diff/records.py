"""One side of a diff as plain data: a Keras model or a printed summary in, a :class:`Side` out —
one :class:`LayerRecord` per layer (name, Keras class, output shapes, parameter counts, arguments
where known, the names of the layers feeding it) and the three parameter totals.

From a model, everything comes from Keras itself (``get_config()``, its weights, its call
history); from a printout, only what the printout shows: no arguments, and a class name that the
tf.keras 2 layout may have cut short ("Batch" for BatchNormalization).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..importer.summary import ELLIPSIS, PrintedSummary, Shape

# configuration keys that are not a layer's arguments (they name or place it)
NOT_ARGUMENTS = ("name", "trainable", "dtype", "build_config", "compile_config")


@dataclass(frozen=True)
class LayerRecord:
    """One layer (or ``keras.ops`` node) as the diff compares it."""

    index: int  # 1-based, in the side's own order
    name: str
    kind: str  # the Keras class name, as the side gives it
    shapes: tuple[Shape, ...]  # each output's shape, without the batch dimension
    params: int
    trainable: int | None  # trainable params; None where the side does not say
    args: dict[str, Any] | None  # get_config() without naming keys; None for a printout
    inputs: tuple[str, ...]  # names of the layers (or model inputs) feeding it
    kind_cut: bool = False  # the printout may have cut the class name short

    @property
    def label(self) -> str:
        return f"{self.name} ({self.kind})"


@dataclass(frozen=True)
class Side:
    """What one side of the diff is and holds."""

    source: str  # as given on the command line
    kind: str  # spec, summary, model, keras, run
    name: str  # the model's name
    records: tuple[LayerRecord, ...]
    inputs: tuple[str, ...]  # the model's input names, in order
    totals: dict[str, int]  # total_params, trainable_params, non_trainable_params
    how: str = ""  # how it was read, for the header: "built from the spec", "printed summary"
    notes: list[str] = field(default_factory=list)

    @property
    def has_arguments(self) -> bool:
        return any(record.args is not None for record in self.records)

    @property
    def is_chain(self) -> bool:
        """Each layer takes the one before it (the first, the input): a plain sequence."""
        previous = self.inputs[:1]
        for record in self.records:
            if tuple(record.inputs) != tuple(previous) and not (not previous and not record.inputs):
                return False
            previous = (record.name,)
        return len(self.inputs) <= 1


# -- from a Keras model ------------------------------------------------------------------------------


def model_side(model: Any, source: str, kind: str, how: str) -> Side:
    """A built or loaded Keras model: every layer with its configuration and wiring."""
    operations = [
        op
        for op in getattr(model, "operations", None) or model.layers
        if type(op).__name__ != "InputLayer" and type(op).__name__ != "NotEqual"
    ]
    input_names = tuple(_history_name(tensor) for tensor in model.inputs)
    sequential = type(model).__name__ == "Sequential"
    known = {op.name for op in operations} | set(input_names)
    records = []
    previous = input_names[:1]
    for index, op in enumerate(operations, start=1):
        inputs = previous if sequential else _inputs_of(op, known)
        records.append(_model_record(index, op, inputs))
        previous = (op.name,)
    trainable = _weight_count(model.trainable_weights)
    total = trainable + _weight_count(model.non_trainable_weights)
    totals = {"total_params": total, "trainable_params": trainable,
              "non_trainable_params": total - trainable}  # fmt: skip
    return Side(source, kind, model.name, tuple(records), input_names, totals, how)


def _model_record(index: int, op: Any, inputs: tuple[str, ...]) -> LayerRecord:
    is_layer = hasattr(op, "count_params")
    output = op.output if isinstance(op.output, list | tuple) else [op.output]
    shapes = tuple(tuple(tensor.shape)[1:] for tensor in output)
    args = None
    if is_layer:
        config = op.get_config()
        args = {key: value for key, value in config.items() if key not in NOT_ARGUMENTS}
    return LayerRecord(
        index,
        op.name,
        type(op).__name__,
        shapes,
        op.count_params() if is_layer else 0,
        _weight_count(op.trainable_weights) if is_layer else 0,
        args if args is not None else {},
        inputs,
    )


def _history_name(tensor: Any) -> str:
    return tensor._keras_history.operation.name


def _inputs_of(op: Any, known: set[str]) -> tuple[str, ...]:
    """The names of what feeds ``op`` in this model, over all its calls (a shared layer's too)."""
    names: list[str] = []
    for node in getattr(op, "_inbound_nodes", []):
        for tensor in node.input_tensors:
            name = _history_name(tensor)
            if name in known and name not in names:
                names.append(name)
    return tuple(names)


def _weight_count(weights: list[Any]) -> int:
    return sum(math.prod(weight.shape) for weight in weights)


# -- from a printed summary --------------------------------------------------------------------------


def summary_side(summary: PrintedSummary, source: str) -> Side:
    """A printed ``model.summary()``: its rows, wired as printed (a chain without "Connected to")."""
    from ..catalog.layers import default_registry

    registry = default_registry()
    inputs = tuple(row.name for row in summary.inputs) or ("input",)
    names: list[str] = list(inputs)
    records = []
    for index, row in enumerate(summary.rows, start=1):
        if summary.functional:
            wired = tuple(_resolve(c.name, names) for c in row.connections)
        else:
            wired = (names[-1],)
        kind = (row.type or "?").rstrip(ELLIPSIS)
        cut = row.type is None or row.type.endswith(ELLIPSIS) or not _known_class(kind, registry)
        trainable = None if row.trainable is None else (row.params if row.trainable else 0)
        records.append(
            LayerRecord(
                index,
                row.name.rstrip(ELLIPSIS),
                kind,
                row.shapes,
                row.params,
                trainable,
                None,
                tuple(dict.fromkeys(wired)),
                cut,
            )
        )
        names.append(row.name.rstrip(ELLIPSIS))
    totals = {key: summary.totals.get(key, 0) for key in
              ("total_params", "trainable_params", "non_trainable_params")}  # fmt: skip
    name = source.rsplit("/", 1)[-1]
    return Side(source, "summary", name, tuple(records), inputs, totals, "printed summary")


def _resolve(name: str, names: list[str]) -> str:
    """A connection's name as printed (maybe cut with "…") → the nearest layer above with it."""
    name = name.rstrip(ELLIPSIS)
    if name in names:
        return name
    return next((known for known in reversed(names) if known.startswith(name)), name)


def _known_class(kind: str, registry: Any) -> bool:
    """Whether ``kind`` is a whole Keras class name (not one the printout cut short)."""
    try:
        return registry.resolve(kind) == kind
    except LookupError:
        return False


def same_kind(a: LayerRecord, b: LayerRecord) -> bool:
    """Whether two records are the same Keras class; a printout's class cut short matches any
    class it begins."""
    if a.kind == b.kind:
        return True
    if a.kind_cut and len(a.kind) >= 3 and b.kind.startswith(a.kind):
        return True
    return b.kind_cut and len(b.kind) >= 3 and a.kind.startswith(b.kind)
