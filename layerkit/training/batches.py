"""The training samples as batches in an order drawn from the run's seed and the epoch alone, so
a resumed run sees what the uninterrupted one saw; with ``alternating_flip`` in ``augment:``,
each image mirrored on every other epoch, as drawn from the seed, the epoch and the image."""

from __future__ import annotations

import math

import keras
import numpy as np


def derived_seed(*numbers: int) -> int:
    """A seed below 2**31 (every backend's seed type holds it) drawn from ``numbers``."""
    return int(np.random.SeedSequence(list(numbers)).generate_state(1)[0] & 0x7FFF_FFFF)


FLIP_STREAM = 0x464C4950  # sets the first epoch's flips apart from the epochs' orders


def alternating_flips(seed: int, count: int, epoch: int) -> np.ndarray:
    """Which of ``count`` training images ``alternating_flip`` mirrors in ``epoch`` (0-based): a
    random half, drawn from the seed, in the first epoch, then each epoch exactly the images not
    mirrored in the one before."""
    first = np.random.default_rng(derived_seed(seed, FLIP_STREAM)).random(count) < 0.5
    return first ^ bool(epoch % 2)


class EpochBatches(keras.utils.PyDataset):
    """The training samples as one endless stream of batches, epoch after epoch from
    ``first_epoch``, each epoch in an order drawn from the run's seed and the epoch alone, so a
    resumed run sees the batches the uninterrupted one saw. (Keras's own shuffle of arrays depends
    on how many epochs the process has run, and under TensorFlow repeats one order every epoch
    once a global seed is set.) ``fit`` cuts the stream into epochs with ``steps_per_epoch``.
    With ``alternate_flips`` each image is mirrored as :func:`alternating_flips` says."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, seed: int,
                 first_epoch: int, alternate_flips: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.x = x
        self.y = y
        self.batch_size = batch_size
        self.steps = math.ceil(len(x) / batch_size)
        self.seed = seed
        self.first_epoch = first_epoch
        self.alternate_flips = alternate_flips
        self._order: tuple[int, np.ndarray] | None = None  # the last epoch's order, kept

    @property
    def num_batches(self) -> int | None:
        return None  # endless

    def order(self, epoch: int) -> np.ndarray:
        """The samples' order in ``epoch`` (0-based)."""
        if self._order is None or self._order[0] != epoch:
            rng = np.random.default_rng(derived_seed(self.seed, epoch))
            self._order = (epoch, rng.permutation(len(self.x)))
        return self._order[1]

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        epoch, step = divmod(index, self.steps)
        order = self.order(self.first_epoch + epoch)
        chosen = order[step * self.batch_size : (step + 1) * self.batch_size]
        x = self.x[chosen]
        if self.alternate_flips:
            mirror = alternating_flips(self.seed, len(self.x), self.first_epoch + epoch)[chosen]
            x[mirror] = x[mirror][:, :, ::-1]  # the width axis (x is a copy)
        return x, self.y[chosen]
