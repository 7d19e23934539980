"""Text from a spec or a file made safe to show on a terminal: any string in, the same string out
with every control character and direction override written as a visible escape (``\\x1b``,
``\\r``, ``\\n``, ``\\u202e``), so a layer, spec, class or file name can never move the cursor,
clear a line, recolour the screen or reorder what is shown. Printable text — accents, ✓, CJK —
is unchanged, so normal output looks exactly as before.

Used at the output boundary: the error printer and the result printers of ``layerkit.console``,
and the renderers of ``layerkit.model.render``. Rich markup is a separate matter: text given to
rich is also passed as ``Text`` or through ``rich.markup.escape``.
"""

from __future__ import annotations

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# C0 controls and DEL, C1 controls, the marks and overrides that change text direction
# (LRM, RLM, ALM; LRE…RLO; LRI…PDI), and the line and paragraph separators
_UNSAFE = [
    *range(0x00, 0x20),
    *range(0x7F, 0xA0),
    0x061C,
    0x200E,
    0x200F,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
    0x2028,
    0x2029,
]


def _escape(code: int) -> str:
    char = chr(code)
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_TABLE = {code: _escape(code) for code in _UNSAFE}


def safe_text(text: object) -> str:
    """``str(text)`` with control characters, escape sequences and direction overrides made
    visible; one line always stays one line."""
    return str(text).translate(_TABLE)


def safe_lines(text: str) -> str:
    """Several lines of text made safe line by line: the line breaks stay, all else is escaped."""
    return "\n".join(safe_text(line) for line in text.split("\n"))
