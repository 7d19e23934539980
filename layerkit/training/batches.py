"""The training samples as batches in an order drawn from the run's seed and the epoch alone, so
a resumed run sees what the uninterrupted one saw; under data-parallel training (JAX) each
process takes its slice of every batch (:class:`~layerkit.training.distributed.Share`), and the
validation images come as batches a process slices the same way; with ``alternating_flip`` in
``augment:``, each image mirrored on every other epoch, as drawn from the seed, the epoch and the
image."""

from __future__ import annotations

import math

import keras
import numpy as np

from .distributed import Share


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
                 first_epoch: int, share: Share | None = None,
                 alternate_flips: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.x = x
        self.y = y
        self.batch_size = batch_size
        self.share = share or Share()
        self.steps = steps_per_epoch(len(x), batch_size, self.share)
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
        chosen = own_slice(chosen[: self.share.trim(len(chosen))], self.share)
        x = self.x[chosen]
        if self.alternate_flips:
            mirror = alternating_flips(self.seed, len(self.x), self.first_epoch + epoch)[chosen]
            x[mirror] = x[mirror][:, :, ::-1]  # the width axis (x is a copy)
        return x, self.y[chosen]


def steps_per_epoch(count: int, batch_size: int, share: Share) -> int:
    """Batches in an epoch of ``count`` samples: the last, smaller one cut to what splits evenly
    over the devices (``count % devices`` samples of each epoch's order sit that epoch out),
    dropped where nothing of it is left."""
    full, rest = divmod(count, batch_size)
    return full + (share.trim(rest) > 0)


def own_slice(batch: np.ndarray, share: Share) -> np.ndarray:
    """This process's contiguous slice of a batch (all of it for a single process), so that the
    processes' slices, put together in process order, are the batch."""
    size = len(batch) // share.processes
    return batch[share.index * size : (share.index + 1) * size]


class ValidationBatches(keras.utils.PyDataset):
    """The validation images in batches for data-parallel training, each process taking its slice;
    a last batch that does not split evenly over the devices is filled up with copies weighted 0,
    so every image counts once in the accuracy. (Keras weighs the batch's mean loss by its full
    size: val_loss is then low by a factor of ``images / (images + copies)``, copies < devices.)"""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, share: Share) -> None:
        super().__init__()
        self.x, self.y, self.batch_size, self.share = x, y, batch_size, share

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        chosen = np.arange(index * self.batch_size, min((index + 1) * self.batch_size, len(self.x)))
        weights = np.ones(len(chosen), "float32")
        missing = -len(chosen) % self.share.devices
        chosen = np.concatenate([chosen, np.resize(chosen, missing)])
        weights = np.concatenate([weights, np.zeros(missing, "float32")])
        mine = own_slice(np.arange(len(chosen)), self.share)
        return self.x[chosen[mine]], self.y[chosen[mine]], weights[mine]
