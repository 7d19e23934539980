"""Reading a dataset saved as numpy arrays (.npz).

Takes an .npz holding x_train and y_train (optionally x_test, y_test and class_names); gives a
:class:`~layerkit.training.dataset.Dataset` whose labels are checked to be one integer class per
sample, inside the classes. Object arrays (pickles) are never loaded.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .dataset import DataError, Dataset


def read_npz(path: Path) -> Dataset:
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
