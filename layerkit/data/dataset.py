"""What every data reader gives, and what a model input asks of it.

A reader (an image folder or archive, an .npz, a built-in dataset) gives a :class:`Dataset`:
images as uint8 or float arrays, integer labels and the class names they index. It refuses what
it cannot use with a :class:`DataError`, and tells its caller lesser news through a
:data:`Notify`. :func:`image_size` says what images a model input takes; :func:`check_samples`
checks arrays against it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import LayerkitError

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
