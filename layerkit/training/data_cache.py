"""The cache of decoded images: a folder's or archive's arrays kept for the next run.

Takes a source path and the options its images were decoded with; gives the key of its entry
(a hash of the archive's bytes, or of a folder's names, sizes and times), and reads or writes the
entry, an .npz under ``$LAYERKIT_CACHE`` (default ``~/.cache/layerkit``), so a second run on the
same images starts in seconds.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from ..files import atomic_output
from .dataset import Dataset, Notify

CACHE_VERSION = 1  # bump when the cached format changes


def cache_dir() -> Path:
    """Where decoded images are cached: ``$LAYERKIT_CACHE``, else ``~/.cache/layerkit``."""
    return Path(os.environ.get("LAYERKIT_CACHE", Path.home() / ".cache" / "layerkit"))


def content_key(path: Path, options: tuple) -> str:
    """A hash of what the images are: the archive's bytes, or a folder's names, sizes and times."""
    digest = hashlib.sha256(repr((CACHE_VERSION, options)).encode())
    if path.is_file():
        with open(path, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    else:
        for file in sorted(path.rglob("*")):
            if file.is_dir():  # an added (even empty) class folder changes what the data is
                digest.update(f"{file.relative_to(path)}/\n".encode())
            elif file.is_file():
                stat = file.stat()
                digest.update(
                    f"{file.relative_to(path)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode()
                )
    return digest.hexdigest()[:32]


def write_cache(path: Path, dataset: Dataset, notify: Notify | None) -> None:
    """Keep the decoded arrays for next time; a cache that cannot be written only costs that."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(path) as temporary:
            np.savez(
                temporary,
                x=dataset.x,
                y=dataset.y,
                class_names=np.array(dataset.class_names),
                skipped=np.array(dataset.skipped, dtype=str),
            )
    except OSError as error:
        if notify is not None:
            notify(
                f"warning: cannot cache the decoded images in {path.parent} "
                f"({error.strerror or error}); they will be decoded again next time "
                "(LAYERKIT_CACHE sets the folder)"
            )


def read_cache(path: Path, source: str) -> Dataset:
    with np.load(path, allow_pickle=False) as arrays:
        return Dataset(
            arrays["x"],
            arrays["y"],
            tuple(str(name) for name in arrays["class_names"]),
            source,
            tuple(str(name) for name in arrays["skipped"]),
        )
