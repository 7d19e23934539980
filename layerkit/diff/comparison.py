"""What differs between two sides: two :class:`~.records.Side` in, a :class:`Diff` out — one
:class:`DiffRow` per aligned pair (same, changed with each change named, only in A, only in B),
the first difference, both sides' parameter totals, and whether the two are identical.

Layer names are shown, never compared: Keras numbers them per process and per model, so the same
network carries other names on each side. A printed summary has no arguments; where one side has
none, arguments are not compared (the side says so).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .alignment import Pair, align, feeders
from .records import LayerRecord, Side, same_kind

SAME, CHANGED, ONLY_A, ONLY_B = "same", "changed", "only_a", "only_b"
VALUE_LIMIT = 40  # characters of an argument's value in a table cell or a line (JSON has it all)
TOTAL_KEYS = ("total_params", "trainable_params", "non_trainable_params")


@dataclass(frozen=True)
class Change:
    """One difference within a pair: what (``type``, ``shape`` (the output's), ``params``, an argument's
    name, ``inputs``) and its value on each side (None: the side does not have it)."""

    what: str
    a: Any
    b: Any

    @property
    def text(self) -> str:
        """``filters 64 → 65``."""
        return f"{self.what} {show_value(self.a)} → {show_value(self.b)}"


@dataclass(frozen=True)
class DiffRow:
    status: str  # same, changed, only_a, only_b
    a: LayerRecord | None
    b: LayerRecord | None
    changes: tuple[Change, ...] = ()

    @property
    def record(self) -> LayerRecord:
        """The layer the row is about: A's, or B's for a layer only in B."""
        return self.a if self.a is not None else self.b  # type: ignore[return-value]

    def describe(self) -> str:
        """The first-difference text: ``layer 7 conv2d_2 (Conv2D): filters 64 → 65``."""
        if self.status == ONLY_A:
            return f"layer {self.a.index} {self.a.label} is only in A"
        if self.status == ONLY_B:
            return f"layer {self.b.index} of B, {self.b.label}, is only in B"
        return f"layer {self.a.index} {self.a.label}: {', '.join(c.text for c in self.changes)}"


@dataclass(frozen=True)
class Diff:
    a: Side
    b: Side
    rows: tuple[DiffRow, ...]
    by_wiring: bool  # aligned as graphs
    notes: tuple[str, ...] = field(default=())

    def count(self, status: str) -> int:
        return sum(row.status == status for row in self.rows)

    @property
    def first_difference(self) -> DiffRow | None:
        return next((row for row in self.rows if row.status != SAME), None)

    @property
    def totals_differ(self) -> bool:
        return any(self.a.totals[key] != self.b.totals[key] for key in TOTAL_KEYS)

    @property
    def identical(self) -> bool:
        return self.first_difference is None and not self.totals_differ

    def verdict(self) -> str:
        """``✓ identical: 25 layers, 2,494,982 params`` or ``✗ 3 layers differ, 0 only in A, 0
        only in B; params +869``."""
        total_a, total_b = self.a.totals["total_params"], self.b.totals["total_params"]
        if self.identical:
            layers = len(self.rows)
            return f"✓ identical: {layers:,} layer{'' if layers == 1 else 's'}, {total_a:,} params"
        changed = self.count(CHANGED)
        verb = "layer differs" if changed == 1 else "layers differ"
        text = (
            f"✗ {changed:,} {verb}, {self.count(ONLY_A):,} only in A, "
            f"{self.count(ONLY_B):,} only in B; params {signed(total_b - total_a)}"
        )
        if self.first_difference is None:  # the layers agree, the totals do not: which
            key = "trainable_params"
            text += f", trainable params {signed(self.b.totals[key] - self.a.totals[key])}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """``layerkit diff --json``: sides, rows, first_difference, totals, identical."""
        first = self.first_difference
        return {
            "identical": self.identical,
            "aligned_by": "wiring" if self.by_wiring else "sequence",
            "sides": {"a": side_dict(self.a), "b": side_dict(self.b)},
            "rows": [row_dict(row) for row in self.rows],
            "first_difference": None if first is None else first.describe(),
            "totals": {
                "a": {key: self.a.totals[key] for key in TOTAL_KEYS},
                "b": {key: self.b.totals[key] for key in TOTAL_KEYS},
                "difference": {key: self.b.totals[key] - self.a.totals[key] for key in TOTAL_KEYS},
            },
            "counts": {status: self.count(status) for status in (SAME, CHANGED, ONLY_A, ONLY_B)},
            "notes": list(self.notes),
        }


def compare(a: Side, b: Side) -> Diff:
    """Align the two sides and say what differs in each pair."""
    pairs, by_wiring = align(a, b)
    arguments = a.has_arguments and b.has_arguments
    rewired = _rewired(pairs, a, b) if by_wiring else set()
    rows = tuple(_row(pair, arguments, pair[0] is not None and pair[0].name in rewired)
                 for pair in pairs)  # fmt: skip
    notes = []
    for side, letter in ((a, "A"), (b, "B")):
        if not side.has_arguments:
            notes.append(f"{letter} is a {side.how}: it has no arguments to compare, only classes, "
                         "shapes and params")  # fmt: skip
    return Diff(a, b, rows, by_wiring, tuple(notes))


def _rewired(pairs: list[Pair], a: Side, b: Side) -> set[str]:
    """A's paired layers fed by other layers than their partners are: compared through the
    layers only on one side, so a layer inserted before one does not count as rewiring it."""
    to_b = {x.name: y.name for x, y in pairs if x is not None and y is not None}
    to_b.update(zip(a.inputs, b.inputs, strict=False))
    only_a = {x.name: x for x, y in pairs if x is not None and y is None}
    only_b = {y.name: y for x, y in pairs if x is None and y is not None}
    paired_b = {name: name for name in to_b.values()}
    return {
        x.name
        for x, y in pairs
        if x is not None
        and y is not None
        and feeders(x.inputs, only_a, to_b) != feeders(y.inputs, only_b, paired_b)
    }


def _row(pair: Pair, arguments: bool, rewired: bool) -> DiffRow:
    a, b = pair
    if b is None:
        return DiffRow(ONLY_A, a, None)
    if a is None:
        return DiffRow(ONLY_B, None, b)
    changes = []
    if not same_kind(a, b):
        changes.append(Change("type", a.kind, b.kind))
    if arguments and a.args is not None and b.args is not None:
        changes += _argument_changes(a.args, b.args)
    if a.shapes != b.shapes:
        changes.append(Change("shape", shapes_text(a.shapes), shapes_text(b.shapes)))
    if a.params != b.params:
        changes.append(Change("params", a.params, b.params))
    elif a.trainable is not None and b.trainable is not None and a.trainable != b.trainable:
        changes.append(Change("trainable params", a.trainable, b.trainable))
    if rewired:
        changes.append(Change("inputs", ", ".join(a.inputs), ", ".join(b.inputs)))
    return DiffRow(CHANGED if changes else SAME, a, b, tuple(changes))


def _argument_changes(a: dict[str, Any], b: dict[str, Any]) -> list[Change]:
    keys = list(a) + [key for key in b if key not in a]
    return [
        Change(key, a.get(key), b.get(key))
        for key in keys
        if _plain(a.get(key)) != _plain(b.get(key))
    ]


def _plain(value: Any) -> str:
    """A configuration value in one comparable form (tuples and lists alike)."""
    return json.dumps(value, sort_keys=True, default=str)


def show_value(value: Any) -> str:
    """An argument's value, short: ``64``, ``relu``, ``(3, 3)``, ``GlorotUniform``, ``—``."""
    if value is None:
        return "—"
    if isinstance(value, dict) and "class_name" in value:
        return str(value["class_name"])
    if isinstance(value, list):
        value = tuple(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:,}" if isinstance(value, int) else f"{value:g}"
    text = str(value)
    return text if len(text) <= VALUE_LIMIT else text[: VALUE_LIMIT - 1] + "…"


def shapes_text(shapes: tuple[tuple[int | None, ...], ...]) -> str:
    """Output shapes without the batch dimension: ``(16, 16, 64)``; several in brackets."""
    texts = [
        "(" + ", ".join("None" if size is None else str(size) for size in shape)
        + ("," if len(shape) == 1 else "") + ")"
        for shape in shapes
    ]  # fmt: skip
    return texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"


def signed(value: int) -> str:
    return f"+{value:,}" if value > 0 else f"{value:,}" if value < 0 else "±0"


def record_dict(record: LayerRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {
        "index": record.index,
        "name": record.name,
        "type": record.kind,
        "output_shapes": [list(shape) for shape in record.shapes],
        "params": record.params,
        "trainable_params": record.trainable,
        "inputs": list(record.inputs),
    }


def row_dict(row: DiffRow) -> dict[str, Any]:
    return {
        "status": row.status,
        "a": record_dict(row.a),
        "b": record_dict(row.b),
        "changes": [
            {"what": change.what, "a": _jsonable(change.a), "b": _jsonable(change.b)}
            for change in row.changes
        ],
    }


def side_dict(side: Side) -> dict[str, Any]:
    return {
        "source": side.source,
        "kind": side.kind,
        "read_as": side.how,
        "name": side.name,
        "layers": len(side.records),
        "arguments": side.has_arguments,
        **{key: side.totals[key] for key in TOTAL_KEYS},
    }


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
