"""A saved ``.keras`` file checked before Keras reads it.

Takes the path of a ``.keras`` file (a zip holding ``config.json``, ``metadata.json`` and the
weights); gives the reason it must not be loaded, or None. Keras reads each JSON member whole
into memory, and a zip's member can decompress to far more than its file's size, so each is
checked against :data:`MAX_JSON_BYTES` from its declared size, then read in bounded pieces to
prove the declaration — without TensorFlow, before Keras is imported. Used by ``evaluate``,
``predict`` and ``import``.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

from .errors import one_line

MAX_JSON_BYTES = 64 * 2**20  # a model's configuration: a ResNet-152's is under 1 MiB
JSON_MEMBERS = ("config.json", "metadata.json")
PIECE = 1 << 20


def keras_file_problem(path: Path) -> str | None:
    """Why the ``.keras`` file at ``path`` must not be handed to Keras, or None."""
    try:
        if not zipfile.is_zipfile(path):  # Keras would say "File not found" of it
            return "it is not a whole Keras model file (a .keras file is a zip archive; this one is truncated, or something else)"
        with zipfile.ZipFile(path) as archive:
            for name in JSON_MEMBERS:
                try:
                    info = archive.getinfo(name)
                except KeyError:
                    continue
                problem = _json_member_problem(archive, info)
                if problem is not None:
                    return problem
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as error:
        return f"it is a damaged .keras archive ({error})"
    return None


def _json_member_problem(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> str | None:
    limit = f"over the limit of {MAX_JSON_BYTES // 2**20} MiB for a model's {info.filename}"
    if info.file_size > MAX_JSON_BYTES:
        return f"its {info.filename} is {info.file_size / 2**20:.1f} MiB, {limit}"
    read = 0
    with archive.open(info) as member:  # stops at the declared size and checks the CRC there
        while piece := member.read(PIECE):
            read += len(piece)
            if read > MAX_JSON_BYTES:
                return f"its {info.filename} holds more than {MAX_JSON_BYTES // 2**20} MiB, {limit}"
    return None


def load_failure(error: Exception) -> str:
    """What went wrong when Keras could not rebuild a model, in one line (Keras's messages run
    to many lines, with the whole config)."""
    return f"Keras could not rebuild it ({one_line(error)})"
