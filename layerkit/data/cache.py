"""The cache of decoded images: a folder's or archive's arrays kept for the next run.

Takes a source path and the options its images were decoded with; gives the key of its entry
(a hash of the archive's bytes, or of a folder's names, sizes and times), and reads or writes the
entry, an .npz under ``$LAYERKIT_CACHE`` (default ``~/.cache/layerkit``), so a second run on the
same images starts in seconds. An entry is read back with its checksums and headers checked
(:mod:`~layerkit.data.npz`): a damaged one is reported as such, to be decoded again.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from ..files import atomic_output
from .dataset import Dataset, Notify
from .npz import ArrayProblem, opened_npz, read_array

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


class DamagedCache(Exception):
    """A cache entry that cannot be read back whole: why."""


def read_cache(path: Path, source: str) -> Dataset:
    """The dataset cached at ``path``, checked: every member's CRC (a zip's checksum), its
    headers, and that images, labels and class names agree; :class:`DamagedCache` otherwise."""
    try:
        with opened_npz(path) as archive:
            x = read_array(archive, "x", "u", ndim_at_least=4)
            y = read_array(archive, "y", "i")
            names = tuple(str(name) for name in read_array(archive, "class_names", "U"))
            skipped = tuple(str(name) for name in read_array(archive, "skipped", "U"))
    except ArrayProblem as problem:
        raise DamagedCache(str(problem)) from None
    if x.ndim != 4 or y.ndim != 1 or len(x) != len(y):
        raise DamagedCache(f"{len(x)} images of {x.shape[1:]} but {len(y)} labels")
    if len(y) and (y.min() < 0 or y.max() >= len(names)):
        raise DamagedCache(f"labels outside the {len(names)} classes")
    return Dataset(x, y, names, source, skipped)
