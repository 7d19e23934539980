"""Where each box of the graph drawing goes: a plan in, a :class:`Layout` out.

Each layer sits one row below its deepest input; the boxes of a row are centred and share one
height (the tallest box's). A drawing taller than a page is wrapped into columns, left to right,
each cut where the fewest arrows cross; an arrow from one column to a later one runs in a lane of
its own in the gutter between them (and, past a whole column, below the columns), so it never
crosses a box. A very long net gets taller columns rather than more than MAX_COLUMNS of them.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from ..spec.plan import Plan
from .diagram_labels import TEXT_WIDTH, box_lines, fit_lines, title_lines

BOX_WIDTH = TEXT_WIDTH + 14
ROW_GAP = 26
COLUMN_GAP = 30  # between the boxes of one row
MARGIN = 40
PAGE_HEIGHT = 2000  # a drawing taller than this is wrapped into columns
MAX_COLUMNS = 12  # ... but into no more than this: a very long net gets taller columns
SIDE_ROOM = 100  # right of a column's boxes: room for the shortcuts that bend around them
LANE_GAP = 8  # between arrows running side by side from one column to another
TITLE_SIZE = 13
TEXT_SIZE = 10.5
LINE_HEIGHT = 14


@dataclass(frozen=True)
class Box:
    key: str
    title: tuple[str, ...]  # the name, on one line or two
    lines: tuple[str, ...]  # under the title: type and arguments
    row: int
    slot: int  # its place in its row, from the left
    is_input: bool = False

    @property
    def height(self) -> float:
        return box_height(len(self.title) + len(self.lines))


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    name: str | None = None  # the parameter the target takes this input as (query=, value=)


@dataclass(frozen=True)
class Crossing:
    """The lanes of an arrow that leaves its column: down the gutter right of the source's column
    (``exit_x``), below the columns (``channel_y``, only past a whole column), and up the gutter
    left of the target's column (``entry_x``)."""

    exit_x: float
    entry_x: float
    channel_y: float | None = None


@dataclass
class Layout:
    """The boxes and arrows of a drawing, where each box goes, and the drawing's size."""

    boxes: list[Box]
    edges: list[Edge]
    x: dict[str, float] = field(default_factory=dict)  # each box's left side
    y: dict[str, float] = field(default_factory=dict)  # each box's top
    row_top: list[float] = field(default_factory=list)
    row_height: list[float] = field(default_factory=list)
    column_of_row: list[int] = field(default_factory=list)
    crossings: dict[int, Crossing] = field(default_factory=dict)  # by edge index
    columns: list[tuple[float, float]] = field(default_factory=list)  # left and right of each
    width: float = 0
    height: float = 0

    def box(self, key: str) -> Box:
        return self._by_key[key]

    def __post_init__(self) -> None:
        self._by_key = {box.key: box for box in self.boxes}


def box_height(lines: int) -> float:
    """A box holds ``lines`` lines of text."""
    return 12 + LINE_HEIGHT * lines


def layout(plan: Plan, names: dict[str, str], page_height: float = PAGE_HEIGHT) -> Layout:
    """Every box placed and every arrow that leaves its column given its lanes."""
    boxes, edges = _boxes_and_edges(plan, names)
    result = Layout(boxes, edges)
    rows = 1 + max(box.row for box in boxes)
    result.row_height = [0.0] * rows
    for box in boxes:
        result.row_height[box.row] = max(result.row_height[box.row], box.height)
    spans = [(result.box(e.source).row, result.box(e.target).row) for e in edges]
    below = 0  # room kept under the columns for the arrows that pass a whole column
    for _ in range(3):
        result.column_of_row = _columns(result.row_height, spans, page_height - below)
        long_arrows = sum(
            result.column_of_row[target] - result.column_of_row[source] > 1
            for source, target in spans
        )
        if long_arrows * LANE_GAP <= below:
            break
        below = long_arrows * LANE_GAP
    _place(result, spans)
    return result


def _boxes_and_edges(plan: Plan, names: dict[str, str]) -> tuple[list[Box], list[Edge]]:
    rows: dict[str, int] = {plan_input.key: 0 for plan_input in plan.inputs}
    for layer in plan.layers:  # plan order puts every layer after its inputs
        rows[layer.key] = 1 + max((rows[key] for key in layer.inputs), default=0)
    slots: dict[int, int] = {}
    boxes = []
    for plan_input in plan.inputs:
        shape = ", ".join("?" if size is None else str(size) for size in plan_input.spec.shape)
        lines = fit_lines(f"Input ({shape})", [], TEXT_SIZE)
        title = title_lines(plan_input.spec.name, TITLE_SIZE)
        boxes.append(Box(plan_input.key, title, lines, 0, _next(slots, 0), is_input=True))
    for layer in plan.layers:
        row = rows[layer.key]
        title = title_lines(names[layer.key], TITLE_SIZE)
        lines = box_lines(layer, TEXT_SIZE)
        boxes.append(Box(layer.key, title, lines, row, _next(slots, row)))
    edges = [
        Edge(source, layer.key, dict(enumerate(layer.input_names or ())).get(index))
        for layer in plan.layers
        for index, source in enumerate(layer.inputs)
    ]
    return boxes, edges


def _next(slots: dict[int, int], row: int) -> int:
    slots[row] = slots.get(row, 0) + 1
    return slots[row] - 1


def _columns(heights: list[float], spans: list[tuple[int, int]], page_height: float) -> list[int]:
    """The column of each row: as few columns as the page's height allows (a very long net gets
    MAX_COLUMNS taller ones), about equally tall, each cut where the fewest arrows cross."""
    reach = list(itertools.accumulate((h + ROW_GAP for h in heights), initial=0))
    limit = max(page_height - 2 * MARGIN, reach[-1] / MAX_COLUMNS * 1.1)
    count = math.ceil(reach[-1] / limit)
    crossing = [0] * (len(heights) + 1)  # crossing[r]: arrows passing the cut below row r
    for source, target in spans:
        crossing[source] += 1
        crossing[target] -= 1
    crossing = list(itertools.accumulate(crossing))
    for columns in range(count, count + 3):  # one more column rather than a nearly empty one
        for attempt in range(6):  # columns a little taller until the rows fit in `columns`
            share = min(limit, reach[-1] / columns * (1 + attempt * 0.04))
            column_of_row = _fill(reach, crossing, share, limit)
            if column_of_row[-1] < columns:
                return column_of_row
    return column_of_row


def _fill(reach: list[float], crossing: list[int], share: float, limit: float) -> list[int]:
    """Columns filled to about ``share`` (never past ``limit``), each cut at the latest place
    from 85% of ``share`` on where the fewest arrows cross."""
    rows = len(reach) - 1
    column_of_row: list[int] = []
    start, column = 0, 0
    while start < rows:
        bound = limit if reach[-1] - reach[start] <= share * 1.12 else min(limit, share * 1.12)
        end = start + 1
        while end < rows and reach[end + 1] - reach[start] <= bound:
            end += 1
        if end < rows:
            cuts = list(range(start + 1, end + 1))
            cuts = [cut for cut in cuts if reach[cut] - reach[start] >= share * 0.85] or cuts
            end = min(cuts, key=lambda cut: (crossing[cut - 1], -cut))
        column_of_row += [column] * (end - start)
        start, column = end, column + 1
    return column_of_row


def _place(result: Layout, spans: list[tuple[int, int]]) -> None:
    """Tops of rows, lefts of boxes, the gutters' lanes, and the size of the whole drawing."""
    column_count = result.column_of_row[-1] + 1
    row_width: dict[int, int] = {}
    for box in result.boxes:
        row_width[box.row] = max(row_width.get(box.row, 0), box.slot + 1)
    widths = [0.0] * column_count
    bottoms = [0.0] * column_count
    for row, height in enumerate(result.row_height):
        column = result.column_of_row[row]
        count = row_width.get(row, 1)
        widths[column] = max(widths[column], count * BOX_WIDTH + (count - 1) * COLUMN_GAP)
        top = bottoms[column] or MARGIN
        result.row_top.append(top)
        bottoms[column] = top + height + ROW_GAP
    numbers, lanes = _lanes(result, spans)
    lefts, left = [], MARGIN
    for column in range(column_count):
        lefts.append(left)
        left += widths[column] + SIDE_ROOM + LANE_GAP * lanes.get(column, 0) + MARGIN / 2
    for box in result.boxes:
        column = result.column_of_row[box.row]
        count = row_width[box.row]
        used = count * BOX_WIDTH + (count - 1) * COLUMN_GAP
        result.x[box.key] = (
            lefts[column] + (widths[column] - used) / 2 + box.slot * (BOX_WIDTH + COLUMN_GAP)
        )
        result.y[box.key] = result.row_top[box.row]
    channel_top = max(bottoms) + ROW_GAP / 2
    channel_count = sum(1 for *_, channel in numbers.values() if channel is not None)

    def lane_x(gutter: int, lane: int) -> float:  # gutter k: between columns k and k + 1
        return lefts[gutter] + widths[gutter] + SIDE_ROOM + lane * LANE_GAP

    for index, (exit_lane, entry_lane, channel) in numbers.items():
        first = result.column_of_row[spans[index][0]]
        last = result.column_of_row[spans[index][1]]
        result.crossings[index] = Crossing(
            lane_x(first, exit_lane),
            lane_x(last - 1, entry_lane),
            None if channel is None else channel_top + channel * LANE_GAP,
        )
    result.columns = [(lefts[c], lefts[c] + widths[c]) for c in range(column_count)]
    result.width = left + MARGIN / 2
    result.height = channel_top + channel_count * LANE_GAP + MARGIN - ROW_GAP / 2


def _lanes(
    result: Layout, spans: list[tuple[int, int]]
) -> tuple[dict[int, tuple[int, int, int | None]], dict[int, int]]:
    """The lane numbers of every arrow that leaves its column, by edge index: in the gutter it
    leaves by, in the one it comes in by, and below the columns (None: it goes to the next
    column); and how many lanes each gutter needs."""
    numbers: dict[int, tuple[int, int, int | None]] = {}
    lanes: dict[int, int] = {}
    channel = 0
    # an arrow that leaves higher up takes a lane nearer its column, so the arrows that leave
    # below it pass under its lane instead of across it
    for index, (source_row, target_row) in sorted(enumerate(spans), key=lambda e: e[1][0]):
        first = result.column_of_row[source_row]
        last = result.column_of_row[target_row]
        if first == last:
            continue
        exit_lane = lanes.get(first, 0)
        lanes[first] = exit_lane + 1
        if last == first + 1:
            numbers[index] = (exit_lane, exit_lane, None)
            continue
        entry_lane = lanes.get(last - 1, 0)
        lanes[last - 1] = entry_lane + 1
        numbers[index] = (exit_lane, entry_lane, channel)
        channel += 1
    return numbers, lanes
