"""Draw a plan as an SVG diagram: one box per layer, top to bottom, arrows for every input.

Takes a validated plan and each node's name; gives a standalone SVG document. The layout (rows,
columns for a long net, lanes) is :mod:`.diagram_layout`'s and the text in each box is
:mod:`.diagram_labels`'s, so ``layerkit graph`` needs neither TensorFlow nor Graphviz for SVG.
Here every arrow is routed: to the next row as a curve; past rows, around the boxes it would
cross (a residual shortcut); to another column, down and across its gutters. Arrows land spread
along a box's top, and an input passed by name (``query``, ``value``) is labelled at its arrow.
"""

from __future__ import annotations

import itertools
import math
import re
from html import escape as escape_html

from ..spec.plan import Plan
from .diagram_labels import TEXT_WIDTH, text_width
from .diagram_layout import (
    BOX_WIDTH,
    LINE_HEIGHT,
    TEXT_SIZE,
    TITLE_SIZE,
    Box,
    Layout,
    layout,
)

MIN_SIZE = 8  # the smallest font a line too wide for its box is drawn in
LEAVING_STEP = 7  # how far below a box an arrow that goes around turns aside
LANDING_STEP = 9  # how far above a box an arrow that came around turns down into it
LEVEL_STEP, MAX_LEVEL = 4, 2  # arrows coming in side by side, one above the other
CORNER = 6
LEFT, DIRECT, RIGHT = 0, 1, 2  # how an arrow reaches its box: from the left, straight, around right
FILLS = {"input": "#e8f0fe", "op": "#fdf3e1", "layer": "#f5f5f5"}


def escape(text: str) -> str:
    """Text for SVG: XML-escaped, and without the control characters XML cannot hold at all (a
    YAML escape such as "\\x01" in a name would otherwise make the file unreadable)."""
    return escape_html(re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f]", "\ufffd", text))


def render_svg(plan: Plan, names: dict[str, str]) -> str:
    """The plan as a standalone SVG document."""
    placed = layout(plan, names)
    operations = {layer.key for layer in plan.layers if layer.operation}
    width, height = placed.width, placed.height
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="Helvetica, Arial, sans-serif">',
        f"<title>{escape(plan.spec.name)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'fill="#555"/></marker></defs>',
        '<rect width="100%" height="100%" fill="white"/>',
    ]
    parts += _edges(placed)
    for box in placed.boxes:
        kind = "input" if box.is_input else "op" if box.key in operations else "layer"
        parts.append(_box(box, placed, FILLS[kind]))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _box(box: Box, placed: Layout, fill: str) -> str:
    x, y = placed.x[box.key], placed.y[box.key]
    centre = x + BOX_WIDTH / 2
    first = y + 16 + (placed.row_height[box.row] - box.height) / 2  # centred in a taller row
    lines = [(line, TITLE_SIZE, 'font-weight="bold"') for line in box.title]
    lines += [(line, TEXT_SIZE, 'fill="#444"') for line in box.lines]
    texts = [
        _text(line, centre, first + LINE_HEIGHT * number, size, style)
        for number, (line, size, style) in enumerate(lines)
    ]
    return (
        f'<g class="layer" id="{escape(box.key)}"><rect x="{x:.1f}" y="{y:.1f}" '
        f'width="{BOX_WIDTH}" height="{placed.row_height[box.row]:.0f}" rx="6" fill="{fill}" '
        f'stroke="#888"/>' + "".join(texts) + "</g>"
    )


def _text(text: str, x: float, y: float, size: float, style: str) -> str:
    """One centred line; a line wider than the box is drawn smaller to fit it, never cut (and,
    below MIN_SIZE, squeezed by the viewer)."""
    width = text_width(text, size, "bold" in style)
    fit = ""
    if width > TEXT_WIDTH:
        size = max(MIN_SIZE, math.floor(size * TEXT_WIDTH / width * 10) / 10)
        if text_width(text, size, "bold" in style) > TEXT_WIDTH:
            fit = f' textLength="{TEXT_WIDTH}" lengthAdjust="spacingAndGlyphs"'
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" {style} text-anchor="middle" '
        f'xml:space="preserve"{fit}>{escape(text)}</text>'
    )


# -- arrows --------------------------------------------------------------------------------------


def _edges(placed: Layout) -> list[str]:
    """Every arrow's path, then the names of inputs passed by name, drawn over the arrows."""
    ways = [_way(placed, index) for index in range(len(placed.edges))]
    landing, level = _landings(placed, ways)
    parts, labels = [], []
    for index, edge in enumerate(placed.edges):
        source = placed.box(edge.source)
        start_x = placed.x[edge.source] + BOX_WIDTH / 2
        start_x += {LEFT: -BOX_WIDTH / 4, DIRECT: 0, RIGHT: BOX_WIDTH / 4}[ways[index]]
        if index in placed.crossings:
            start_x = placed.x[edge.source] + BOX_WIDTH * 3 / 4
        start = (start_x, placed.y[edge.source] + placed.row_height[source.row])
        end = (landing[index], placed.y[edge.target])
        path = _path(placed, index, ways[index], start, end, level.get(index, 0))
        parts.append(
            f'<path class="edge" d="{path}" fill="none" stroke="#555" marker-end="url(#arrow)"/>'
        )
        if edge.name is not None:
            labels.append(
                f'<text class="input-name" x="{end[0] + 4:.1f}" y="{end[1] - 3:.1f}" '
                f'font-size="9.5" fill="#1f5fa8">{escape(edge.name)}</text>'
            )
    return parts + labels


def _way(placed: Layout, index: int) -> int:
    """How an arrow reaches its box: straight from the row above (or past rows no box is in
    the way of), around the boxes between on their nearer side, or from another column."""
    edge = placed.edges[index]
    if index in placed.crossings:
        return LEFT
    source, target = placed.box(edge.source), placed.box(edge.target)
    if target.row - source.row <= 1:
        return DIRECT
    x1 = placed.x[edge.source] + BOX_WIDTH / 2
    x2 = placed.x[edge.target] + BOX_WIDTH / 2
    between = _between(placed, source.row, target.row)
    if not any(left - 4 < max(x1, x2) and min(x1, x2) < right + 4 for left, right in between):
        return DIRECT
    lowest = min(left for left, _ in between)
    highest = max(right for _, right in between)
    column_left = placed.columns[placed.column_of_row[source.row]][0]
    offset = _side_offset(target.row - source.row)
    if x1 - lowest < highest - x1 and lowest - offset >= column_left:
        return LEFT
    return RIGHT


def _between(placed: Layout, first: int, last: int) -> list[tuple[float, float]]:
    """The left and right of every box in the rows strictly between ``first`` and ``last``."""
    return [
        (placed.x[box.key], placed.x[box.key] + BOX_WIDTH)
        for box in placed.boxes
        if first < box.row < last
    ]


def _side_offset(rows_apart: int) -> float:
    """How far beside the boxes a shortcut runs: a longer one further out, so a shortcut
    inside another (squeeze-and-excite inside a residual block) runs inside it."""
    return 16 + 8 * min(rows_apart - 2, 8)


def _landings(placed: Layout, ways: list[int]) -> tuple[dict[int, float], dict[int, int]]:
    """Where each arrow meets its box: a box's inputs spread along its top, those that come
    from the left leftmost, those that come around the right rightmost; and the level at which
    an arrow from one side runs above the box. Arrows from one side nest: the one that reaches
    furthest along the box runs highest, from the outermost lane, so none crosses another."""
    arriving: dict[str, list[int]] = {}
    for index, edge in enumerate(placed.edges):
        arriving.setdefault(edge.target, []).append(index)
    landing, level = {}, {}
    for target, indexes in arriving.items():
        lanes = {i: _lane(placed, i, ways[i]) for i in indexes if ways[i] != DIRECT}
        indexes.sort(
            key=lambda i: (ways[i], -lanes[i] if i in lanes else placed.x[placed.edges[i].source])
        )
        for order, index in enumerate(indexes):
            landing[index] = placed.x[target] + BOX_WIDTH * (order + 1) / (len(indexes) + 1)
        lefts = [i for i in indexes if ways[i] == LEFT]
        rights = [i for i in indexes if ways[i] == RIGHT]
        for order, index in enumerate(lefts):
            level[index] = min(order, MAX_LEVEL)
        for order, index in enumerate(rights):
            level[index] = min(len(rights) - 1 - order, MAX_LEVEL)
    return landing, level


def _lane(placed: Layout, index: int, way: int) -> float:
    """The x of the last vertical run of an arrow that comes from one side."""
    crossing = placed.crossings.get(index)
    if crossing is not None:
        return crossing.exit_x if crossing.channel_y is None else crossing.entry_x
    edge = placed.edges[index]
    source_row, target_row = placed.box(edge.source).row, placed.box(edge.target).row
    between = _between(placed, source_row, target_row)
    offset = _side_offset(target_row - source_row)
    if way == LEFT:
        return min(left for left, _ in between) - offset
    return max(right for _, right in between) + offset


def _path(
    placed: Layout,
    index: int,
    way: int,
    start: tuple[float, float],
    end: tuple[float, float],
    level: int,
) -> str:
    (x1, y1), (x2, y2) = start, end
    if way == DIRECT:
        return f"M {x1:.1f} {y1:.1f} C {x1:.1f} {y1 + 14:.1f}, {x2:.1f} {y2 - 14:.1f}, {x2:.1f} {y2:.1f}"
    below, above = y1 + LEAVING_STEP, y2 - LANDING_STEP - LEVEL_STEP * level
    crossing = placed.crossings.get(index)
    if crossing is None:  # around the boxes between, on one side
        side = _lane(placed, index, way)
        points = [(x1, y1), (x1, below), (side, below), (side, above), (x2, above), (x2, y2)]
    elif crossing.channel_y is None:  # to the next column, up the gutter between
        lane = crossing.exit_x
        points = [(x1, y1), (x1, below), (lane, below), (lane, above), (x2, above), (x2, y2)]
    else:  # past whole columns: down one gutter, along below the columns, up another
        points = [(x1, y1), (x1, below), (crossing.exit_x, below)]
        points += [(crossing.exit_x, crossing.channel_y), (crossing.entry_x, crossing.channel_y)]
        points += [(crossing.entry_x, above), (x2, above), (x2, y2)]
    return _rounded(points)


def _rounded(points: list[tuple[float, float]]) -> str:
    """A path through ``points`` with its corners rounded."""
    kept = [points[0]] + [p for prev, p in itertools.pairwise(points) if _distance(prev, p) > 0.5]
    path = [f"M {kept[0][0]:.1f} {kept[0][1]:.1f}"]
    for before, corner, after in zip(kept, kept[1:], kept[2:], strict=False):
        radius = min(CORNER, _distance(before, corner) / 2, _distance(corner, after) / 2)
        a = _toward(corner, before, radius)
        b = _toward(corner, after, radius)
        path.append(
            f"L {a[0]:.1f} {a[1]:.1f} Q {corner[0]:.1f} {corner[1]:.1f}, {b[0]:.1f} {b[1]:.1f}"
        )
    path.append(f"L {kept[-1][0]:.1f} {kept[-1][1]:.1f}")
    return " ".join(path)


def _distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    return ((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5


def _toward(point: tuple[float, float], other: tuple[float, float], step: float):
    length = _distance(point, other) or 1
    return (
        point[0] + (other[0] - point[0]) * step / length,
        point[1] + (other[1] - point[1]) * step / length,
    )
