"""Checks of what a run directory holds, before anything trusts it.

Takes what was read from a run's files (a JSON record, history.csv's rows, a ``.keras`` file's
path); gives None when it is what layerkit writes, or one sentence saying what is wrong with it,
for :class:`~layerkit.runs.directory.RunDir` to turn into an error that names the file. A run
directory may have been edited by hand, truncated by a full disk or copied from elsewhere; nothing
here imports TensorFlow, and a model file is checked as a zip (every member's checksum, its
config) without loading it.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from ..files import is_temporary
from ..keras_archive import MAX_JSON_BYTES

CHECKPOINT_NAME = re.compile(r"epoch-\d{4,}\.keras")
# what a run writes in its folder (besides the temporaries of its writes)
RUN_FILES = re.compile(
    r"spec\.yaml|setup\.json|environment\.json|history\.csv|metrics\.json|curves\.png|lock"
    r"|checkpoints|tensorboard|model_(last|best)(\.epoch-\d{4,})?\.keras"
)


def name_problem(name: str, root: Path) -> str | None:
    """Why ``root/<name>`` cannot hold a spec's runs: ``name`` must be one plain path part,
    and the folder must stay inside ``root`` (no ``..``, no absolute path, no link out)."""
    plain = name not in ("", ".", "..") and "\0" not in name and "\\" not in name
    if plain and Path(name).name == name and _inside(root / name, root):
        return None
    return (
        f"the spec's name {json.dumps(name)} cannot name a folder inside '{root}': rename it "
        "(letters, digits, '_', '-' and '.'), or give --out"
    )


def _inside(folder: Path, root: Path) -> bool:
    try:
        return folder.resolve().is_relative_to(root.resolve())
    except (OSError, ValueError, RuntimeError):
        return False


def out_problem(out: Path) -> str | None:
    """Why ``out`` cannot be a new run's folder: it is a file, or holds anything but a run that
    never finished an epoch (:func:`never_finished`)."""
    if not out.exists():
        return None
    if not out.is_dir():
        return f"'{out}' is a file, not a folder; choose another --out"
    if not any(out.iterdir()) or never_finished(out):
        return None
    again = f", or continue that run with --resume {out}" if (out / "state.json").exists() else ""
    return f"run directory '{out}' already exists and is not empty; choose another --out{again}"


def never_finished(folder: Path) -> bool:
    """A run directory that never finished an epoch: its spec.yaml (written first) and only
    what a run writes (at most the first epoch's checkpoint), no state.json. Anything else in
    it (a .git, notes) and it is not taken for one, so nothing of the user's is ever removed."""
    try:
        names = [entry.name for entry in folder.iterdir()]
        checkpoints = folder / "checkpoints"
        inside = [entry.name for entry in checkpoints.iterdir()] if "checkpoints" in names else []
    except OSError:
        return False
    ours = all(RUN_FILES.fullmatch(name) or is_temporary(Path(name)) for name in names)
    first = all(name == "epoch-0001.keras" or is_temporary(Path(name)) for name in inside)
    return "spec.yaml" in names and "state.json" not in names and ours and first


def record_problem(kind: type, record: Any) -> str | None:
    """What is wrong with ``record`` as the JSON of dataclass ``kind``, or None."""
    if not isinstance(record, dict):
        return f"holds {_kind(record)}, not a JSON object"
    missing = [
        item.name
        for item in fields(kind)
        if item.name not in record and item.default is MISSING and item.default_factory is MISSING
    ]
    if missing:
        return f"lacks {', '.join(missing)}"
    for item in fields(kind):
        if item.name in record and not _fits(record[item.name], str(item.type)):
            return f"has {item.name}: {_shown(record[item.name])}, where {item.type} belongs"
    return None


def state_problem(record: dict[str, Any]) -> str | None:
    """What the types allow but a real state.json never holds."""
    epoch, checkpoint = record["epoch"], record["checkpoint"]
    best = record.get("best") or {}
    if epoch < 1:
        return f"has epoch: {epoch}, but a state.json is written after an epoch finishes"
    if not CHECKPOINT_NAME.fullmatch(checkpoint):
        return f"names the checkpoint {checkpoint!r}, not a file name like 'epoch-0001.keras'"
    best_epoch = best.get("epoch")
    if best_epoch is not None and not 1 <= best_epoch <= epoch:
        return f"has best epoch {best_epoch}, outside the {epoch} epochs finished"
    return None


def normalize_problem(normalize: Any) -> str | None:
    """setup.json's ``normalize``: the fields of the input scaling, numbers."""
    if normalize is None:
        return None
    for key, value in normalize.items():
        if key in ("scale", "offset") and _fits(value, "float"):
            continue
        if key in ("mean", "std") and (value is None or _numbers(value)):
            continue
        return f"has normalize.{key}: {_shown(value)}, not part of an input scaling"
    return None


def history_problem(rows: list[dict[str, Any]]) -> str | None:
    """history.csv's rows: epochs 1, 2, 3… in order, every value a number."""
    for index, row in enumerate(rows):
        if row.get("epoch") != index + 1:
            return f"row {index + 1} is epoch {_shown(row.get('epoch'))}, expected {index + 1}"
        for key, value in row.items():
            if key is None or not _fits(value, "float"):
                return f"row {index + 1} has {key}: {_shown(value)}, not a number"
    return None


def model_file_problem(path: Path, layer: str | None = None) -> str | None:
    """What is wrong with ``path`` as a Keras model file (a whole zip, every member intact, a
    config that is JSON, with a layer named ``layer`` when given), or None."""
    if path.exists() and not path.is_file():
        return "is not a regular file"
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "config.json" not in names:
                return "is a zip without config.json, not a Keras model file"
            if archive.getinfo("config.json").file_size > MAX_JSON_BYTES:
                return "has a config.json larger than any model's"
            damaged = archive.testzip()
            if damaged is not None:
                return f"is damaged: its member {damaged} fails its checksum"
            config = json.loads(archive.read("config.json"))
    except FileNotFoundError:
        return "is missing"
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, NotImplementedError):
        return "is not a whole Keras model file (truncated, or not a zip)"
    except OSError as error:
        return f"cannot be read: {error.strerror or error}"
    if layer is not None and layer not in _layer_names(config):
        return f"is not this run's: it has no model named '{layer}'"
    return None


def _layer_names(config: Any) -> set[str]:
    inner = config.get("config") if isinstance(config, dict) else None
    layers = inner.get("layers") if isinstance(inner, dict) else None
    names = set()
    for layer in layers if isinstance(layers, list) else ():
        if isinstance(layer, dict):
            name = layer.get("name") or (layer.get("config") or {}).get("name")
            names.add(name)
    return names


def _fits(value: Any, annotation: str) -> bool:
    """Whether a JSON ``value`` fits a dataclass field's annotation (as written in runs.py)."""
    return any(_fits_one(value, part.strip()) for part in annotation.split("|"))


def _fits_one(value: Any, kind: str) -> bool:
    if kind == "None":
        return value is None
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind.startswith("tuple["):
        return isinstance(value, list | tuple) and all(isinstance(item, str) for item in value)
    if kind.startswith("dict[") or kind == "Best":
        return isinstance(value, dict)
    return True  # Any


def _numbers(value: Any) -> bool:
    return isinstance(value, list) and all(_fits_one(item, "float") for item in value)


def _kind(value: Any) -> str:
    return {list: "a list", str: "text", type(None): "null"}.get(type(value), "a number")


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."
