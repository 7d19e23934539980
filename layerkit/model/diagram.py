"""Draw a plan as an SVG diagram: one box per layer, top to bottom, arrows for every input.

A small layered-graph layout of its own, so ``layerkit graph`` needs neither TensorFlow nor
Graphviz for SVG: each layer sits one row below its deepest input, boxes in a row are centred, and
an arrow that skips rows (a residual shortcut) bends around the boxes it passes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape as escape_html

from ..spec.plan import Plan, ResolvedLayer

BOX_WIDTH = 230
BOX_HEIGHT = 40
ROW_GAP = 26
COLUMN_GAP = 30
MARGIN = 40
# arguments worth showing under a layer's type, in this order
SHOWN_ARGS = ("filters", "units", "kernel_size", "strides", "pool_size", "rate", "activation")


@dataclass(frozen=True)
class Box:
    key: str
    title: str
    subtitle: str
    row: int
    column: int


def escape(text: str) -> str:
    """Text for SVG: XML-escaped, and without the control characters XML cannot hold at all (a
    YAML escape such as "\\x01" in a name would otherwise make the file unreadable)."""
    return escape_html(re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f]", "\ufffd", text))


def layout(plan: Plan, names: dict[str, str]) -> tuple[list[Box], list[tuple[str, str]]]:
    """Boxes placed in rows (inputs in row 0) and the edges between their keys."""
    rows: dict[str, int] = {plan_input.key: 0 for plan_input in plan.inputs}
    for layer in plan.layers:  # plan order puts every layer after its inputs
        rows[layer.key] = 1 + max((rows[key] for key in layer.inputs), default=0)
    columns: dict[int, int] = {}
    boxes = []
    for plan_input in plan.inputs:
        shape = ", ".join("?" if size is None else str(size) for size in plan_input.spec.shape)
        boxes.append(
            Box(plan_input.key, plan_input.spec.name, f"Input ({shape})", 0, _next(columns, 0))
        )
    for layer in plan.layers:
        row = rows[layer.key]
        boxes.append(Box(layer.key, names[layer.key], _subtitle(layer), row, _next(columns, row)))
    edges = [(source, layer.key) for layer in plan.layers for source in layer.inputs]
    return boxes, edges


def _next(columns: dict[int, int], row: int) -> int:
    columns[row] = columns.get(row, 0) + 1
    return columns[row] - 1


def _subtitle(layer: ResolvedLayer) -> str:
    parts = []
    for name in SHOWN_ARGS:
        if name in layer.args and not isinstance(layer.args[name], ResolvedLayer):
            value = layer.args[name]
            text = "×".join(map(str, value)) if isinstance(value, list) else str(value)
            parts.append(f"{name}={text}")
    shared = " (shared)" if layer.shares else ""
    return f"{layer.class_name}{shared}" + (f"  {', '.join(parts)}" if parts else "")


def render_svg(plan: Plan, names: dict[str, str]) -> str:
    """The plan as a standalone SVG document."""
    boxes, edges = layout(plan, names)
    widest = max(columns for columns in _row_widths(boxes).values())
    width = MARGIN * 2 + widest * BOX_WIDTH + (widest - 1) * COLUMN_GAP + 120
    height = MARGIN * 2 + (max(box.row for box in boxes) + 1) * (BOX_HEIGHT + ROW_GAP)
    centre = width / 2 - 60
    positions = {}
    row_widths = _row_widths(boxes)
    for box in boxes:
        count = row_widths[box.row]
        row_width = count * BOX_WIDTH + (count - 1) * COLUMN_GAP
        x = centre - row_width / 2 + box.column * (BOX_WIDTH + COLUMN_GAP)
        y = MARGIN + box.row * (BOX_HEIGHT + ROW_GAP)
        positions[box.key] = (x, y)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="Helvetica, Arial, sans-serif">',
        f"<title>{escape(plan.spec.name)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'fill="#555"/></marker></defs>',
        '<rect width="100%" height="100%" fill="white"/>',
    ]
    rows = {box.key: box.row for box in boxes}
    for source, target in edges:
        parts.append(_edge(positions[source], positions[target], rows[target] - rows[source]))
    for box in boxes:
        x, y = positions[box.key]
        fill = "#e8f0fe" if box.row == 0 else "#f5f5f5"
        parts.append(
            f'<g class="layer" id="{escape(box.key)}"><rect x="{x:.1f}" y="{y:.1f}" '
            f'width="{BOX_WIDTH}" height="{BOX_HEIGHT}" rx="6" fill="{fill}" stroke="#888"/>'
            f'<text x="{x + BOX_WIDTH / 2:.1f}" y="{y + 16:.1f}" font-size="13" '
            f'font-weight="bold" text-anchor="middle">{escape(_clip(box.title, 30))}</text>'
            f'<text x="{x + BOX_WIDTH / 2:.1f}" y="{y + 32:.1f}" font-size="10.5" fill="#444" '
            f'text-anchor="middle">{escape(_clip(box.subtitle))}</text></g>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _row_widths(boxes: list[Box]) -> dict[int, int]:
    widths: dict[int, int] = {}
    for box in boxes:
        widths[box.row] = max(widths.get(box.row, 0), box.column + 1)
    return widths


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _edge(source: tuple[float, float], target: tuple[float, float], rows_apart: int) -> str:
    x1, y1 = source[0] + BOX_WIDTH / 2, source[1] + BOX_HEIGHT
    x2, y2 = target[0] + BOX_WIDTH / 2, target[1]
    if rows_apart <= 1 or abs(x1 - x2) > 1:
        path = f"M {x1:.1f} {y1:.1f} C {x1:.1f} {y1 + 14:.1f}, {x2:.1f} {y2 - 14:.1f}, {x2:.1f} {y2:.1f}"
    else:  # a shortcut straight down would cross the boxes between: bend it to the right
        side = x1 + BOX_WIDTH / 2 + 45 + min(rows_apart, 8) * 6
        path = (
            f"M {x1 + BOX_WIDTH / 4:.1f} {y1:.1f} C {side:.1f} {y1 + 10:.1f}, {side:.1f} "
            f"{y2 - 10:.1f}, {x2 + BOX_WIDTH / 4:.1f} {y2:.1f}"
        )
    return f'<path class="edge" d="{path}" fill="none" stroke="#555" marker-end="url(#arrow)"/>'
