"""Augmentation layers Keras does not have, for a spec's ``augment:`` list.

* ``random_padded_crop``: pad each image (by reflection, by default) and cut a random window of the
  original size back out — the "random crop with 4-pixel padding" of CIFAR recipes. Keras's
  ``RandomTranslation`` fills the uncovered border instead, and ``RandomCrop`` makes images smaller.
* ``cutout``: blank one random square per image (DeVries & Taylor, 2017).
* ``alternating_flip``: mirror each training image on every other epoch (airbench, Jordan 2024):
  a random half, drawn from the seed, in the first epoch, then in each epoch exactly the images
  not mirrored in the one before. Which image is which is known only where batches are drawn, so
  :class:`~layerkit.training.batches.EpochBatches` mirrors them there; the layer marks the place.

The first two are written with ``keras.ops`` and ``keras.random`` only, so they run on every backend, inside
the compiled training step; like Keras's own random layers they do nothing outside training. The
catalog lists them beside ``keras.layers`` (see :mod:`layerkit.catalog.layers`).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

PAD_MODES = ("reflect", "symmetric", "constant")


def _require_images(name: str, input_shape: tuple) -> None:
    if len(input_shape) != 4:
        raise ValueError(
            f"{name} works on batches of images (batch, height, width, channels), received "
            f"inputs of shape {tuple(input_shape)}"
        )


@keras.saving.register_keras_serializable(package="layerkit")
class RandomPaddedCrop(keras.layers.Layer):
    """Pad images by ``padding`` pixels on every side, then crop a random window of the input size.

    Args:
        padding: pixels added on each side; the crop moves the image by up to this many pixels.
        fill_mode: how the border is filled: ``reflect`` (mirror without repeating the edge),
            ``symmetric`` (mirror repeating it) or ``constant`` (``fill_value``).
        fill_value: the border's value with ``fill_mode: constant``.
        seed: seed of the random offsets.
    """

    def __init__(self, padding: int = 4, fill_mode: str = "reflect", fill_value: float = 0.0,
                 seed: int | None = None, **kwargs: Any) -> None:  # fmt: skip
        super().__init__(**kwargs)
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise ValueError(f"padding must be a whole number of pixels ≥ 0, received {padding!r}")
        if fill_mode not in PAD_MODES:
            raise ValueError(
                f"fill_mode must be one of {', '.join(PAD_MODES)}, received {fill_mode!r}"
            )
        self.padding = padding
        self.fill_mode = fill_mode
        self.fill_value = fill_value
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape: tuple) -> None:
        _require_images("random_padded_crop", input_shape)
        height, width = input_shape[1], input_shape[2]
        if (
            self.fill_mode == "reflect"
            and height is not None
            and self.padding >= min(height, width)
        ):
            raise ValueError(
                f"reflect padding of {self.padding} needs images larger than that, received "
                f"{height}x{width}"
            )

    def call(self, images: Any, training: bool | None = None) -> Any:
        if not training or self.padding == 0:
            return images
        p = self.padding
        shape = ops.shape(images)
        batch, height, width = shape[0], shape[1], shape[2]
        widths = [[0, 0], [p, p], [p, p], [0, 0]]
        if self.fill_mode == "constant":
            padded = ops.pad(images, widths, mode="constant", constant_values=self.fill_value)
        else:
            padded = ops.pad(images, widths, mode=self.fill_mode)
        top = keras.random.randint((batch, 1), 0, 2 * p + 1, seed=self.seed_generator)
        left = keras.random.randint((batch, 1), 0, 2 * p + 1, seed=self.seed_generator)
        rows = top + ops.expand_dims(ops.arange(height, dtype=top.dtype), 0)  # (batch, height)
        cols = left + ops.expand_dims(ops.arange(width, dtype=left.dtype), 0)  # (batch, width)
        channels = ops.shape(padded)[3]
        rows = ops.broadcast_to(rows[:, :, None, None], (batch, height, width + 2 * p, channels))
        picked = ops.take_along_axis(padded, rows, axis=1)
        cols = ops.broadcast_to(cols[:, None, :, None], (batch, height, width, channels))
        return ops.take_along_axis(picked, cols, axis=2)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(padding=self.padding, fill_mode=self.fill_mode, fill_value=self.fill_value,
                      seed=self.seed)  # fmt: skip
        return config


@keras.saving.register_keras_serializable(package="layerkit")
class Cutout(keras.layers.Layer):
    """Set one random ``size`` × ``size`` square of each image to ``fill_value``.

    The square's centre is anywhere in the image, so near the edges only part of it is inside (as
    in the paper). Augmentation runs after the spec's ``normalize``, so the default ``fill_value``
    of 0 is the mean colour when ``normalize`` has ``mean``/``std``.

    Args:
        size: side of the square in pixels.
        fill_value: the value written over the square.
        seed: seed of the random positions.
    """

    def __init__(self, size: int = 8, fill_value: float = 0.0, seed: int | None = None,
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(**kwargs)
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be a whole number of pixels ≥ 1, received {size!r}")
        self.size = size
        self.fill_value = fill_value
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape: tuple) -> None:
        _require_images("cutout", input_shape)

    def call(self, images: Any, training: bool | None = None) -> Any:
        if not training:
            return images
        shape = ops.shape(images)
        batch, height, width = shape[0], shape[1], shape[2]
        centre_y = keras.random.randint((batch, 1), 0, height, seed=self.seed_generator)
        centre_x = keras.random.randint((batch, 1), 0, width, seed=self.seed_generator)
        low = self.size // 2
        rows = ops.expand_dims(ops.arange(height, dtype=centre_y.dtype), 0) - centre_y + low
        cols = ops.expand_dims(ops.arange(width, dtype=centre_x.dtype), 0) - centre_x + low
        inside_y = ops.logical_and(rows >= 0, rows < self.size)[:, :, None, None]
        inside_x = ops.logical_and(cols >= 0, cols < self.size)[:, None, :, None]
        mask = ops.logical_and(inside_y, inside_x)
        fill = ops.cast(self.fill_value, images.dtype)
        return ops.where(mask, fill, images)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(size=self.size, fill_value=self.fill_value, seed=self.seed)
        return config


@keras.saving.register_keras_serializable(package="layerkit")
class AlternatingFlip(keras.layers.Layer):
    """Mirror each training image left to right on every other epoch (``alternating_flip`` in a
    spec's ``augment:`` list).

    Whether an image is mirrored depends on which image it is and on the epoch: a random half
    (drawn from ``train.seed``) in the first epoch, then exactly the images not mirrored in the
    epoch before. The layer cannot see which image it is given, so training mirrors the images
    as it draws each batch (:class:`~layerkit.training.batches.EpochBatches`) and this layer
    passes them through unchanged; it keeps the setting's place in the training model. Mirroring
    commutes with the input scaling, and where it comes in the ``augment:`` list changes nothing
    about the images a run sees but their order of operations.
    """

    def build(self, input_shape: tuple) -> None:
        _require_images("alternating_flip", input_shape)

    def call(self, images: Any, training: bool | None = None) -> Any:
        return images

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape
