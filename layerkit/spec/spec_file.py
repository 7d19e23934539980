"""Reading a spec's text: from a file on disk, or given as YAML text.

Takes a path or a string; gives the text and the name messages use for it (the path, or
``<string>``). A file is read only when it is a regular file (not a folder, a pipe or a device)
of at most :data:`MAX_FILE_BYTES`, and never past that even if it grows meanwhile; a path the
system refuses (too long, a NUL, no permission) is a one-line :class:`~layerkit.errors.SpecError`.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import SpecError

MAX_FILE_BYTES = 2 * 1024 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")  # shown as escapes in paths


def read_source(path_or_text: str | Path) -> tuple[str, str]:
    """Return ``(text, file_name)`` for a spec given as a path or as YAML text.

    A :class:`~pathlib.Path`, or a one-line string that ends in ``.yaml``/``.yml`` or names an existing
    file, is read as a file; any other string is YAML text, named ``<string>`` in messages.
    """
    if isinstance(path_or_text, str) and "\n" not in path_or_text:
        candidate = Path(path_or_text)
        if path_or_text.endswith((".yaml", ".yml")) or _is_file(candidate):
            path_or_text = candidate
    if not isinstance(path_or_text, Path):
        return str(path_or_text), "<string>"
    path = path_or_text
    try:
        return _read_file(path), str(path)
    except OSError as error:  # no permission, a name the system refuses, a read error
        raise SpecError(
            f"cannot read spec '{_shown_path(path)}': {error.strerror or type(error).__name__}",
            fix="Check the path and that the file can be read.",
        ) from None


def _is_file(path: Path) -> bool:
    """Whether ``path`` is a regular file; False for a name no file can have (too long, a NUL)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _shown_path(path: Path) -> str:
    text = _CONTROL.sub(lambda match: ascii(match.group())[1:-1], str(path))
    return text if len(text) <= 200 else f"{text[:197]}..."


def _read_file(path: Path) -> str:
    """A spec file's text, read only if it is a regular file of at most MAX_FILE_BYTES."""
    if "\0" in str(path):
        raise SpecError(
            f"cannot read spec '{_shown_path(path)}': the path holds a NUL character",
            fix="Pass the path of a .yaml spec file.",
        )
    if not path.is_file():
        reason = "is a folder" if path.is_dir() else "does not exist"
        if reason == "does not exist" and path.exists():
            reason = "is not a regular file (a pipe, a socket or a device)"
        near = [
            f"{path}{suffix}" for suffix in (".yaml", ".yml") if _is_file(Path(f"{path}{suffix}"))
        ]
        raise SpecError(
            f"cannot read spec '{_shown_path(path)}': it {reason}",
            fix=f"Did you mean '{near[0]}'?" if near else "Pass the path of a .yaml spec file.",
        )
    with path.open("rb") as handle:
        data = handle.read(MAX_FILE_BYTES + 1)  # no more, even if the file grows meanwhile
    if len(data) > MAX_FILE_BYTES:
        size = max(path.stat().st_size, len(data))
        raise SpecError(
            f"spec '{_shown_path(path)}' is {size:,} bytes, more than the {MAX_FILE_BYTES:,} a "
            "spec may have",
            fix="Split it with blocks, or check that this is really a spec.",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SpecError(
            f"spec '{_shown_path(path)}' is not UTF-8 text (byte {error.start} cannot be decoded)",
            fix="Save the file as UTF-8.",
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")  # as reading in text mode does
