"""Training data: built-in datasets, image folders and archives, and .npz arrays, as numpy arrays.

Takes a source (a built-in name or a path) and the model input's shape; gives a
:class:`~layerkit.data.dataset.Dataset` (images as uint8 or float arrays, integer labels,
class names) from the reader the source's form chooses (:mod:`~layerkit.data.images`,
:mod:`~layerkit.data.arrays`, :mod:`~layerkit.data.keras_datasets`), and the seeded
split into training and validation samples. Also resolves which source a run uses, and fetches
a built-in one before anything heavy starts. Decoding a folder or an archive of images is done
once: the arrays are cached (:mod:`~layerkit.data.cache`), keyed by the source's
content, so a second run starts in seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import Location, SpecError, did_you_mean
from . import keras_datasets
from .arrays import read_npz
from .cache import DamagedCache, cache_dir, content_key, read_cache, write_cache
from .dataset import DataError, Dataset, Notify, image_size
from .downloads import DownloadError, Progress
from .images import decode_images

BUILTIN = tuple(keras_datasets.BUILTINS)


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
    if not path.is_dir() and not path.is_file():
        raise DataError(
            f"'{path}' is not a regular file or a folder (a FIFO, socket or device); give a "
            "folder, an archive or an .npz"
        )
    if path.suffix.lower() == ".npz":
        return read_npz(path)
    height, width, channels = image_size(image_shape)
    key = content_key(path, (height, width, channels, skip_bad, resize))
    cached = cache_dir() / f"{key}.npz"
    if cached.is_file():
        try:
            return read_cache(cached, source)
        except DamagedCache as damage:
            if notify is not None:
                notify(
                    f"warning: the cached images {cached} are damaged ({damage}); decoding "
                    f"'{source}' again"
                )
    dataset = decode_images(path, (height, width, channels), skip_bad=skip_bad, resize=resize)
    write_cache(cached, dataset, notify)
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
    except DownloadError as error:
        if location is None:
            raise DataError(str(error)) from None
        raise SpecError(error.problem, location, "data.source", error.fix) from None


def _builtin(name: str, progress: Progress | None) -> Dataset:
    """A keras.datasets dataset from Keras's cache, fetched there first if it is missing."""
    try:
        x, y, x_test, y_test = keras_datasets.load(name, progress)
    except DownloadError as error:
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
