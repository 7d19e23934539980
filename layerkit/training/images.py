"""Reading images from a folder or a .zip/.tar(.gz) archive of class folders.

Takes the path of a folder or archive laid out CLASS/IMAGE (or TOP/CLASS/IMAGE) and the image
size a model input takes; gives a :class:`~layerkit.training.dataset.Dataset` of uint8 images
and labels numbered by class folder, in name order. Archives are read in memory, never
extracted; members that leave the archive's folder are refused.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import numpy as np

from .dataset import DataError, Dataset

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")


def _entries(path: Path) -> Iterator[tuple[str, bytes | None]]:
    """(relative name, bytes) of every file in a folder, .tar(.gz) or .zip, in name order, and
    (name, None) for every folder in it."""
    if path.is_dir():
        yield from _folder_entries(path)
        return
    name = path.name.lower()
    try:
        if name.endswith(".zip"):
            yield from _zip_entries(path)
            return
        if name.endswith((".tar", ".tar.gz", ".tgz")):
            yield from _tar_entries(path)
            return
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as error:
        # tarfile lists every compression it tried, a line each: the gist is the last one
        detail = str(error).strip().splitlines()[-1].lstrip("- ") if str(error) else "unreadable"
        raise DataError(
            f"cannot read archive '{path}' ({detail}); give a whole .tar, .tar.gz or .zip of "
            "class folders"
        ) from None
    raise DataError(
        f"'{path}' is not a folder, .tar, .tar.gz, .zip or .npz file; point --data at one of those"
    )


def _folder_entries(path: Path) -> Iterator[tuple[str, bytes | None]]:
    for file in sorted(path.rglob("*")):
        if file.is_file():
            yield file.relative_to(path).as_posix(), file.read_bytes()
        elif file.is_dir():
            yield file.relative_to(path).as_posix(), None


def _zip_entries(path: Path) -> Iterator[tuple[str, bytes | None]]:
    with zipfile.ZipFile(path) as archive:
        for info in sorted(archive.infolist(), key=lambda info: info.filename):
            name = _safe_member(info.filename.rstrip("/"), path)
            yield name, None if info.is_dir() else archive.read(info)


def _tar_entries(path: Path) -> Iterator[tuple[str, bytes | None]]:
    with tarfile.open(path) as archive:
        for member in sorted(archive.getmembers(), key=lambda member: member.name):
            if member.isdir():
                yield _safe_member(member.name, path), None
            elif member.isfile():
                file = archive.extractfile(member)
                if file is not None:
                    yield _safe_member(member.name, path), file.read()


def _safe_member(name: str, archive: Path) -> str:
    parts = PurePosixPath(name).parts
    if name.startswith("/") or ".." in parts:
        raise DataError(
            f"archive '{archive}' has a path that leaves its folder: '{name}'; refusing to use it"
        )
    return name


def _system_file(name: str) -> bool:
    """What an operating system adds to a folder or zip, not the user's images: macOS's
    __MACOSX folder and ._ resource forks."""
    parts = PurePosixPath(name).parts
    return "__MACOSX" in parts or parts[-1].startswith("._")


def _class_of(name: str, depth: int) -> str | None:
    parts = PurePosixPath(name).parts
    return parts[depth] if len(parts) == depth + 2 else None


def decode_images(
    path: Path, size: tuple[int, int, int], *, skip_bad: bool, resize: bool
) -> Dataset:
    from PIL import Image, UnidentifiedImageError

    everything = [(name, data) for name, data in _entries(path) if not _system_file(name)]
    folders = [name for name, data in everything if data is None]
    entries = [
        (name, data)
        for name, data in everything
        if data is not None and name.lower().endswith(IMAGE_SUFFIXES)
    ]
    if not entries:
        raise DataError(
            f"no images ({', '.join(IMAGE_SUFFIXES)}) in '{path}'; it should hold one folder per "
            "class, e.g. train/cat/0001.jpg"
        )
    # class folders are one level down, or two when the archive wraps everything in one folder
    tops = {PurePosixPath(name).parts[0] for name, _ in entries}
    depth = 1 if len(tops) == 1 and all(len(PurePosixPath(n).parts) == 3 for n, _ in entries) else 0
    stray = [name for name, _ in entries if _class_of(name, depth) is None]
    if stray:
        raise DataError(
            f"'{stray[0]}' in '{path}' is not inside a class folder; images must be at "
            f"CLASS/IMAGE{' under one top folder' if depth else ''}"
        )
    class_names = tuple(sorted({_class_of(name, depth) for name, _ in entries}))  # type: ignore[misc]
    # an empty class folder would silently shift every later class's label: refuse it
    empty = [
        name
        for name in folders
        if len(PurePosixPath(name).parts) == depth + 1
        and PurePosixPath(name).parts[-1] not in class_names
    ]
    if empty:
        raise DataError(
            f"class folder '{empty[0]}' in '{path}' has no images; add images to it or remove it"
        )
    if len(class_names) < 2:
        raise DataError(
            f"'{path}' has one class folder ({class_names[0]}); a classifier needs two or more"
        )
    height, width, channels = size
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
    images = np.empty((len(entries), height, width, channels), dtype=np.uint8)
    labels = np.empty(len(entries), dtype=np.int64)
    skipped: list[str] = []
    count = 0
    for name, data in entries:
        try:
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                if image.size != (width, height):
                    if not resize:
                        raise DataError(
                            f"image '{name}' in '{path}' is {image.size[0]}x{image.size[1]}, but "
                            f"the spec's input is {width}x{height}; resize the images, or pass "
                            "--resize (data: {resize: true})"
                        )
                    image = image.resize((width, height), Image.BILINEAR)
                array = np.asarray(image.convert(mode))
        except Image.DecompressionBombError as error:  # a small file that decodes to a huge image
            raise DataError(
                f"image '{name}' in '{path}' is too large to decode safely ({error}); remove it"
            ) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
            if not skip_bad:
                raise DataError(
                    f"cannot read image '{name}' in '{path}': {error}; remove it, or pass "
                    "--skip-bad-images to leave such files out (they are counted)"
                ) from None
            skipped.append(name)
            continue
        images[count] = array.reshape(height, width, channels)
        labels[count] = class_names.index(_class_of(name, depth))  # type: ignore[arg-type]
        count += 1
    return Dataset(images[:count], labels[:count], class_names, str(path), tuple(skipped))
