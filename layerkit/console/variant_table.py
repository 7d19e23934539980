"""``layerkit build SPEC --all-variants``'s result: one checked line per variant.

Takes each variant's :class:`~layerkit.model.variant_builds.VariantResult` (its name,
description and checked :class:`~layerkit.model.report.Summary`);
gives them as a rich table (a terminal), aligned plain text (a pipe, ``--plain``) or a JSON list
(``--json``: one object whose ``variants`` are ``build --json``'s objects with ``variant`` and
``description`` added).
The columns: the variant, its description where any variant has one, the total parameters and
the expected total, the trainable and non-trainable counts where any variant expects them, and
✓/✗; the lines below name each mismatch, and the last one says how many variants match.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..safe_text import safe_text

if TYPE_CHECKING:
    from rich.console import RenderableType

    from ..model.variant_builds import VariantResult

OK_MARK = "✓"
MISMATCH_MARK = "✗"
_TOTALS = (("total_params", "Total params"), ("trainable_params", "Trainable"),
           ("non_trainable_params", "Non-trainable"))  # fmt: skip


def _mark(result: VariantResult) -> str:
    if not result.summary.ok:
        return MISMATCH_MARK
    return OK_MARK if result.checked else ""


def all_ok(results: list[VariantResult]) -> bool:
    return all(result.summary.ok for result in results)


def _columns(results: list[VariantResult]) -> list[tuple[str, str]]:
    """(header, key) of each column the results need, in order."""
    columns = [("Variant", "variant")]
    if any(result.description for result in results):
        columns.append(("Description", "description"))
    for key, label in _TOTALS:
        if key == "total_params" or any(r.summary.total(key).expected is not None for r in results):
            columns += [(label, key), ("Expected", f"expected:{key}")]
    return [*columns, ("Check", "check")]


def _cell(result: VariantResult, key: str) -> str:
    if key == "variant":
        return safe_text(result.name)
    if key == "description":
        return safe_text(result.description or "")
    if key == "check":
        return _mark(result)
    if key.startswith("expected:"):
        expected = result.summary.total(key.removeprefix("expected:")).expected
        return "" if expected is None else f"{expected:,}"
    return f"{result.summary.total(key).actual:,}"


def verdict_lines(results: list[VariantResult]) -> list[str]:
    """A line for each variant that does not match, naming what differs, then the verdict."""
    lines = [
        safe_text(f"{MISMATCH_MARK} {result.name}: " + "; ".join(result.summary.problems))
        for result in results
        if not result.summary.ok
    ]
    wrong = len(lines)
    count = len(results)
    unchecked = [result.name for result in results if not result.checked]
    if wrong:
        verb = "does" if wrong == 1 else "do"
        lines.append(f"{MISMATCH_MARK} {wrong} of {count} variants {verb} not match")
    elif len(unchecked) == count:
        lines.append(f"{count} variants built; none has an 'expect:' to check")
    elif unchecked:
        lines.append(
            f"{OK_MARK} {count - len(unchecked)} of {count} variants match their expectations; "
            f"nothing to check for {safe_text(', '.join(unchecked))} (no 'expect:')"
        )
    else:
        lines.append(f"{OK_MARK} all {count} variants match their expectations")
    return lines


def _title(spec_name: str, file: str) -> str:
    return safe_text(f"Variants of {spec_name} ({file})")


def render_plain(results: list[VariantResult], spec_name: str, file: str) -> str:
    """Aligned columns, no colour, no box characters."""
    columns = _columns(results)
    lines = [[header for header, _ in columns]]
    lines += [[_cell(result, key) for _, key in columns] for result in results]
    widths = [max(len(line[index]) for line in lines) for index in range(len(columns))]
    left = {"variant", "description", "check"}

    def format_line(cells: list[str]) -> str:
        padded = [
            cell.ljust(width) if key in left else cell.rjust(width)
            for cell, width, (_, key) in zip(cells, widths, columns, strict=True)
        ]
        return "  ".join(padded).rstrip()

    header = format_line(lines[0])
    out = [_title(spec_name, file), header, "-" * len(header)]
    out += [format_line(cells) for cells in lines[1:]]
    return "\n".join([*out, "", *verdict_lines(results)]) + "\n"


def render_table(results: list[VariantResult], spec_name: str, file: str) -> RenderableType:
    """A rich table with the verdict lines below it."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        pad_edge=False,
    )
    columns = _columns(results)
    for header, key in columns:
        numbers = key not in ("variant", "description", "check")
        style = "layerkit.muted" if key.startswith("expected:") or key == "description" else None
        table.add_column(
            "" if key == "check" else header,
            justify="right" if numbers else "left",
            no_wrap=numbers,
            style=style,
        )
    for result in results:
        cells = [Text(_cell(result, key)) for _, key in columns]  # Text: names are not markup
        cells[-1].stylize("layerkit.ok" if result.summary.ok else "layerkit.mismatch")
        table.add_row(*cells, style=None if result.summary.ok else "layerkit.mismatch")
    lines = verdict_lines(results)
    style = "layerkit.ok" if all_ok(results) else "layerkit.mismatch"
    title = Text(_title(spec_name, file), style="layerkit.title")  # a line of its own: a long
    # path is not wrapped to the table's width
    return Group(title, table, Text(""), *(Text(line, style=style) for line in lines))


def render_json(results: list[VariantResult], spec_name: str) -> str:
    """One JSON object, as ``--json`` says everywhere: ``ok`` (every variant matches), ``name``
    and ``variants``, per variant ``build --json``'s object with ``variant`` and
    ``description``."""
    items: list[dict[str, Any]] = [
        {"variant": result.name, "description": result.description, **result.summary.to_dict()}
        for result in results
    ]
    document = {"ok": all_ok(results), "name": spec_name, "variants": items}
    return json.dumps(document, indent=2) + "\n"
