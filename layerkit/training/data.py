"""Training data: built-in datasets, image folders and archives, and .npz arrays, as numpy arrays.

Every source becomes a :class:`Dataset` (images as uint8 or float arrays, integer labels, class
names). Decoding a folder or an archive of images is done once: the arrays are cached under
``$LAYERKIT_CACHE`` (default ``~/.cache/layerkit``), keyed by the source's content, so a second
run starts in seconds. An archive of the user's is read in memory, never extracted. Built-in
datasets are fetched into, and read from, Keras's own cache (:mod:`layerkit.training.keras_datasets`).
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from ..errors import LayerkitError, Location, SpecError, did_you_mean
from ..files import atomic_output
from . import keras_datasets
from .keras_datasets import Progress

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
BUILTIN = tuple(keras_datasets.BUILTINS)
CACHE_VERSION = 1  # bump when the cached format changes

# Where loading data reports what its caller may want to show (a cache that cannot be written, a
# download starting and ending): one line of text each. The CLI prints them on stderr.
Notify = Callable[[str], None]


class DataError(LayerkitError):
    """Data that cannot be used, with what to do about it."""


@dataclass(frozen=True)
class Dataset:
    """Images (N, H, W, C) and integer labels (N,), with the class names labels index."""

    x: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    source: str
    skipped: tuple[str, ...] = ()  # images left out with on_bad_image=skip
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.y)


def cache_dir() -> Path:
    return Path(os.environ.get("LAYERKIT_CACHE", Path.home() / ".cache" / "layerkit"))


def load_dataset(
    source: str,
    image_shape: tuple[int | None, ...],
    *,
    skip_bad: bool = False,
    resize: bool = False,
    progress: Progress | None = None,
    notify: Notify | None = None,
) -> Dataset:
    """Load ``source`` (a built-in name or a path) as images of ``image_shape`` (H, W, C).

    A built-in dataset missing from Keras's cache is downloaded there first, reporting to
    ``progress`` (or, without one, a line to ``notify`` where it starts and one where it ends).
    A cache of decoded images that cannot be written is said to ``notify``; nothing is printed.

    Raises:
        DataError: the source cannot be found, fetched or read, or its images do not fit.
    """
    path = Path(source).expanduser()
    if not path.exists():
        if source in BUILTIN:
            return _builtin(source, progress or announcer(notify))
        raise DataError(_not_found(source))
    if path.suffix.lower() == ".npz":
        return _npz(path)
    height, width, channels = image_size(image_shape)
    key = _content_key(path, (height, width, channels, skip_bad, resize))
    cached = cache_dir() / f"{key}.npz"
    if cached.is_file():
        return _read_cache(cached, source)
    dataset = _decode_images(path, (height, width, channels), skip_bad=skip_bad, resize=resize)
    _write_cache(cached, dataset, notify)
    return dataset


def _not_found(source: str) -> str:
    hint = did_you_mean(source, BUILTIN)
    return (
        f"data '{source}' is neither a file or folder nor a built-in dataset "
        f"({', '.join(BUILTIN)})" + (f". {hint}" if hint else "")
    )


def resolve_source(given: str | None, spec_source: str | None, spec_file: str,
                   location: Location | None) -> str:  # fmt: skip
    """The training data a run uses: ``given`` (``--data``), else the spec's ``data.source`` — a
    path relative to the spec file, or a built-in name. Checked to exist before anything heavy
    starts; a missing built-in is not fetched here (see :func:`fetch_builtin`).

    Raises:
        DataError: no data named, or ``--data`` names nothing that exists.
        SpecError: the spec's ``data.source`` names nothing that exists, at its line.
    """
    if given is not None:
        if Path(given).expanduser().exists() or given in BUILTIN:
            return given
        raise DataError(f"--data: {_not_found(given)}; give an existing path or a built-in name")
    if spec_source is None:
        raise DataError(
            "no training data: give --data PATH (a folder or archive of class folders, an .npz, "
            f"or a built-in name: {', '.join(BUILTIN)}), or data: {{source: ...}} in the spec"
        )
    base = Path(spec_file).parent if spec_file != "<string>" else Path()
    beside = base / Path(spec_source).expanduser()  # an absolute source stays as it is
    if beside.exists():
        return str(beside)
    if spec_source in BUILTIN:
        return spec_source
    looked = f" (looked for {beside})"
    hint = did_you_mean(spec_source, BUILTIN)
    raise SpecError(
        f"'{spec_source}' is neither a file or folder{looked} nor a built-in dataset "
        f"({', '.join(BUILTIN)})",
        location,
        "data.source",
        hint or "Give a path relative to the spec file, or a built-in name, or pass --data PATH.",
    )


def fetch_builtin(source: str, location: Location | None, progress: Progress | None,
                  notify: Notify | None = None) -> None:  # fmt: skip
    """Download a built-in ``source`` into Keras's cache unless it is there (a path: nothing to
    do), so a run finds out it is offline before TensorFlow loads and before any run directory.
    The download reports to ``progress``, or without one a line to ``notify`` at its start and
    end.

    Raises:
        SpecError: at ``location`` (the spec's ``data.source``) when the download fails there.
        DataError: the same, for a ``--data`` name.
    """
    if source not in BUILTIN or Path(source).exists():
        return
    try:
        keras_datasets.fetch(source, progress or announcer(notify))
    except keras_datasets.DownloadError as error:
        if location is None:
            raise DataError(str(error)) from None
        raise SpecError(error.problem, location, "data.source", error.fix) from None


def image_size(
    shape: tuple[int | None, ...], fix: str = "use an .npz of arrays in its shape instead"
) -> tuple[int, int, int]:
    """(height, width, channels) of the images a model input of ``shape`` takes."""
    if len(shape) == 2 and all(shape):
        return shape[0], shape[1], 1  # a (28, 28) input takes grey images
    if len(shape) == 3 and all(shape) and shape[2] in (1, 3, 4):
        return shape  # type: ignore[return-value]
    raise DataError(
        f"image files need a model input of fixed size, (height, width) or (height, width, "
        f"channels) with 1, 3 or 4 channels; this input is {list(shape)}: {fix}"
    )


def check_samples(x: np.ndarray, shape: tuple[int | None, ...], what: str) -> None:
    """Samples must have the input's shape (grey images may come without their channel axis)."""
    if x.shape[1:] != tuple(shape) and (*x.shape[1:], 1) != tuple(shape):
        raise DataError(
            f"the data's samples are {tuple(x.shape[1:])}, but {what} is {tuple(shape)}; give "
            "data of that shape"
        )


# -- image folders and archives ------------------------------------------------------------------


def _content_key(path: Path, options: tuple) -> str:
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


def _decode_images(
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


def _write_cache(path: Path, dataset: Dataset, notify: Notify | None) -> None:
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


def _read_cache(path: Path, source: str) -> Dataset:
    with np.load(path, allow_pickle=False) as arrays:
        return Dataset(
            arrays["x"],
            arrays["y"],
            tuple(str(name) for name in arrays["class_names"]),
            source,
            tuple(str(name) for name in arrays["skipped"]),
        )


# -- arrays ------------------------------------------------------------------------------------


def _npz(path: Path) -> Dataset:
    try:
        arrays = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        # numpy reads what is not a zip of arrays as a pickle, which is never loaded here
        detail = "not a zip of arrays" if "pickled" in str(error) else str(error)
        raise DataError(
            f"cannot read '{path}' as .npz arrays ({detail}); save it with numpy.savez(path, "
            "x_train=..., y_train=...)"
        ) from None
    with arrays:
        missing = [key for key in ("x_train", "y_train") if key not in arrays.files]
        if missing:
            raise DataError(
                f"'{path}' has no {' or '.join(missing)}; a .npz dataset holds x_train and "
                f"y_train (and optionally x_test, y_test); it has: {', '.join(arrays.files)}"
            )
        if ("x_test" in arrays.files) != ("y_test" in arrays.files):
            given, absent = (
                ("x_test", "y_test") if "x_test" in arrays.files else ("y_test", "x_test")
            )
            raise DataError(f"'{path}' has {given} but no {absent}; give both, or neither")
        x, y = _member(arrays, "x_train", path), _labels(arrays, "y_train", path)
        x_test = _member(arrays, "x_test", path) if "x_test" in arrays.files else None
        y_test = _labels(arrays, "y_test", path) if "y_test" in arrays.files else None
        names = (
            tuple(str(n) for n in _member(arrays, "class_names", path))
            if "class_names" in arrays.files
            else None
        )
    if names is None:
        tops = [int(labels.max()) for labels in (y, y_test) if labels is not None and len(labels)]
        names = tuple(str(index) for index in range(max(tops) + 1)) if tops else ()
    for x_part, y_part, name in ((x, y, "train"), (x_test, y_test, "test")):
        if y_part is None:
            continue
        if len(x_part) != len(y_part):
            raise DataError(
                f"'{path}': x_{name} has {len(x_part)} samples but y_{name} {len(y_part)}"
            )
        if len(y_part) and (y_part.min() < 0 or y_part.max() >= len(names)):
            raise DataError(
                f"'{path}': y_{name} labels run from {y_part.min()} to {y_part.max()}, outside "
                f"0..{len(names) - 1} for {len(names)} classes"
            )
    return Dataset(x, y, names, str(path), (), x_test, y_test)


def _member(arrays: Any, key: str, path: Path) -> np.ndarray:
    """One array of an .npz; object arrays (pickles) and damaged members are refused."""
    try:
        return arrays[key]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        detail = (
            "it holds Python objects, which are never loaded"
            if "allow_pickle" in str(error)
            else str(error)
        )
        raise DataError(
            f"cannot read {key} from '{path}' ({detail}); save plain numeric arrays with "
            "numpy.savez"
        ) from None


def _labels(arrays: Any, key: str, path: Path) -> np.ndarray:
    """One integer class number per sample; one-hot rows and fractional labels are refused."""
    labels = _member(arrays, key, path)
    if labels.ndim == 2 and labels.shape[1] > 1:
        raise DataError(
            f"'{path}': {key} is one-hot ({labels.shape[1]} columns); give class numbers, "
            f"e.g. {key}.argmax(axis=1)"
        )
    labels = labels.reshape(-1)
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"'{path}': {key} must hold integer class labels, it holds {labels.dtype}")
    return labels.astype(np.int64)


# -- built-in datasets -----------------------------------------------------------------------------


def _builtin(name: str, progress: Progress | None) -> Dataset:
    """A keras.datasets dataset from Keras's cache, fetched there first if it is missing."""
    try:
        x, y, x_test, y_test = keras_datasets.load(name, progress)
    except keras_datasets.DownloadError as error:
        raise DataError(str(error)) from None
    classes = keras_datasets.BUILTINS[name].classes or tuple(
        str(index) for index in range(int(y.max()) + 1)
    )
    return Dataset(x, y, classes, name, (), x_test, y_test)


def announcer(notify: Notify | None) -> Progress | None:
    """Without a progress display: a download's progress as one line to ``notify`` when it
    starts and one when it ends (None without ``notify``: nothing to say it to)."""
    if notify is None:
        return None

    def announce(url: str, done: int, total: int | None) -> None:
        if done == 0:
            size = f" ({total / 1e6:.1f} MB)" if total else ""
            notify(f"downloading {url}{size} into Keras's dataset cache…")
        elif done == total:
            notify(f"downloaded {url}")

    return announce


def split(dataset: Dataset, validation: float | int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training and validation parts: a fixed, seeded shuffle, so every run (and a
    resumed run) holds out the same samples."""
    count = len(dataset)
    held_out = validation if isinstance(validation, int) else round(count * validation)
    if held_out >= count:
        raise DataError(
            f"validation_split {validation} leaves no training data out of {count} samples"
        )
    order = np.random.default_rng(seed).permutation(count)
    return np.sort(order[held_out:]), np.sort(order[:held_out])
