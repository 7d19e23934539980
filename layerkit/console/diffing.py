"""``layerkit diff`` at the command line: two sources and the options in; the two sides read
(TensorFlow loaded only when a side is a model to build or load), the :class:`~layerkit.diff.Diff`
printed — a side-by-side table (rich on a terminal, plain text in a pipe or with ``--plain``)
with runs of identical layers folded into one line unless ``--all``, then the first difference,
the parameter totals of each side and a verdict line — or one JSON object with ``--json``.

Gives the exit code: 0 the two networks are identical, 1 they differ (2, bad input, is raised).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from .errors import EXIT_MISMATCH
from .output import import_keras_quietly, make_console, say, warn

if TYPE_CHECKING:
    from ..diff.comparison import Diff, DiffRow

MARKS = {"same": " ", "changed": "~", "only_a": "-", "only_b": "+"}
NOT_ARGUMENTS = ("type", "shape", "params", "inputs")  # each has its own column
TOTAL_LABELS = (("Total params", "total_params"), ("Trainable params", "trainable_params"),
                ("Non-trainable params", "non_trainable_params"))  # fmt: skip


@dataclass(frozen=True)
class DiffRequest:
    """``layerkit diff``'s arguments and options."""

    a: str
    b: str
    overrides: tuple[str, ...] = ()
    variant: str | None = None
    plugins: tuple[str, ...] = ()
    allow_large: bool = False
    unsafe: bool = False
    show_all: bool = False
    plain: bool = False
    as_json: bool = False


def run_diff(request: DiffRequest) -> int:
    """Read both sides, compare them, print the result; the exit code."""
    from ..catalog.plugins import load_plugins
    from ..diff import diff
    from ..diff.sides import needs_keras, resolve_latest_run

    show_all, plain, as_json = request.show_all, request.plain, request.as_json
    a, b = (resolve_latest_run(source, warn) for source in (request.a, request.b))
    if request.plugins or needs_keras((a, b)):
        import_keras_quietly()  # a plugin may import Keras itself
    load_plugins(request.plugins)
    result = diff(a, b, request.overrides, request.variant, safe_mode=not request.unsafe,
                  allow_large=request.allow_large)  # fmt: skip
    if as_json:
        click.echo(json.dumps(result.to_dict()))
    else:
        console = make_console(plain)
        if console.no_color:
            for line in plain_lines(result, show_all):
                say(line)
        else:
            print_rich(result, show_all, console)
        for note in result.notes:
            say(f"note: {note}", err=True)
        say(result.verdict())
    return 0 if result.identical else EXIT_MISMATCH


# -- the table's cells -----------------------------------------------------------------------------


def header_lines(result: Diff) -> list[str]:
    """``A: specs/cifar.yaml (cifar10_cnn: spec, built; 25 layers)``, one per side."""
    lines = []
    for letter, side in (("A", result.a), ("B", result.b)):
        count = len(side.records)
        name = "" if side.kind == "summary" else f"{side.name}: "
        lines.append(f"{letter}: {side.source} ({name}{side.how}; "
                     f"{count:,} layer{'' if count == 1 else 's'})")  # fmt: skip
    aligned = "by wiring (graphs)" if result.by_wiring else "as sequences"
    lines.append(f"aligned {aligned}; names are shown, not compared")
    return lines


def columns(result: Diff) -> list[str]:
    titles = ["", "#", "A layer", "B layer", "Type", "Output shape", "Params"]
    trainable = any(c.what == "trainable params" for row in result.rows for c in row.changes)
    if (result.a.has_arguments and result.b.has_arguments) or trainable:
        titles.append("Arguments")
    if result.by_wiring:
        titles.append("Inputs")
    return titles


def cells(row: DiffRow, titles: list[str]) -> list[str]:
    """One row's cells; a value that differs is written ``A → B``."""
    a, b = row.a, row.b
    if a is not None and b is not None:
        index = str(a.index) if a.index == b.index else f"{a.index}/{b.index}"
        changed = {change.what for change in row.changes}
        if "type" in changed:
            kind = f"{a.kind} → {b.kind}"
        else:  # a printout may cut the class short: the whole one
            kind = b.kind if a.kind_cut and not b.kind_cut else a.kind
        params = f"{a.params:,} → {b.params:,}" if "params" in changed else f"{a.params:,}"
        shape = _shape_cell(a.shapes, b.shapes)
    else:
        record = a or b
        index = f"{a.index}/—" if a is not None else f"—/{b.index}"
        kind, params, shape = (
            record.kind,
            f"{record.params:,}",
            _shape_cell(record.shapes, record.shapes),
        )
    values = [MARKS[row.status], index, a.name if a else "—", b.name if b else "—", kind, shape,
              params]  # fmt: skip
    if "Arguments" in titles:
        values.append(", ".join(c.text for c in row.changes if c.what not in NOT_ARGUMENTS))
    if "Inputs" in titles:
        inputs = next((c for c in row.changes if c.what == "inputs"), None)
        values.append(
            inputs.text.removeprefix("inputs ") if inputs else ", ".join(row.record.inputs)
        )
    return values


def _shape_cell(a: tuple, b: tuple) -> str:
    """``(16, 16, 64)``; ``(16, 16, 64→65)`` where only sizes differ; ``A → B`` where ranks do."""
    from ..diff.comparison import shapes_text

    if a == b:
        return shapes_text(a)
    if len(a) != 1 or len(b) != 1 or len(a[0]) != len(b[0]):
        return f"{shapes_text(a)} → {shapes_text(b)}"
    sizes = [str(x) if x == y else f"{x}→{y}" for x, y in zip(a[0], b[0], strict=True)]
    return "(" + ", ".join(sizes) + ("," if len(sizes) == 1 else "") + ")"


def table_rows(result: Diff, show_all: bool) -> list[list[str] | str]:
    """The table's rows: cells, or a line folding a run of identical layers."""
    titles = columns(result)
    rows: list[list[str] | str] = []
    run = 0
    for row in [*result.rows, None]:
        if row is not None and row.status == "same" and not show_all:
            run += 1
            continue
        if run:
            rows.append(f"… {run:,} identical layer{'' if run == 1 else 's'} …")
            run = 0
        if row is not None:
            rows.append(cells(row, titles))
    return rows


def footer_lines(result: Diff) -> list[str]:
    """The first difference and the totals of each side."""
    from ..diff.comparison import signed

    first = result.first_difference
    lines = [f"first difference: {first.describe()}"] if first is not None else []
    table = [["", "A", "B", "difference"]]
    for label, key in TOTAL_LABELS:
        a, b = result.a.totals[key], result.b.totals[key]
        table.append([label, f"{a:,}", f"{b:,}", signed(b - a)])
    widths = [max(len(line[i]) for line in table) for i in range(4)]
    for line in table:
        lines.append("  ".join([line[0].ljust(widths[0])] +
                               [cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True)]))  # fmt: skip
    return [line.rstrip() for line in lines]


# -- plain text and rich -----------------------------------------------------------------------------


def plain_lines(result: Diff, show_all: bool) -> list[str]:
    titles = columns(result)
    rows = table_rows(result, show_all)
    grid = [titles] + [row for row in rows if isinstance(row, list)]
    widths = [max(len(line[i]) for line in grid) for i in range(len(titles))]
    right = {"#", "Params"}
    lines = header_lines(result)

    def line_of(values: list[str]) -> str:
        parts = [
            v.rjust(w) if t in right else v.ljust(w)
            for v, w, t in zip(values, widths, titles, strict=True)
        ]
        return "  ".join(parts).rstrip()

    if any(isinstance(row, list) for row in rows):  # not all folded: a header for the rows
        lines.append(line_of(titles))
    indent = " " * (widths[0] + widths[1] + 4)
    for row in rows:
        lines.append(indent + row if isinstance(row, str) else line_of(row))
    return lines + footer_lines(result)


def print_rich(result: Diff, show_all: bool, console: object) -> None:
    """The rich table: columns shrink and wrap to fit the terminal, none is dropped."""
    from rich.markup import escape
    from rich.table import Table

    titles = columns(result)
    for line in header_lines(result):
        console.print(escape(line))
    table = Table(show_edge=False, header_style="bold", pad_edge=False)
    styles = {"changed": "yellow", "only_a": "red", "only_b": "green"}
    for title in titles:
        table.add_column(title, justify="right" if title in ("#", "Params") else "left",
                         overflow="fold")  # fmt: skip
    for row in table_rows(result, show_all):
        if isinstance(row, str):
            table.add_row("", "", f"[dim]{escape(row)}[/dim]", *[""] * (len(titles) - 3))
        else:
            status = next(key for key, mark in MARKS.items() if mark == row[0])
            table.add_row(*[escape(cell) for cell in row], style=styles.get(status))
    console.print(table)
    for line in footer_lines(result):
        console.print(escape(line))
