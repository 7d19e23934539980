"""Images as arrays: decoding one image file safely, and a folder or archive of class folders.

Takes image bytes (or the paths of image files, for predict) and the size a model input takes;
gives uint8 arrays of that size. A folder or .zip/.tar(.gz) laid out CLASS/IMAGE (or
TOP/CLASS/IMAGE) becomes a :class:`~layerkit.data.dataset.Dataset` with labels numbered by
class folder in name order; its members are listed by :mod:`~layerkit.data.archives` and
read one at a time, only the images among them.

Only formats Pillow decodes by itself, without an external program (:data:`IMAGE_FORMATS`), are
read; an image over :func:`pixel_limit` pixels (a decompression bomb) is refused before it is
decoded; 16-bit images are scaled to 8 bits, not clipped.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from .archives import MAX_FILE_BYTES, Member, NotRegular, TooLarge, members, read_regular
from .dataset import DataError, Dataset

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
# What Pillow decodes in its own code for those suffixes (JPEG includes a phone camera's
# multi-picture JPEG); never EPS, PDF or the like, which it hands to an external program such
# as Ghostscript.
IMAGE_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "WEBP")
MAX_PIXELS = 50_000_000  # one image; 150 MB as RGB. Pillow's own limit, if lower, wins
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
MODES = {1: "L", 3: "RGB", 4: "RGBA"}


class ImageTooLarge(Exception):
    """An image with more pixels than :func:`pixel_limit` allows, found from its header."""


class WrongSize(Exception):
    """An image of another size than the model takes, when resizing was not asked for."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        super().__init__(f"{width}x{height}")


def pixel_limit() -> int:
    """The most pixels one image may have: :data:`MAX_PIXELS`, or Pillow's
    ``Image.MAX_IMAGE_PIXELS`` where that is lower."""
    from PIL import Image

    theirs = Image.MAX_IMAGE_PIXELS
    return min(MAX_PIXELS, int(theirs)) if theirs else MAX_PIXELS


def decode_image(data: bytes, size: tuple[int, int, int], resize: bool) -> np.ndarray:
    """``data`` decoded to a (height, width, channels) uint8 array of ``size``.

    Raises:
        ImageTooLarge: over :func:`pixel_limit` pixels, said before anything is decoded.
        WrongSize: another size, and ``resize`` is false.
        PIL.UnidentifiedImageError, OSError, SyntaxError, ValueError: not an image Pillow
            decodes by itself, or a damaged one.
    """
    from PIL import Image, UnidentifiedImageError

    height, width, channels = size
    limit = pixel_limit()
    try:
        opened = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
    except Image.DecompressionBombError as error:  # Pillow's check, past twice its own limit
        raise ImageTooLarge(f"{error}; the limit is {limit:,} pixels") from None
    except UnidentifiedImageError:  # Pillow's message names an in-memory object's address
        raise UnidentifiedImageError(
            f"it is not an image in a format layerkit reads ({', '.join(IMAGE_FORMATS)})"
        ) from None
    with opened as image:
        found = image.size[0] * image.size[1]
        if found > limit:
            raise ImageTooLarge(
                f"{image.size[0]}x{image.size[1]} is {found:,} pixels, over the limit of "
                f"{limit:,} pixels for one image"
            )
        if image.size != (width, height) and not resize:
            raise WrongSize(*image.size)
        image.load()
        eight = _eight_bit(image)
        if eight.size != (width, height):
            eight = eight.resize((width, height), Image.BILINEAR)
        return np.asarray(eight.convert(MODES[channels])).reshape(height, width, channels)


def _eight_bit(image: Any) -> Any:
    """A 16-bit grey image scaled to 8 bits (its high byte), where converting would clip every
    value above 255 to white; other images as they are (Pillow reads 16-bit colour as 8-bit)."""
    from PIL import Image

    if image.mode not in SIXTEEN_BIT_MODES:
        return image
    values = np.asarray(image).astype(np.int64)
    scaled = (np.clip(values, 0, 65535) >> 8).astype(np.uint8)
    return Image.fromarray(scaled, "L")


def _system_file(name: str) -> bool:
    """What an operating system adds to a folder or zip, not the user's images: macOS's
    __MACOSX folder and ._ resource forks."""
    parts = PurePosixPath(name).parts
    return "__MACOSX" in parts or parts[-1].startswith("._")


def _class_of(name: str, depth: int) -> str | None:
    parts = PurePosixPath(name).parts
    return parts[depth] if len(parts) == depth + 2 else None


def _images_and_layout(
    path: Path, listed: list[Member]
) -> tuple[list[Member], tuple[str, ...], int]:
    """The image members of ``listed`` (non-images are never read), their class names and the
    depth of the class folders; a layout that would mislabel images is refused."""
    listed = [member for member in listed if not _system_file(member.name)]
    folders = [member.name for member in listed if member.size is None]
    entries = [
        member
        for member in listed
        if member.size is not None and member.name.lower().endswith(IMAGE_SUFFIXES)
    ]
    if not entries:
        raise DataError(
            f"no images ({', '.join(IMAGE_SUFFIXES)}) in '{path}'; it should hold one folder per "
            "class, e.g. train/cat/0001.jpg"
        )
    # class folders are one level down, or two when the archive wraps everything in one folder
    names = [member.name for member in entries]
    tops = {PurePosixPath(name).parts[0] for name in names}
    depth = 1 if len(tops) == 1 and all(len(PurePosixPath(n).parts) == 3 for n in names) else 0
    stray = [name for name in names if _class_of(name, depth) is None]
    if stray:
        raise DataError(
            f"'{stray[0]}' in '{path}' is not inside a class folder; images must be at "
            f"CLASS/IMAGE{' under one top folder' if depth else ''}"
        )
    class_names = tuple(sorted({_class_of(name, depth) for name in names}))  # type: ignore[misc]
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
    return entries, class_names, depth


def decode_images(
    path: Path, size: tuple[int, int, int], *, skip_bad: bool, resize: bool
) -> Dataset:
    """The images of the folder or archive at ``path``, decoded to ``size``, labelled by class
    folder; with ``skip_bad``, images that cannot be read are left out and named in
    ``skipped``. An image over the size limits is refused either way, the limit named."""
    height, width, channels = size
    with members(path) as listed:
        entries, class_names, depth = _images_and_layout(path, listed)
        images = np.empty((len(entries), height, width, channels), dtype=np.uint8)
        labels = np.empty(len(entries), dtype=np.int64)
        read = np.zeros(len(entries), dtype=bool)
        # in the archive's order: a compressed tar read in name order would inflate its
        # stream again from the start for every image that lies before the previous one
        for index in sorted(range(len(entries)), key=lambda index: entries[index].position):
            array = _member_image(entries[index], path, size, resize, skip_bad)
            if array is not None:
                images[index], read[index] = array, True
        kept = np.flatnonzero(read)
        for slot, index in enumerate(kept):  # close the gaps of skipped images, in place
            images[slot] = images[index]
            labels[slot] = class_names.index(_class_of(entries[index].name, depth))  # type: ignore[arg-type]
    skipped = tuple(member.name for member, ok in zip(entries, read, strict=True) if not ok)
    count = len(kept)
    return Dataset(images[:count], labels[:count], class_names, str(path), skipped)


def _member_image(member: Member, path: Path, size: tuple[int, int, int], resize: bool,
                  skip_bad: bool) -> np.ndarray | None:  # fmt: skip
    """One member decoded, or None where it is to be skipped (``skip_bad``)."""
    from PIL import UnidentifiedImageError

    where = f"image '{member.name}' in '{path}'"
    try:
        return decode_image(member.read(MAX_FILE_BYTES), size, resize)
    except (TooLarge, ImageTooLarge) as error:
        raise DataError(f"{where} is too large to decode safely ({error}); remove it") from None
    except WrongSize as wrong:
        raise DataError(
            f"{where} is {wrong.width}x{wrong.height}, but the spec's input is "
            f"{size[1]}x{size[0]}; resize the images, or pass --resize (data: {{resize: true}})"
        ) from None
    except NotRegular:  # a file that turned into a FIFO or device since it was listed
        return None if skip_bad else _unreadable(where, "it is not a regular file")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        return None if skip_bad else _unreadable(where, str(error))


def _unreadable(where: str, reason: str) -> None:
    raise DataError(
        f"cannot read {where}: {reason}; remove it, or pass --skip-bad-images to leave such "
        "files out (they are counted)"
    )


# -- image files named on the command line (predict) ---------------------------------------------


def image_files(paths: Iterable[Path]) -> list[Path]:
    """The image files named, with folders expanded (sorted), in the order given. In a folder,
    only regular files count (a FIFO named x.jpg is not an image), and not what an operating
    system adds (macOS's ``._`` files and ``__MACOSX``, as training skips them); a path named
    that is not one is refused."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(
                p
                for p in path.rglob("*")
                if p.suffix.lower() in IMAGE_SUFFIXES
                and not _system_file(p.relative_to(path).as_posix())
                and p.is_file()
            )
        elif path.is_file():
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                raise DataError(
                    f"'{path}' is not an image file layerkit reads ({', '.join(IMAGE_SUFFIXES)}); "
                    "convert it to PNG or JPEG"
                )
            files.append(path)
        elif path.exists():
            raise DataError(
                f"'{path}' is not a regular file (a FIFO, socket or device); give image files "
                "or folders of them"
            )
        else:
            raise DataError(f"'{path}' does not exist")
    if not files:
        raise DataError("no images to predict (looked for " + ", ".join(IMAGE_SUFFIXES) + ")")
    return files


def read_image_files(files: list[Path], size: tuple[int, int, int], resize: bool) -> np.ndarray:
    """The image files decoded to ``size``, stacked; a file that cannot be read is refused."""
    from PIL import UnidentifiedImageError

    images = []
    for file in files:
        try:
            images.append(decode_image(read_regular(file, MAX_FILE_BYTES), size, resize))
        except (TooLarge, ImageTooLarge) as error:
            raise DataError(
                f"image '{file}' is too large to decode safely ({error}); remove it"
            ) from None
        except WrongSize as wrong:
            raise DataError(
                f"image '{file}' is {wrong.width}x{wrong.height}, the model takes "
                f"{size[1]}x{size[0]}; pass --resize to resize it"
            ) from None
        except NotRegular:
            raise DataError(f"cannot read image '{file}': it is not a regular file") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
            raise DataError(f"cannot read image '{file}': {error}") from None
    return np.stack(images)
