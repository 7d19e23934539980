"""The built-in datasets (``cifar10``, ``cifar100``, ``mnist``, ``fashion_mnist``), kept where
``keras.datasets`` keeps them.

Each dataset is downloaded once into Keras's own cache (``$KERAS_HOME/datasets``, by default
``~/.keras/datasets``) from the address ``keras.datasets`` uses, checked against the SHA-256 that
``keras.datasets`` checks, unpacked in Keras's layout, and from then on read from there — so a cache
filled by ``keras.datasets.cifar10.load_data()`` (Keras 3, or tf.keras 2's older layout) serves
layerkit as it is, and one filled by layerkit serves Keras. Reading needs numpy only, never
TensorFlow; the pickled CIFAR batches are read with an unpickler that rebuilds numpy arrays and
nothing else.

Downloading and unpacking is :mod:`~layerkit.data.downloads`; this module holds the table of
datasets, reads their published formats and finds them in the cache.
"""

from __future__ import annotations

import gzip
import math
import os
import pickle
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .downloads import DownloadError, Progress, RemoteFile, download, unpack
from .npz import ArrayProblem, opened_npz, read_array

KERAS_STORAGE = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
TORONTO = "https://www.cs.toronto.edu/~kriz/"

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")  # fmt: skip
FASHION_CLASSES = ("t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
                   "sneaker", "bag", "ankle boot")  # fmt: skip
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")  # fmt: skip

MAX_IDX_VALUES = 100_000_000  # the largest published idx file holds 47,040,000

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # x, y, x_test, y_test


@dataclass(frozen=True)
class Builtin:
    """A built-in dataset: its files, the folders that hold them once unpacked (newest layout
    first), what reads them, and its class names."""

    name: str
    files: tuple[RemoteFile, ...]
    folders: tuple[str, ...]  # relative to the datasets folder; the first is where we unpack
    marker: str  # a file inside a folder that says the dataset is there
    read: Callable[[Path], Arrays]
    classes: tuple[str, ...] | None = None


# -- reading the published formats ---------------------------------------------------------------


class _ArraysOnly(pickle.Unpickler):
    """Unpickles dicts, lists, numbers, bytes and numpy arrays; refuses every other global, so a
    tampered cache file cannot run code."""

    ALLOWED = frozenset({("numpy", "ndarray"), ("numpy", "dtype"),
                         ("numpy.core.multiarray", "_reconstruct"),
                         ("numpy._core.multiarray", "_reconstruct")})  # fmt: skip

    def find_class(self, module: str, name: str) -> type:
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _cifar_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as file:
            batch = _ArraysOnly(file, encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[label_key.encode()], dtype=np.int64)
        images = data.reshape(len(data), 3, 32, 32).transpose(0, 2, 3, 1)
    except (OSError, EOFError, pickle.UnpicklingError, KeyError, TypeError, ValueError) as error:
        raise DownloadError(
            f"'{path}' is not a CIFAR batch as keras.datasets writes it ({error})",
            f"Delete {path.parent} so it is fetched again.",
        ) from None
    if len(labels) != len(images):
        raise DownloadError(
            f"'{path}' holds {len(images)} images but {len(labels)} labels",
            f"Delete {path.parent} so it is fetched again.",
        )
    return images, labels


def _read_cifar10(folder: Path) -> Arrays:
    parts = [_cifar_batch(folder / f"data_batch_{index}", "labels") for index in range(1, 6)]
    x_test, y_test = _cifar_batch(folder / "test_batch", "labels")
    x = np.concatenate([images for images, _ in parts])
    y = np.concatenate([labels for _, labels in parts])
    return x, y, x_test, y_test


def _read_cifar100(folder: Path) -> Arrays:
    return (*_cifar_batch(folder / "train", "fine_labels"),
            *_cifar_batch(folder / "test", "fine_labels"))  # fmt: skip


def _read_mnist(folder: Path) -> Arrays:
    path = folder / "mnist.npz"
    try:  # each array's header checked before it is read (a damaged cache cannot claim 8 TB)
        with opened_npz(path) as archive:
            x, x_test = (read_array(archive, key, "u") for key in ("x_train", "x_test"))
            y, y_test = (read_array(archive, key, "iu") for key in ("y_train", "y_test"))
    except ArrayProblem as problem:
        raise DownloadError(
            f"'{path}' is not the MNIST file keras.datasets keeps ({problem})",
            "Delete it so it is fetched again.",
        ) from None
    return x, y.astype(np.int64), x_test, y_test.astype(np.int64)


def read_idx(path: Path) -> np.ndarray:
    """An array from the idx format (gzip-compressed) MNIST and Fashion-MNIST are published in."""
    try:
        with gzip.open(path, "rb") as file:  # the header first: only what it claims is read
            zero, dtype_code, dims = struct.unpack(">HBB", file.read(4))
            if zero != 0 or dtype_code != 0x08:
                raise ValueError("not an idx file of unsigned bytes")
            shape = struct.unpack(f">{dims}I", file.read(4 * dims))
            size = math.prod(shape)
            if size > MAX_IDX_VALUES:
                raise ValueError(f"its header claims {size:,} values, over {MAX_IDX_VALUES:,}")
            data = file.read(size)
        if len(data) != size:
            raise ValueError(f"it holds {len(data):,} of the {size:,} values its header claims")
        return np.frombuffer(data, dtype=np.uint8).reshape(shape)
    except (OSError, EOFError, struct.error, ValueError) as error:
        raise DownloadError(
            f"cannot read '{path}' as an idx file ({error})", "Delete it so it is fetched again."
        ) from None


def _read_fashion(folder: Path) -> Arrays:
    x, y, x_test, y_test = (read_idx(folder / name) for name in FASHION_FILES)
    return x, y.astype(np.int64), x_test, y_test.astype(np.int64)


# -- the table -----------------------------------------------------------------------------------
# Addresses, cache names and checksums as keras.datasets (Keras 3) has them; the second folder of
# each CIFAR entry is tf.keras 2's layout, which a user's existing cache may have.

BUILTINS: dict[str, Builtin] = {
    "cifar10": Builtin(
        "cifar10",
        (
            RemoteFile(
                f"{TORONTO}cifar-10-python.tar.gz",
                "cifar-10-batches-py-target_archive",
                "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
                unpack_to="cifar-10-batches-py-target",
            ),
        ),
        ("cifar-10-batches-py-target/cifar-10-batches-py", "cifar-10-batches-py"),
        "test_batch",
        _read_cifar10,
        CIFAR10_CLASSES,
    ),
    "cifar100": Builtin(
        "cifar100",
        (
            RemoteFile(
                f"{TORONTO}cifar-100-python.tar.gz",
                "cifar-100-python-target_archive",
                "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
                unpack_to="cifar-100-python-target",
            ),
        ),
        ("cifar-100-python-target/cifar-100-python", "cifar-100-python"),
        "test",
        _read_cifar100,
    ),
    "mnist": Builtin(
        "mnist",
        (
            RemoteFile(
                f"{KERAS_STORAGE}mnist.npz",
                "mnist.npz",
                "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
            ),
        ),
        (".",),
        "mnist.npz",
        _read_mnist,
    ),
    "fashion_mnist": Builtin(
        "fashion_mnist",
        tuple(
            RemoteFile(f"{KERAS_STORAGE}{name}", f"fashion-mnist/{name}", None)
            for name in FASHION_FILES
        ),
        ("fashion-mnist",),
        FASHION_FILES[-1],
        _read_fashion,
        FASHION_CLASSES,
    ),
}


def datasets_folder() -> Path:
    """Keras's dataset cache: ``$KERAS_HOME/datasets``, else ``~/.keras/datasets`` (``/tmp/.keras``
    when the home folder is not writable, as Keras decides)."""
    if "KERAS_HOME" in os.environ:
        home = Path(os.environ["KERAS_HOME"]).expanduser()
    else:
        base = Path.home()
        home = (base if os.access(base, os.W_OK) else Path("/tmp")) / ".keras"
    return home / "datasets"


def unpacked_folder(dataset: Builtin, root: Path | None = None) -> Path | None:
    """The folder that holds ``dataset``'s files in the cache, or None when it is not there
    (for Fashion-MNIST, also Debian's ``dataset-fashion-mnist`` package)."""
    root = root or datasets_folder()
    for folder in dataset.folders:
        if (root / folder / dataset.marker).is_file():
            return root / folder
    if dataset.name == "fashion_mnist" and (DEBIAN_FASHION_MNIST / dataset.marker).is_file():
        return DEBIAN_FASHION_MNIST
    return None


def fetch(name: str, progress: Progress | None = None, root: Path | None = None,
          files: tuple[RemoteFile, ...] | None = None) -> Path:  # fmt: skip
    """Make sure the built-in dataset ``name`` is in Keras's cache; return the folder it is in.

    A dataset already there is used as it is. Otherwise each missing file is downloaded (to a
    temporary name, checked, then renamed, so an interrupted download leaves nothing half-made),
    and archives are unpacked into Keras's layout. ``files`` replaces the table's downloads (a
    test serves a small archive of the same format with its own checksum).

    Raises:
        DownloadError: offline, a failed or corrupted download, or an archive that does not hold
            the dataset; the message names the file, where to put it, and ``--data`` instead.
    """
    dataset = BUILTINS[name]
    root = root or datasets_folder()
    found = unpacked_folder(dataset, root)
    if found is not None:
        return found
    for remote in files or dataset.files:
        target = root / remote.path
        if not target.is_file():
            download(dataset.name, remote, target, progress)
        if remote.unpack_to is not None:
            unpack(target, root / remote.unpack_to)
    found = unpacked_folder(dataset, root)
    if found is None:
        raise DownloadError(
            f"the files fetched for '{name}' into {root} do not hold {dataset.marker} where "
            f"keras.datasets expects it ({root / dataset.folders[0]})",
            "Delete them so they are fetched again, or give --data PATH.",
        )
    return found


def load(name: str, progress: Progress | None = None) -> Arrays:
    """The arrays of the built-in dataset ``name``, fetched first if needed."""
    return BUILTINS[name].read(fetch(name, progress))
