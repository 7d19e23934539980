"""Render a checked Summary: a rich table for people, plain text for pipes and files, JSON for scripts.

Every function takes the data and gives back text or renderables; the CLI decides where they go.
Names from a spec or a file (layers, types, classes, files) are shown through
``console.safe_text``, so no control character or escape sequence in them reaches a terminal.
Styles are theme names (``layerkit.ok``, ``layerkit.mismatch``), defined once in ``THEME``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ..safe_text import safe_text
from .report import Row, Summary, Total
from .shapes import format_shape

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.theme import Theme

OK_MARK = "✓"
MISMATCH_MARK = "✗"
THEME_STYLES = {
    "layerkit.ok": "green",
    "layerkit.mismatch": "bold red",
    "layerkit.muted": "dim",
    "layerkit.title": "bold",
    "layerkit.location": "cyan",
}


def theme() -> Theme:
    from rich.theme import Theme

    return Theme(THEME_STYLES)


# -- small pure helpers ------------------------------------------------------------------------


def format_count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def format_flops(value: int) -> str:
    """``40.8M``: multiply-adds with an SI suffix."""
    for suffix, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if value >= scale:
            return f"{value / scale:.1f}{suffix}"
    return str(value)


def expected_text(row: Row) -> str:
    """What the spec expects of a row, compactly: the params, and a shape or type only where it
    differs from the model's (a matching shape is covered by the ✓); empty when nothing is expected.
    """
    expected = row.expected
    if expected is None:
        return ""
    parts = []
    if expected.params is not None:
        parts.append(f"{expected.params:,}")
    if expected.shape is not None and (
        expected.shape != row.output_shape[1:] or expected.params is None
    ):
        parts.append(format_shape((None, *expected.shape)))
    if expected.type is not None and not row.ok:
        parts.append(expected.type)
    return safe_text(" ".join(parts))


def mark(ok: bool, checked: bool = True) -> str:
    if not checked:
        return ""
    return OK_MARK if ok else MISMATCH_MARK


def total_expected_text(total: Total) -> str:
    return "" if total.expected is None else f"{total.expected:,}"


def verdict(summary: Summary) -> str:
    """The last line: what matched, or which rows and totals did not (made safe for a terminal)."""
    return safe_text(_verdict(summary))


def _verdict(summary: Summary) -> str:
    if not summary.ok:
        count = len(summary.problems)
        noun = "mismatch" if count == 1 else "mismatches"
        return f"{MISMATCH_MARK} {count} {noun}: " + "; ".join(summary.problems)
    checked = summary.checked_count
    if checked == 0:
        return f"{summary.name}: nothing to check (the spec has no 'expect:')"
    counts = [
        (sum(row.checked for row in summary.rows), "row"),
        (sum(total.expected is not None for total in summary.totals), "total"),
    ]
    parts = ", ".join(f"{n} {noun}{'s' if n != 1 else ''}" for n, noun in counts if n)
    if checked == 1:
        return f"{OK_MARK} {summary.name}: its 1 expectation matches ({parts})"
    return f"{OK_MARK} {summary.name}: all {checked} expectations match ({parts})"


def flops_text(summary: Summary) -> str:
    prefix = "" if summary.flops_complete else "at least "
    return f"{prefix}{summary.flops:,} ({format_flops(summary.flops)})"


# -- renderers ---------------------------------------------------------------------------------


def render_table(summary: Summary, width: int = 120) -> RenderableType:
    """A rich renderable: the rows table, the totals table and the verdict line.

    Where the columns do not fit ``width`` (the console's), no column is left out: each layer's
    Type and Line go under its name (the column is headed ``Layer (type, line)``), and the
    names and shapes wrap; numbers never do.
    """
    from rich import box
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    has_expectations = any(row.checked for row in summary.rows)
    title = escape(safe_text(summary.name)) + (
        f"  [layerkit.muted]{escape(safe_text(summary.file))}[/]" if summary.file else ""
    )
    table = Table(
        title=title,
        title_justify="left",
        title_style="layerkit.title",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        pad_edge=False,
    )
    rows = [_table_cells(row, has_expectations) for row in summary.rows]
    headers = ["#", "Layer", "Type", "Output shape", "Params"]
    headers += ["Expected"] if has_expectations else []
    headers += ["FLOPs", "Line"] + ([""] if has_expectations else [])
    natural = [
        max([len(header)] + [len(str(cells[i])) for cells in rows]) + 3
        for i, header in enumerate(headers)
    ]
    shape_width = None
    if sum(natural) > width:
        headers, rows = _stacked(headers, rows)
        shape_width = _shape_width(headers, rows, width)
    for column, header in enumerate(headers):
        if header == "Layer" or header == "Type":  # names give way on a narrow terminal
            overflow = "fold" if shape_width else "ellipsis"  # stacked: wrapped, never cut
            table.add_column(header, overflow=overflow,
                             style="layerkit.muted" if header == "Type" else None)  # fmt: skip
            continue
        if header == "Output shape" and shape_width:
            table.add_column(header, overflow="fold", width=shape_width)
            continue
        width = max([len(header)] + [len(str(cells[column])) for cells in rows])
        table.add_column(
            header,
            justify="left" if header == "Output shape" else "right",
            no_wrap=True,
            min_width=width,
            style={"#": "layerkit.muted", "Line": "layerkit.location"}.get(header),
        )
    for row, cells in zip(summary.rows, rows, strict=True):
        table.add_row(*cells, style=None if row.ok else "layerkit.mismatch")

    totals = Table(box=None, show_header=True, pad_edge=False)
    totals.add_column("")
    totals.add_column("Actual", justify="right")
    totals.add_column("Expected", justify="right", style="layerkit.muted")
    totals.add_column("")
    for total in summary.totals:
        totals.add_row(
            total.label,
            f"{total.actual:,}",
            total_expected_text(total),
            _mark_text(total.ok, total.expected is not None),
            style=None if total.ok else "layerkit.mismatch",
        )
    totals.add_row("FLOPs (multiply-adds)", flops_text(summary), "", "")
    last = Text(verdict(summary), style="layerkit.ok" if summary.ok else "layerkit.mismatch")
    return Group(table, totals, Text(""), last)


def _stacked(headers: list[str], rows: list[list]) -> tuple[list[str], list[list]]:
    """The rows with the Type and Line columns moved under each layer's name."""
    from rich.text import Text

    layer, kind, line = (headers.index(name) for name in ("Layer", "Type", "Line"))
    stacked = []
    for cells in rows:
        under = str(cells[kind]) + (f", line {cells[line]}" if cells[line] else "")
        name = Text.assemble(cells[layer], "\n", Text(under, style="layerkit.muted"))
        stacked.append([name if i == layer else cell for i, cell in enumerate(cells)
                        if i not in (kind, line)])  # fmt: skip
    return [header for i, header in enumerate(headers) if i not in (kind, line)], stacked


STACKED_NAME_WIDTH = 16  # what a stacked layer name keeps at least before the shapes wrap


def _shape_width(headers: list[str], rows: list[list], width: int) -> int:
    """The Output shape column's width in the stacked table: whole shapes where the numbers and
    at least :data:`STACKED_NAME_WIDTH` of the names fit beside them, else what is left."""
    widths = [max([len(header)] + [len(str(cells[i]).split("\n")[0]) for cells in rows])
              for i, header in enumerate(headers)]  # fmt: skip
    shape = headers.index("Output shape")
    others = sum(w for i, w in enumerate(widths) if i not in (shape, headers.index("Layer")))
    room = width - others - 2 * len(headers) - STACKED_NAME_WIDTH
    return max(min(widths[shape], room), len("(None,"))


def _table_cells(row: Row, has_expectations: bool) -> list:
    from rich.text import Text

    cells: list[Text | str] = [
        str(row.index),
        Text(safe_text(row.name)),  # Text, not str: a name such as 'dense[red]' is not markup
        Text(safe_text(row.type)),
        format_shape(row.output_shape),
        format_count(row.params),
    ]
    if has_expectations:
        cells.append(Text(expected_text(row), style="layerkit.muted" if row.ok else None))
    cells.append("?" if row.flops is None else format_flops(row.flops))
    cells.append(str(row.location.line) if row.location else "")
    if has_expectations:
        cells.append(_mark_text(row.ok, row.checked))
    return cells


def _mark_text(ok: bool, checked: bool):
    from rich.text import Text

    return Text(mark(ok, checked), style="layerkit.ok" if ok else "layerkit.mismatch")


def render_plain(summary: Summary) -> str:
    """The summary as plain text: aligned columns, no colour, no box characters."""
    has_expectations = any(row.checked for row in summary.rows)
    header = ["#", "Layer (type)", "Output shape", "Params"]
    header += ["Expected"] if has_expectations else []
    header += ["FLOPs", "Line"] + (["Check"] if has_expectations else [])
    right = {"#", "Params", "Expected", "FLOPs", "Line"}
    lines = [header]
    for row in summary.rows:
        cells = [
            str(row.index),
            safe_text(f"{row.name} ({row.type})"),
            format_shape(row.output_shape),
            format_count(row.params),
        ]
        if has_expectations:
            cells.append(expected_text(row))
        cells += [format_count(row.flops), str(row.location.line) if row.location else ""]
        if has_expectations:
            cells.append(mark(row.ok, row.checked))
        lines.append(cells)
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]

    def format_line(cells: list[str]) -> str:
        padded = [
            cell.rjust(width) if name in right else cell.ljust(width)
            for cell, width, name in zip(cells, widths, header, strict=True)
        ]
        return "  ".join(padded).rstrip()

    title = safe_text(f"Model: {summary.name}" + (f" ({summary.file})" if summary.file else ""))
    out = [title, format_line(header), "-" * len(format_line(header))]
    out += [format_line(cells) for cells in lines[1:]]
    out.append("")
    label_width = max(len(total.label) for total in summary.totals)
    for total in summary.totals:
        text = f"{total.label + ':':<{label_width + 1}} {total.actual:>12,}"
        if total.expected is not None:
            text += f"  expected {total.expected:>12,}  {mark(total.ok)}"
        out.append(text)
    out.append(f"{'FLOPs:':<{label_width + 1}} {flops_text(summary)} multiply-adds")
    out += ["", verdict(summary)]
    return "\n".join(out) + "\n"


def render_json(summary: Summary) -> str:
    """One JSON object (see :meth:`layerkit.model.report.Summary.to_dict`)."""
    return json.dumps(summary.to_dict(), indent=2) + "\n"


def render_evaluation(result: dict, plain: bool = False) -> RenderableType:
    """Accuracy figures, then per-class accuracy with each class's most frequent confusion."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    header = Text(
        f"{result['n']:,} images from {safe_text(result['data'])}"
        + (" (flip TTA" if result["tta"] else "")
        + (f", shifted ±{result['tta_translate']} px" if result.get("tta_translate") else "")
        + (")" if result["tta"] else "")
        + f": accuracy {result['accuracy']:.4f}, top-5 {result['top5_accuracy']:.4f}, "
        f"loss {result['loss']:.4f}"
    )
    table = Table(box=None if plain else box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)
    for column, justify in (("class", "left"), ("images", "right"), ("accuracy", "right"),
                            ("most taken for", "left")):  # fmt: skip
        table.add_column(column, justify=justify)
    names = [safe_text(name) for name in result["class_names"]]
    for index, name in enumerate(names):
        row = list(result["confusion"][index])
        total = sum(row)
        row[index] = -1
        confused = max(range(len(row)), key=row.__getitem__)
        accuracy = result["per_class"][result["class_names"][index]]
        table.add_row(
            Text(name),  # class names are folder names: not rich markup
            f"{total:,}",
            "" if accuracy is None else f"{accuracy:.4f}",
            Text(f"{names[confused]} ({row[confused]})" if row[confused] > 0 else ""),
        )
    return Group(header, table)


def render_predictions(results: list[dict], plain: bool = False) -> RenderableType:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None if plain else box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)
    table.add_column("image", no_wrap=True)
    for rank in range(len(results[0]["top"])):
        table.add_column(f"#{rank + 1}")
    for result in results:  # file and class names are not rich markup
        table.add_row(
            Text(safe_text(result["file"])),
            *(Text(safe_text(f"{t['class']} {t['probability']:.3f}")) for t in result["top"]),
        )
    return table
