"""A saved ``.keras`` file checked before Keras reads it.

Takes the path of a ``.keras`` file (a zip holding ``config.json``, ``metadata.json`` and the
weights); gives the reason it must not be loaded, or None. Keras reads each JSON member whole
into memory, and a zip's member can decompress to far more than its file's size, so each is
checked against :data:`MAX_JSON_BYTES` from its declared size, then read in bounded pieces to
prove the declaration — without TensorFlow, before Keras is imported. Used by ``evaluate``,
``predict``, ``export`` and ``import``; :func:`load_fix` says what to do when Keras then fails.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path

from .errors import listed, one_line

MAX_JSON_BYTES = 64 * 2**20  # a model's configuration: a ResNet-152's is under 1 MiB
JSON_MEMBERS = ("config.json", "metadata.json")
PIECE = 1 << 20
UNREADABLE = (
    KeyError,
    OSError,
    ValueError,
    RecursionError,
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
)
OWN_MODULES = (
    "keras",
    "layerkit",
    "builtins",
)  # what a .keras file names that loads without a plugin


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


def load_fix(path: Path) -> str | None:
    """How to load the ``.keras`` file at ``path`` that Keras could not rebuild when it names
    classes from modules other than Keras's and layerkit's: the plugin that registers them (a
    model trained with ``--plugin my_layers`` records ``module: my_layers``); None otherwise."""
    foreign = foreign_classes(path)
    if not foreign:
        return None
    modules = {module for module, _ in foreign}
    classes = listed(sorted({f"{name} ({module})" for module, name in foreign}))
    give = " ".join(f"--plugin {module}" for module in sorted(modules - {"__main__"}))
    where = (
        "move the classes defined in a script (__main__) into a module, and give it"
        if "__main__" in modules
        else "give the module that registers them"
    )
    return (
        f"it uses classes that are not Keras's or layerkit's, {classes}: {where}, e.g. "
        f"{give or '--plugin MODULE'} "
        "(importable: on PYTHONPATH or installed)"
    )


def foreign_classes(path: Path) -> list[tuple[str, str]]:
    """The ``(module, class)`` pairs of the objects in the file's ``config.json`` that come from
    neither Keras nor layerkit, in the order met; none when the file cannot be read (its
    problem is :func:`keras_file_problem`'s to say)."""
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except UNREADABLE:
        return []
    found: dict[tuple[str, str], None] = {}
    stack = [config]
    while stack:  # iterative: a config nests as deep as its model
        item = stack.pop()
        if isinstance(item, dict):
            module, name = item.get("module"), item.get("class_name")
            own = isinstance(module, str) and module.split(".")[0] in OWN_MODULES
            if isinstance(module, str) and module and isinstance(name, str) and not own:
                found[(module, name)] = None
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return list(found)
