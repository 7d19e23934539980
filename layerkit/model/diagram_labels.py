"""What each box of the graph drawing says: a plan node in, its lines of text out.

Takes a plan node (a layer, a wrapper around a layer, or a ``keras.ops`` operation) and gives the
line under its name: its type and the arguments worth showing, with numbers rounded for display
(``0.07500000000000001`` is drawn ``0.075``; the plan keeps the exact value). Arguments are never
cut: they wrap, whole, to a second line, and any that do not fit there either are counted in a
closing ``+N more``. Widths are estimated from Helvetica's glyph widths, so the SVG needs no font.
"""

from __future__ import annotations

import math
from typing import Any

from ..spec.plan import ResolvedLayer

# arguments worth showing under a layer's type, in this order (an op shows all of its constants)
SHOWN_ARGS = (
    "filters", "units", "num_heads", "key_dim", "kernel_size", "strides", "pool_size", "size",
    "target_shape", "rate", "activation", "dilation_rate", "depth_multiplier", "groups",
)  # fmt: skip
# arguments whose list is a size per axis: drawn 3×3 rather than [3, 3]
SIZE_ARGS = {"kernel_size", "strides", "pool_size", "size", "dilation_rate"}
SIGNIFICANT_DIGITS = 4
FALLBACK_FONT = 1.08  # DejaVu Sans, drawn where Helvetica and Arial are missing, is this much wider
TEXT_WIDTH = 216  # room for a line of text in a box, in px
TITLE_CHARACTERS = 30  # a name longer than twice this is cut to this many characters, with "…"
ARGUMENT_LINES = 3  # lines under the name: the type and its first arguments, then the rest
SEPARATOR = ", "
SQUEEZE = 1.4  # how much wider than a line a piece may be and still be drawn (smaller)

# Helvetica advance widths in thousandths of the font size, by character; others count as 0.6 em
_WIDTHS = {
    **dict.fromkeys("ijl'|", 222), **dict.fromkeys(" ,.:;!/[]Ift\\", 278),
    **dict.fromkeys("r()-`{}\"", 333), **dict.fromkeys("J^cksvxyz", 500),
    **dict.fromkeys("=+<>~×", 584), **dict.fromkeys("ABEKPSVXY&", 667),
    **dict.fromkeys("CDHNRUw", 722), **dict.fromkeys("GOQ", 778), **dict.fromkeys("Mm", 833),
    **dict.fromkeys("%W", 889), "…": 1000, "F": 611, "L": 556, "T": 611, "Z": 611, "@": 1015,
}  # fmt: skip


def text_width(text: str, size: float, bold: bool = False) -> float:
    """The width of ``text`` in px at font size ``size``, as Helvetica (or Arial) draws it."""
    units = sum(_WIDTHS.get(char, 556 if char.isascii() else 1000) for char in text)
    return units * size / 1000 * (1.06 if bold else 1.0) * FALLBACK_FONT


def format_number(value: float) -> str:
    """A float as it is worth reading: 4 significant digits (but every digit before the point),
    no float noise, an exponent for very small values (``1e-06``, ``0.075``, ``0.1667``, ``2.0``)."""
    if not math.isfinite(value) or value == 0:
        return repr(value)
    whole_digits = math.floor(math.log10(abs(value))) + 1  # 123456.7 keeps its units: 123457.0
    digits = min(max(SIGNIFICANT_DIGITS, whole_digits), 17)
    return repr(float(f"{value:.{digits}g}"))


def format_value(value: Any, size: bool = False) -> str:
    """An argument value for display; lists of sizes as ``3×3``, other lists as ``[1, 2]``."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return format_number(value)
    if isinstance(value, (list, tuple)):
        items = [format_value(item) for item in value]
        return "×".join(items) if size and items else f"[{', '.join(items)}]"
    if isinstance(value, dict):
        pairs = (f"{key}: {format_value(item)}" for key, item in value.items())
        return "{" + ", ".join(pairs) + "}"
    if isinstance(value, ResolvedLayer):
        return value.class_name
    return str(value)


def type_text(layer: ResolvedLayer) -> str:
    """``Conv2D``, ``op add``, ``Bidirectional(LSTM)``, ``Dense (shared)``."""
    shared = " (shared)" if layer.shares else ""
    if layer.operation:
        return f"op {layer.class_name}{shared}"
    inner = _inner(layer)
    wrapped = f"({inner.class_name})" if inner is not None else ""
    return f"{layer.class_name}{wrapped}{shared}"


def argument_texts(layer: ResolvedLayer) -> list[str]:
    """Each shown argument as one piece of text, ``name=value``; a wrapper shows its layer's."""
    if layer.operation:
        return [f"{name}={format_value(value)}" for name, value in layer.args.items()]
    inner = _inner(layer)
    sources = ([inner.args] if inner is not None else []) + [layer.args]
    return [
        f"{name}={format_value(args[name], name in SIZE_ARGS)}"
        for args in sources
        for name in SHOWN_ARGS
        if name in args and not isinstance(args[name], ResolvedLayer)
    ]


def _inner(layer: ResolvedLayer) -> ResolvedLayer | None:
    return next((v for v in layer.args.values() if isinstance(v, ResolvedLayer)), None)


def title_lines(name: str, size: float) -> tuple[str, ...]:
    """A node's name on one line, or two, broken after a ``_`` (``-``, ``.``, ``/``, space)
    where one fits; a name too long for two lines keeps its first characters and "…"."""
    if text_width(name, size, bold=True) <= TEXT_WIDTH:
        return (name,)
    if len(name) > TITLE_CHARACTERS * 2:
        return (name[: TITLE_CHARACTERS - 1] + "…",)
    fits = [end for end in range(1, len(name)) if text_width(name[:end], size, True) <= TEXT_WIDTH]
    breaks = [end for end in fits if name[end - 1] in "_-./ "]
    end = breaks[-1] if breaks else fits[-1]
    return (name[:end], name[end:])


def box_lines(layer: ResolvedLayer, size: float) -> tuple[str, ...]:
    """The lines under a node's name: its type, then its arguments, whole, as they fit."""
    return fit_lines(type_text(layer), argument_texts(layer), size)


def fit_lines(
    first: str, pieces: list[str], size: float, lines: int = ARGUMENT_LINES
) -> tuple[str, ...]:
    """``first`` and then ``pieces`` filled into at most ``lines`` lines of TEXT_WIDTH, never
    cutting a piece: a piece that fits no line is left out, and the last line says how many
    were left out (``+2 more``). A piece a little too wide for a whole line gets one of its
    own (drawn in a smaller font), so a long activation name is still shown whole."""
    filled: list[list[str]] = [[first]]
    left_out = 0
    for piece in pieces:
        if text_width(_joined([*filled[-1], piece], len(filled) == 1), size) <= TEXT_WIDTH:
            filled[-1].append(piece)
        elif len(filled) < lines and text_width(piece, size) <= TEXT_WIDTH * SQUEEZE:
            filled.append([piece])
        else:
            left_out += 1
    texts = [_joined(line, index == 0) for index, line in enumerate(filled)]
    if left_out:
        last, first_line = filled[-1], len(filled) == 1
        while len(last) > 1 and text_width(_more(last, left_out, first_line), size) > TEXT_WIDTH:
            last.pop()
            left_out += 1
        texts[-1] = _more(last, left_out, first_line)
    return tuple(texts)


def _joined(line: list[str], first_line: bool) -> str:
    """The first line is the type, two spaces, then arguments; the others arguments only."""
    if first_line:
        return line[0] + (f"  {SEPARATOR.join(line[1:])}" if len(line) > 1 else "")
    return SEPARATOR.join(line)


def _more(line: list[str], count: int, first_line: bool) -> str:
    return _joined([*line, f"+{count} more"], first_line)
