"""Nested models in a printed summary whose weights are none: a Keras 3 Sequential that begins
with ``augmentation (Sequential)`` (random flips, rotations: 0 params) prints the nested model as
one row that shows none of its layers.

Takes a ``PrintedSummary``; gives it without those rows (the layers that read one read what fed
it instead), a note for the row after each (written as a comment there: what was dropped and how
to add it back), and, where such a model opens the summary, the input shape it keeps. A nested
model with parameters is not dropped: :mod:`.infer` marks it and the writer makes it a block to
fill in.
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import Location, SpecError
from .summary import ELLIPSIS, Connection, PrintedSummary, Shape, SummaryRow

NESTED_TYPES = ("Sequential", "Functional", "Model")


def is_nested(row: SummaryRow) -> bool:
    return bool(row.type) and row.type.rstrip(ELLIPSIS) in NESTED_TYPES


def without_empty_models(
    summary: PrintedSummary,
) -> tuple[PrintedSummary, dict[str, str], Shape | None]:
    """(the summary without its 0-param nested models, notes by the name of the row after
    each, the input shape where one opens a summary that has no input row)."""
    empty = [row for row in summary.rows if is_nested(row) and row.params == 0]
    if not empty or len(empty) == len(summary.rows):
        return summary, {}, None
    dropped = {row.name: row for row in empty}
    led_to: dict[str, tuple[Connection, ...]] = {}
    notes: dict[str, str] = {}
    rows: list[SummaryRow] = []
    pending: list[SummaryRow] = []
    for row in summary.rows:
        if row.name in dropped:
            pending.append(row)
            continue
        for gone in pending:
            notes[row.name] = (
                f"a nested model '{gone.name}' ({gone.type}, 0 params, output "
                f"{list(gone.shape)}) came before this layer: preprocessing such as augmentation, "
                "whose layers the summary does not show; add them here if the model needs them"
            )
        pending = []
        rows.append(replace(row, connections=_skip(row.connections, dropped, led_to, summary.file)))
    first = summary.rows[0]
    opening = first.shape if first.name in dropped and not summary.inputs else None
    return replace(summary, rows=tuple(rows)), notes, opening


def _skip(connections: tuple[Connection, ...], dropped: dict[str, SummaryRow],
          led_to: dict[str, tuple[Connection, ...]], file: str) -> tuple:  # fmt: skip
    """Connections to a dropped model lead to what fed it (``led_to`` keeps each model's, found
    once: models fed twice by the one before took time in 2 to the power of their number)."""
    found: list[Connection] = []
    for connection in connections:
        if connection.name in dropped:
            found += _fed_by(connection.name, dropped, led_to, file, ())
        else:
            found.append(connection)
    return tuple(found)


def _fed_by(name: str, dropped: dict[str, SummaryRow], led_to: dict[str, tuple[Connection, ...]],
            file: str, through: tuple[str, ...]) -> tuple[Connection, ...]:  # fmt: skip
    """What feeds the dropped model ``name``, through any dropped models before it, each once."""
    if name in led_to:
        return led_to[name]
    row = dropped[name]
    if name in through:
        raise SpecError(
            f"the nested model '{name}' is connected to its own output "
            f"({' → '.join([*through[through.index(name) :], name])})",
            Location(file, row.line, 1),
            fix="Give the summary as Keras printed it: 'Connected to' names the layers before.",
        )
    found: list[Connection] = []
    for connection in row.connections:
        if connection.name in dropped:
            found += _fed_by(connection.name, dropped, led_to, file, (*through, name))
        else:
            found.append(connection)
    led_to[name] = tuple(dict.fromkeys(found))  # each source once
    return led_to[name]
