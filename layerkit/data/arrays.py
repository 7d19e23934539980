"""Reading a dataset saved as numpy arrays (.npz).

Takes an .npz holding x_train and y_train (optionally x_test, y_test and class_names); gives a
:class:`~layerkit.data.dataset.Dataset`. Each array's header is checked before it is read
(:mod:`~layerkit.data.npz`): samples are numbers, labels one integer class per sample inside
the classes — at most :data:`MAX_CLASSES`, so a stray huge label cannot make a name for every
number below it — and every input value a finite number, so NaN or infinity is refused before
training rather than found as a loss of NaN.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from .dataset import DataError, Dataset
from .npz import ArrayProblem, array_names, opened_npz, read_array

MAX_CLASSES = 100_000  # class names of an .npz, or the largest label + 1 without them
SAMPLE_KINDS = "biuf"  # booleans, integers, floats
FINITE_CHUNK = 1 << 22  # values checked at a time, so the check needs little memory


def read_npz(path: Path) -> Dataset:
    """The dataset in the .npz at ``path``.

    Raises:
        DataError: one line naming the file, the array and what is wrong with it.
    """
    try:
        with opened_npz(path) as archive:
            files = array_names(archive)
            _check_members(path, files)
            x, y = _samples(archive, "x_train", path), _labels(archive, "y_train", path)
            x_test = _samples(archive, "x_test", path) if "x_test" in files else None
            y_test = _labels(archive, "y_test", path) if "y_test" in files else None
            names = _class_names(archive, path) if "class_names" in files else None
    except ArrayProblem as problem:  # the archive itself
        raise DataError(
            f"cannot read '{path}' as .npz arrays ({problem}); save it with numpy.savez(path, "
            "x_train=..., y_train=...)"
        ) from None
    if names is None:
        names = _numbered_classes(path, y, y_test)
    for x_part, y_part, name in ((x, y, "train"), (x_test, y_test, "test")):
        if y_part is None or x_part is None:
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


def _check_members(path: Path, files: list[str]) -> None:
    missing = [key for key in ("x_train", "y_train") if key not in files]
    if missing:
        raise DataError(
            f"'{path}' has no {' or '.join(missing)}; a .npz dataset holds x_train and "
            f"y_train (and optionally x_test, y_test); it has: {', '.join(files)}"
        )
    if ("x_test" in files) != ("y_test" in files):
        given, absent = ("x_test", "y_test") if "x_test" in files else ("y_test", "x_test")
        raise DataError(f"'{path}' has {given} but no {absent}; give both, or neither")


def _member(archive: zipfile.ZipFile, key: str, path: Path, kinds: str = SAMPLE_KINDS,
            max_items: int | None = None) -> np.ndarray:  # fmt: skip
    """One array of an .npz, its header checked first; object arrays (pickles), text, single
    values, lying headers and damaged members are refused."""
    try:
        return read_array(archive, key, kinds, max_items)
    except ArrayProblem as problem:
        raise DataError(
            f"cannot read {key} from '{path}' ({problem}); save plain numeric arrays with "
            "numpy.savez"
        ) from None


def _samples(archive: zipfile.ZipFile, key: str, path: Path) -> np.ndarray:
    """The inputs, every value a finite number."""
    x = _member(archive, key, path)
    if x.dtype.kind == "f":
        flat = x.reshape(-1)
        for start in range(0, len(flat), FINITE_CHUNK):
            bad = ~np.isfinite(flat[start : start + FINITE_CHUNK])
            if bad.any():
                _refuse_non_finite(x, key, path)
    return x


def _refuse_non_finite(x: np.ndarray, key: str, path: Path) -> None:
    per_sample = x.reshape(len(x), -1) if x.ndim > 1 else x.reshape(-1, 1)
    bad = ~np.isfinite(per_sample)
    count, first = int(bad.sum()), int(np.flatnonzero(bad.any(axis=1))[0])
    values = (
        f"{count:,} values that are not finite numbers"
        if count > 1
        else ("a value that is not a finite number")
    )
    raise DataError(
        f"'{path}': {key} holds {values} (NaN or infinity), the first in sample {first}; fix "
        "or remove those samples"
    )


def _labels(archive: zipfile.ZipFile, key: str, path: Path) -> np.ndarray:
    """One integer class number per sample; one-hot rows and fractional labels are refused."""
    labels = _member(archive, key, path)
    if labels.ndim == 2 and labels.shape[1] > 1:
        raise DataError(
            f"'{path}': {key} is one-hot ({labels.shape[1]} columns); give class numbers, "
            f"e.g. {key}.argmax(axis=1)"
        )
    labels = labels.reshape(-1)
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"'{path}': {key} must hold integer class labels, it holds {labels.dtype}")
    return labels.astype(np.int64)


def _class_names(archive: zipfile.ZipFile, path: Path) -> tuple[str, ...]:
    names = _member(archive, "class_names", path, "U", MAX_CLASSES)
    return tuple(str(name) for name in names.reshape(-1))


def _numbered_classes(path: Path, y: np.ndarray, y_test: np.ndarray | None) -> tuple[str, ...]:
    """Class names "0", "1", ... up to the largest label, for an .npz without class_names."""
    tops = [(int(labels.max()), key) for labels, key in ((y, "y_train"), (y_test, "y_test"))
            if labels is not None and len(labels)]  # fmt: skip
    if not tops:
        return ()
    top, key = max(tops)
    if top >= MAX_CLASSES:
        raise DataError(
            f"'{path}': {key} holds the label {top:,}, but labels are class numbers below "
            f"{MAX_CLASSES:,} (layerkit's limit on classes); number the classes 0, 1, 2, ..."
        )
    return tuple(str(index) for index in range(top + 1))
