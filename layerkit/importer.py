"""Import a spec from a printed Keras summary of a Sequential model: the Keras 2 / tf.keras text
layout, or the Keras 3 box layout.

Three steps, each a function of the one before: ``parse_summary`` reads the rows (name, type,
output shape, params) and the totals, naming the line of anything it cannot read;
``infer_layers`` works out each layer's arguments from its input shape, output shape and parameter
count; ``write_spec`` writes a spec whose ``expect:`` holds every row and the totals, so
``layerkit build`` checks the reconstruction. What a summary cannot tell (activations, dropout
rates) is written as a commented placeholder and listed in the report, never guessed silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import Location, SpecError
from .registry import default_registry, lookup_key, to_snake_case

Shape = tuple[int | None, ...]

_RULE = re.compile(r"^[_=]{20,}\s*$")
_SHAPE = re.compile(r"\((None(?:,\s*\d+)*|None)\)")
_TOTAL = re.compile(r"^(Total|Trainable|Non-trainable) params:\s*([\d,]+)")


@dataclass(frozen=True)
class SummaryRow:
    name: str
    type: str | None  # None when the printout cut it off
    shape: Shape  # without the batch dimension
    params: int
    line: int


@dataclass(frozen=True)
class Summary:
    rows: tuple[SummaryRow, ...]
    totals: dict[str, int]
    file: str
    input_shape: Shape | None = None  # from an InputLayer row, where the summary has one


@dataclass
class ImportedLayer:
    kind: str  # snake_case layer name for the spec
    args: dict[str, object]
    row: SummaryRow
    notes: list[str] = field(default_factory=list)  # what the text could not tell


def parse_summary(text: str, file: str = "<string>") -> Summary:
    """Read a summary in the Keras 2 text layout or the Keras 3 box layout.

    Raises:
        SpecError: a row that cannot be read, or no rows at all, naming the line.
    """
    totals: dict[str, int] = {}
    for line in text.splitlines():
        total = _TOTAL.match(line.strip())
        if total:
            key = total.group(1).lower().replace("-", "_") + "_params"
            totals[key] = int(total.group(2).replace(",", ""))
    cells = _box_cells(text) if "│" in text else _text_cells(text, file)
    rows: list[SummaryRow] = []
    input_shape = None
    for label, shape_text, count_text, number in cells:
        shape = _SHAPE.search(shape_text)
        count = re.fullmatch(r"\s*(\d[\d,]*)\s*", count_text)
        match = re.match(r"^(\S+?)(?:\s*\((\w+)\)?)?$", label.strip())
        if shape is None or count is None or match is None:
            raise SpecError(
                f"cannot read this summary row: {' '.join((label + ' ' + shape_text + ' ' + count_text).split())!r}",
                Location(file, number, 1),
                fix="Give the summary as Keras printed it: name (type), output shape, param count.",
            )
        sizes = tuple(int(size) for size in shape.group(1).split(",")[1:])
        if match.group(2) == "InputLayer":
            input_shape = sizes
            continue
        rows.append(
            SummaryRow(
                match.group(1), match.group(2), sizes, int(count.group(1).replace(",", "")), number
            )
        )
    if not rows:
        raise SpecError(
            "no layer rows found: is this a Keras model.summary() printout?", Location(file, 1, 1)
        )
    return Summary(tuple(rows), totals, file, input_shape)


def _text_cells(text: str, file: str) -> list[tuple[str, str, str, int]]:
    """(label, shape, params, line) of each row of the Keras 2 text layout."""
    cells = []
    in_table = False
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or _RULE.match(stripped):
            continue
        if stripped.startswith("Layer (type)"):
            in_table = True
            continue
        if _TOTAL.match(stripped):
            in_table = False
        if not in_table:
            continue
        shape = _SHAPE.search(line)
        if shape is None:
            raise SpecError(
                f"cannot read this summary row: {stripped!r}",
                Location(file, number, 1),
                fix="Give the summary as Keras printed it: name (type), output shape, param count.",
            )
        cells.append((line[: shape.start()], shape.group(0), line[shape.end() :], number))
    return cells


def _box_cells(text: str) -> list[tuple[str, str, str, int]]:
    """(label, shape, params, line) of each row of the Keras 3 box layout, where a long name or
    type wraps onto the next line with the other cells empty."""
    cells: list[list] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip().startswith("│"):
            continue
        parts = [part.strip() for part in line.strip().strip("│").split("│")]
        if len(parts) < 3:
            continue
        label, shape, count = parts[0], parts[1], parts[2]
        if not shape and not count and cells:
            cells[-1][0] += " " + label  # the wrapped rest of the name or type
        else:
            cells.append([label, shape, count, number])
    return [tuple(cell) for cell in cells]  # type: ignore[misc]


def _class_for(row: SummaryRow, file: str) -> str:
    """The layer class: from the type column, or, where the printout cut it, from the name."""
    registry = default_registry()
    for candidate in (row.type, re.sub(r"_\d+$", "", row.name)):
        if not candidate:
            continue
        try:
            return registry.resolve(candidate)
        except LookupError:
            matches = [
                name
                for name in registry.names()
                if lookup_key(name).startswith(lookup_key(candidate))
            ]
            if len(matches) == 1:
                return matches[0]
    raise SpecError(
        f"layer type of '{row.name}' ({row.type or 'cut off'}) is not one layerkit knows",
        Location(file, row.line, 1),
        fix="Import a summary without this layer and add it by hand to the written spec.",
    )


def infer_layers(summary: Summary, input_shape: Shape) -> list[ImportedLayer]:
    """Each row's arguments, worked out from the shape before it, its shape and its params."""
    layers = []
    previous = input_shape
    for row in summary.rows:
        class_name = _class_for(row, summary.file)
        layers.append(_infer(class_name, row, previous, summary.file))
        previous = row.shape
    return layers


def _infer(class_name: str, row: SummaryRow, before: Shape, file: str) -> ImportedLayer:
    kind = to_snake_case(class_name)
    out, params = row.shape, row.params
    if class_name in ("Conv1D", "Conv2D", "DepthwiseConv2D"):
        dims = 1 if class_name == "Conv1D" else 2
        depthwise = class_name == "DepthwiseConv2D"
        # weights per kernel position: in x out channels, or one per output channel for depthwise
        per_tap = out[-1] if depthwise else before[-1] * out[-1]
        solved = _kernel(params, per_tap, out[-1], dims)
        if solved is None:
            raise SpecError(
                f"cannot work out the kernel of '{row.name}' from {params:,} params",
                Location(file, row.line, 1),
                fix="Write this layer by hand in the spec.",
            )
        side, use_bias = solved
        args: dict[str, object] = {} if depthwise else {"filters": out[-1]}
        args["kernel_size"] = side
        if depthwise and out[-1] != before[-1]:
            args["depth_multiplier"] = out[-1] // before[-1]
        if out[0] == before[0]:
            args["padding"] = "same"
        elif out[0] != before[0] - side + 1:
            args["strides"] = round(before[0] / out[0])
            args["padding"] = "same"
        if not use_bias:
            args["use_bias"] = False
        return ImportedLayer(kind, args, row, ["activation"])
    if class_name == "Embedding":
        return ImportedLayer(kind, {"input_dim": params // out[-1], "output_dim": out[-1]}, row)
    if class_name == "Dense":
        units, inputs = out[-1], before[-1]
        args = {"units": units}
        if params == inputs * units:
            args["use_bias"] = False
        return ImportedLayer(kind, args, row, ["activation"])
    if class_name in ("MaxPooling2D", "AveragePooling2D"):
        size = round(before[0] / out[0]) if out[0] else 2
        return ImportedLayer(kind, {} if size == 2 else {"pool_size": size}, row)
    if class_name == "Dropout":
        return ImportedLayer(kind, {"rate": 0.5}, row, ["rate"])
    if class_name == "Reshape":
        return ImportedLayer(kind, {"target_shape": list(out)}, row)
    return _with_placeholders(ImportedLayer(kind, {}, row), class_name)


def _kernel(params: int, per_tap: int, bias: int, dims: int) -> tuple[int, bool] | None:
    """(kernel side, has bias) such that side**dims * per_tap (+ bias) == params, if any."""
    for use_bias in (True, False):
        taps = (params - (bias if use_bias else 0)) / per_tap
        side = round(taps ** (1 / dims)) if taps >= 1 else 0
        if side >= 1 and side**dims == taps:
            return side, use_bias
    return None


def _with_placeholders(layer: ImportedLayer, class_name: str) -> ImportedLayer:
    """Required arguments the summary cannot show get a neutral value, noted for the user."""
    info = default_registry().info(class_name)
    for name, arg in info.args.items():
        if arg.required and name not in layer.args:
            layer.args[name] = 1.0 if "float" in arg.kinds else 1
            layer.notes.append(name)
    return layer


def write_spec(summary: Summary, layers: list[ImportedLayer], name: str, input_shape: Shape) -> str:
    """The spec text: layers with placeholders commented, and expect: with every row and total."""
    lines = [
        f"# Imported by `layerkit import` from {summary.file}.",
        "# The summary does not show activations or dropout rates: the values marked 'not in the",
        "# summary' below are placeholders to check; they change no parameter count.",
        "version: 1",
        f"name: {name}",
        f"input: [{', '.join(str(size) for size in input_shape)}]",
        "layers:",
    ]
    for layer in layers:
        args = ", ".join(f"{key}: {_yaml(value)}" for key, value in layer.args.items())
        text = f"  - {layer.kind}" + (f": {{{args}}}" if args else "")
        if layer.notes:
            text += f"  # not in the summary: {', '.join(layer.notes)}"
        lines.append(text)
    lines.append("expect:")
    for key in ("total_params", "trainable_params", "non_trainable_params"):
        if key in summary.totals:
            lines.append(f"  {key}: {summary.totals[key]}")
    lines.append("  rows:")
    for layer in layers:
        shape = ", ".join(str(size) for size in layer.row.shape)
        lines.append(
            f"    - {{name: {layer.row.name}, shape: [{shape}], params: {layer.row.params}}}"
        )
    return "\n".join(lines) + "\n"


def _yaml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def import_summary(path: Path, input_shape: Shape | None = None) -> tuple[str, list[ImportedLayer]]:
    """Read a summary file and return the spec text and the imported layers (for the report)."""
    summary = parse_summary(path.read_text(encoding="utf-8"), str(path))
    shape = input_shape or summary.input_shape or _guess_input(summary)
    layers = infer_layers(summary, shape)
    return write_spec(summary, layers, re.sub(r"\W", "_", path.stem), shape), layers


def _guess_input(summary: Summary) -> Shape:
    """The input shape: a first convolution with 'same' padding keeps the size; the channels come
    from its params. Otherwise the caller must give --input."""
    first = summary.rows[0]
    if _class_for(first, summary.file) == "Conv2D":
        filters = first.shape[-1]
        for use_bias in (True, False):
            weights = first.params - (filters if use_bias else 0)
            for side in (3, 5, 7, 1):
                channels = weights / (side * side * filters)
                if channels == int(channels) and channels in (1, 3, 4):
                    return (*first.shape[:-1], int(channels))
    raise SpecError(
        "cannot tell the model's input shape from the first row",
        Location(summary.file, first.line, 1),
        fix="Give it with --input, e.g. --input 32,32,3.",
    )
