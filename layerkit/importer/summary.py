"""Reading a printed ``model.summary()`` into rows: the Keras 2 / tf.keras text layout (``_`` and
``=`` rules, columns at fixed widths, long cells cut or wrapped onto further lines) and the Keras 3
box layout (┏━┃ …, cells wrapped inside each box, long names cut with "…"), each with or without
the "Connected to" column of functional models.

Nothing here knows layers: a row is a name, a type, output shape(s), a parameter count, the
connections as printed and its line in the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import Location, SpecError

Shape = tuple[int | None, ...]

ELLIPSIS = "…"
_RULE = re.compile(r"^\s*[_=]{20,}\s*$")
_SHAPE = re.compile(r"\(\s*None\s*(?:,\s*(?:None|\d+)\s*)*,?\s*\)")
_TOTAL = re.compile(r"^(Total|Trainable|Non-trainable|Optimizer) params:\s*(\d[\d,]*)")
_NAME_TYPE = re.compile(r"^(?P<name>\S+?)(?:\s*\((?P<type>[^()\s]*)\)?)?$")
# a name starts where the characters before it cannot continue it: tried from every character of
# a long name, the search took time in the square of its length (40,000 characters: minutes)
_NAME_START = r"(?<![\w./:-])"
_CONNECTION = re.compile(rf"{_NAME_START}(?P<name>[\w./:-]+)\[(?P<node>\d+)\]\[(?P<tensor>\d+)\]")
_CUT_CONNECTION = re.compile(
    rf"{_NAME_START}(?P<name>[\w./:-]+)(?P<brackets>\[[\d\[\]]*)?{ELLIPSIS}"
)
MAX_COUNT = 10**15  # parameters a printed count may give; no model has a quadrillion
MAX_SIZE = 2**31 - 1  # a size in an output shape, as a spec's sizes may be
FIX = "Give the summary as Keras printed it: name (type), output shape, param count."


@dataclass(frozen=True)
class Connection:
    """One input of a layer as the summary prints it: ``name[node][tensor]``, or a name cut
    short with "…" (then ``cut`` is true and the indices are unknown, taken as 0)."""

    name: str
    node: int = 0
    tensor: int = 0
    cut: bool = False


@dataclass(frozen=True)
class SummaryRow:
    name: str  # as printed; ends with "…" when cut short
    type: str | None  # None when the printout lost it; may end with "…"
    shapes: tuple[Shape, ...]  # every output's shape, without the batch dimension
    params: int
    line: int
    connections: tuple[Connection, ...] = ()
    trainable: bool | None = None  # the "Trainable" column of show_trainable=True, Y or N

    @property
    def shape(self) -> Shape:
        return self.shapes[0]

    @property
    def name_cut(self) -> bool:
        return self.name.endswith(ELLIPSIS)


@dataclass(frozen=True)
class PrintedSummary:
    """A printed ``model.summary()`` as read: its rows, input rows and totals (not
    :class:`layerkit.model.report.Summary`, which is the checked summary of a built model)."""

    rows: tuple[SummaryRow, ...]  # the layers, InputLayer rows excluded
    inputs: tuple[SummaryRow, ...]  # the InputLayer rows
    totals: dict[str, int]
    file: str
    functional: bool  # the summary has a "Connected to" column


def parse_summary(text: str, file: str = "<string>") -> PrintedSummary:
    """Read a summary in the Keras 2 text layout or the Keras 3 box layout.

    Raises:
        SpecError: a row that cannot be read, or no rows at all, naming the line.
    """
    totals: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        total = _TOTAL.match(line.strip())
        if total:
            key = total.group(1).lower().replace("-", "_") + "_params"
            totals[key] = _count(total.group(2), Location(file, number, 1))
    if "optimizer_params" in totals and "total_params" in totals:  # Keras 3, after fit: the
        totals["total_params"] -= totals.pop("optimizer_params")  # model's own total is less
    if "┃" in text or "│" in text:
        cells, functional = _box_cells(text, file)
    else:
        cells, functional = _text_cells(text, file)
    rows: list[SummaryRow] = []
    inputs: list[SummaryRow] = []
    for cell in cells:
        row = _row(cell, file)
        kind = (row.type or "").rstrip(ELLIPSIS)
        is_input = len(kind) >= 5 and "InputLayer".startswith(kind)
        (inputs if is_input else rows).append(row)
    if not rows:
        raise SpecError(
            "no layer rows found: is this a Keras model.summary() printout?",
            Location(file, 1, 1),
            fix=FIX,
        )
    _check_complete(text, rows, inputs, totals, file)
    return PrintedSummary(tuple(rows), tuple(inputs), totals, file, functional)


def _check_complete(text: str, rows: list[SummaryRow], inputs: list[SummaryRow],
                    totals: dict[str, int], file: str) -> None:  # fmt: skip
    """A summary cut short, or missing a row, would import as a smaller model: the printed
    total must be there and the rows must add up to it."""
    last = len(text.splitlines()) or 1
    if "total_params" not in totals:
        raise SpecError(
            "the summary ends without its 'Total params:' line: it looks cut short",
            Location(file, last, 1),
            fix="Copy the whole printout, down to the 'Total params' lines.",
        )
    counted = sum(row.params for row in rows) + sum(row.params for row in inputs)
    if counted != totals["total_params"]:
        raise SpecError(
            f"the rows add up to {counted:,} params but the summary's total is "
            f"{totals['total_params']:,}: a row is missing or garbled",
            Location(file, rows[-1].line, 1),
            fix="Copy the whole printout; a nested model's layers must not be expanded "
            "(expand_nested=False).",
        )


@dataclass
class _Cells:
    label: str
    shape: str
    params: str
    connected: str
    line: int
    trainable: str = ""


def _row(cell: _Cells, file: str) -> SummaryRow:
    label = " ".join(cell.label.split())
    match = _NAME_TYPE.match(label)
    shapes = tuple(
        _shape(text, Location(file, cell.line, 1)) for text in _SHAPE.findall(cell.shape)
    )
    count = re.fullmatch(r"\s*(\d[\d,]*)\s*", cell.params)
    is_input = match is not None and (match.group("type") or "").startswith("InputL")
    if not shapes and is_input and re.match(r"\[?\(None", cell.shape.strip()):
        shapes = ((),)  # tf.keras ≤ 2.8 cut the input's shape at the column: unknown
    listed = cell.shape.strip()
    if shapes and not is_input and listed.startswith("[(") and not listed.endswith(")]"):
        shapes += ((),)  # several outputs, the list cut short ("[(None, 64), (None, …"): unknown
    if match is None or not shapes or count is None:
        shown = " ".join(f"{cell.label} {cell.shape} {cell.params}".split())
        raise SpecError(
            f"cannot read this summary row: {shown!r}", Location(file, cell.line, 1), fix=FIX
        )
    return SummaryRow(
        match.group("name"),
        match.group("type") or None,
        shapes,
        _count(count.group(1), Location(file, cell.line, 1)),
        cell.line,
        _connections(cell.connected),
        {"Y": True, "N": False}.get(cell.trainable.strip()),
    )


def _count(text: str, location: Location) -> int:
    """A printed parameter count ("1,234"), up to :data:`MAX_COUNT`."""
    digits = text.replace(",", "")
    if len(digits) > len(str(MAX_COUNT)) or int(digits) > MAX_COUNT:
        shown = digits if len(digits) <= 24 else f"{digits[:20]}… ({len(digits):,} digits)"
        raise SpecError(f"a parameter count of {shown}, more than any model has", location,
                        fix="Give the count as Keras printed it.")  # fmt: skip
    return int(digits)


def _shape(text: str, location: Location) -> Shape:
    """The sizes after the batch dimension, each unknown (None) or from 1 to :data:`MAX_SIZE`."""
    sizes = [size.strip() for size in text.strip("()").split(",") if size.strip()]
    shape = []
    for size in sizes[1:]:
        if size == "None":
            shape.append(None)
            continue
        digits = size.lstrip("0") or "0"
        if len(digits) > len(str(MAX_SIZE)) or not 1 <= int(digits) <= MAX_SIZE:
            shown = (
                f"the size {int(digits):,}"
                if len(digits) <= 24
                else f"a size of {len(digits):,} digits"
            )
            raise SpecError(
                f"an output shape holds {shown}, which no layer outputs (sizes are from "
                f"1 to {MAX_SIZE:,})",
                location,
                fix="Give the shape as Keras printed it.",
            )
        shape.append(int(digits))
    return tuple(shape)


def _connections(text: str) -> tuple[Connection, ...]:
    if "\n" in text and "'" not in text:  # tf.keras ≤ 2.8: one input per line, cut at the column
        return tuple(
            connection for piece in text.split("\n") for connection in _cut_piece(piece.strip())
        )
    text = text.replace("\n", "")
    found: list[tuple[int, Connection]] = []
    for match in _CONNECTION.finditer(text):
        found.append(
            (match.start(), Connection(match["name"], int(match["node"]), int(match["tensor"])))
        )
    for match in _CUT_CONNECTION.finditer(text):
        if match["brackets"]:  # "name[0…": the name is whole, only the indices are cut
            found.append((match.start(), Connection(match["name"])))
        else:
            found.append((match.start(), Connection(match["name"] + ELLIPSIS, cut=True)))
    return tuple(connection for _, connection in sorted(found, key=lambda item: item[0]))


def _cut_piece(piece: str) -> tuple[Connection, ...]:
    """One input from a column that may have cut it: 'name[0][0]', 'name[0][' or 'nam'."""
    if not piece:
        return ()
    whole = _CONNECTION.fullmatch(piece)
    if whole:
        return (Connection(whole["name"], int(whole["node"]), int(whole["tensor"])),)
    if "[" in piece:
        return (Connection(piece.split("[", 1)[0]),)
    return (Connection(piece.rstrip(ELLIPSIS) + ELLIPSIS, cut=True),)


# -- the Keras 3 box layout ------------------------------------------------------------------------


def _box_cells(text: str, file: str) -> tuple[list[_Cells], bool]:
    """Rows of the box layout: the lines between two ├─┤ rules are one row, each column's
    pieces joined with spaces."""
    lines = text.splitlines()
    header = next((n for n, line in enumerate(lines) if "┃" in line and "Layer" in line), None)
    if header is None:
        raise SpecError("no header row ('┃ Layer (type) ┃ Output Shape ┃ …') found",
                        Location(file, 1, 1), fix=FIX)  # fmt: skip
    titles = [title.strip() for title in lines[header].strip().strip("┃").split("┃")]
    columns = _columns(titles, Location(file, header + 1, 1))
    cells: list[_Cells] = []
    pieces: list[list[str]] | None = None
    start = 0
    for number, line in enumerate(lines[header + 1 :], start=header + 2):
        stripped = line.strip()
        if stripped.startswith("│"):
            parts = [part.strip() for part in stripped.strip("│").split("│")]
            if len(parts) != len(titles):
                raise SpecError(
                    f"this row has {len(parts)} cells where the header has {len(titles)}",
                    Location(file, number, 1),
                    fix=FIX,
                )
            if pieces is None:
                pieces, start = [[] for _ in titles], number
            for column, part in enumerate(parts):
                if part:
                    pieces[column].append(part)
        elif stripped[:1] in ("├", "└", "┡") or not stripped:
            if pieces is not None:
                cells.append(_cells_of([" ".join(p) for p in pieces], columns, start))
                pieces = None
            if stripped.startswith("└"):
                break
    if pieces is not None:
        cells.append(_cells_of([" ".join(p) for p in pieces], columns, start))
    return cells, "connected" in columns


def _columns(titles: list[str], location: Location) -> dict[str, int]:
    columns: dict[str, int] = {}
    for index, title in enumerate(titles):
        key = title.lower()
        if key.startswith("layer"):
            columns["label"] = index
        elif key.startswith("output"):
            columns["shape"] = index
        elif key.startswith("param"):
            columns["params"] = index
        elif key.startswith("connected"):
            columns["connected"] = index
        elif key.startswith("trai"):  # "Trainable", cut to "Trai…" in narrow printouts
            columns["trainable"] = index
    if not {"label", "shape", "params"} <= set(columns):
        raise SpecError(
            "the header lacks one of 'Layer (type)', 'Output Shape', 'Param #'", location, fix=FIX
        )
    return columns


def _cells_of(values: list[str], columns: dict[str, int], line: int) -> _Cells:
    def get(key: str) -> str:
        return values[columns[key]] if key in columns else ""

    return _Cells(
        get("label"), get("shape"), get("params"), get("connected"), line, get("trainable")
    )


# -- the Keras 2 text layout -----------------------------------------------------------------------


def _text_cells(text: str, file: str) -> tuple[list[_Cells], bool]:
    """Rows of the text layout. Columns start where the header's titles start; a line whose
    shape cell holds no shape continues the row above (tf.keras 2.9+ wraps long cells, older
    versions cut them)."""
    lines = text.splitlines()
    header = next((n for n, line in enumerate(lines) if "Layer (type)" in line), None)
    if header is None:
        raise SpecError("no header line ('Layer (type)  Output Shape  Param #') found",
                        Location(file, 1, 1), fix=FIX)  # fmt: skip
    title_line = lines[header]
    starts = {"label": 0}
    for key, title in (
        ("shape", "Output Shape"),
        ("params", "Param #"),
        ("connected", "Connected to"),
        ("trainable", "Trainable"),
    ):
        if title in title_line:
            starts[key] = title_line.index(title)
    if "shape" not in starts or "params" not in starts:
        raise SpecError("the header lacks 'Output Shape' or 'Param #'",
                        Location(file, header + 1, 1), fix=FIX)  # fmt: skip
    order = sorted(starts, key=starts.get)
    bounds = {key: (starts[key], starts[order[i + 1]] if i + 1 < len(order) else None)
              for i, key in enumerate(order)}  # fmt: skip
    cells: list[_Cells] = []
    follows_row = False  # a wrapped rest comes right under its row, before any rule or blank
    for number, line in enumerate(lines[header + 1 :], start=header + 2):
        stripped = line.strip()
        if _TOTAL.match(stripped):
            break
        if not stripped or _RULE.match(line):
            follows_row = False
            continue
        part = {
            key: line[start:end] if end is not None else line[start:]
            for key, (start, end) in bounds.items()
        }
        if part["shape"].strip().startswith(("(", "[")) and part["params"].strip():
            connected = "\n" + part.get("connected", "").strip()  # "\n": one line per input
            cells.append(_Cells(part["label"], part["shape"], part["params"], connected, number,
                                part.get("trainable", "")))  # fmt: skip
            follows_row = True
        elif follows_row and not part["params"].strip():  # the wrapped rest of the row above
            above = cells[-1]
            above.label = above.label.rstrip() + part["label"].strip()
            above.shape = above.shape.rstrip() + part["shape"].strip()
            above.connected = above.connected.rstrip() + "\n" + part.get("connected", "").strip()
        else:
            raise SpecError(
                f"cannot read this summary row: {stripped!r}", Location(file, number, 1), fix=FIX
            )
    return cells, "connected" in starts
