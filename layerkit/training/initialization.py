"""A new run's convolutions initialised from ``train.init`` (as airbench initialises its network):
``dirac`` makes each plain ``conv2d`` start as the identity on its first channels, and ``whiten``
makes the first one start as the whitening of the training images' patches.

Takes the spec's built model and the run's training images as the model is fed them (before input
scaling); sets the kernels in place, before the first step. The weights stay trainable, so the
parameter counts do not change. Only a new run is initialised: a resumed one has its weights from
its checkpoint.
"""

from __future__ import annotations

import keras
import numpy as np

from ..spec.settings import Init, Normalize
from .batches import derived_seed
from .model import channel_axis, scale_inputs

WHITENING_IMAGES = 5000  # the training images whose patches are measured (airbench: 5,000)
WHITENING_STREAM = 0x57484954  # sets the whitening sample apart from the other seeded draws
PATCH_VALUES = 2**22  # float64 patch values made at once (32 MiB), whatever the image size
IMAGE_VALUES = 2**24  # input values fed to the layers before the first conv2d at once


def whitening_sample(train_index: np.ndarray, seed: int) -> np.ndarray:
    """Which training images whitening measures: up to :data:`WHITENING_IMAGES` of them, drawn
    from the seed (the training indices are sorted, and folders of images come class by
    class)."""
    order = np.random.default_rng(derived_seed(seed, WHITENING_STREAM)).permutation(
        len(train_index)
    )
    return np.sort(train_index[order[:WHITENING_IMAGES]])


def plain_convolutions(model: keras.Model) -> list[keras.layers.Conv2D]:
    """The model's ``conv2d`` layers with one group, in the model's order (nested ones too)."""
    return [layer for layer in model._flatten_layers(include_self=False)
            if isinstance(layer, keras.layers.Conv2D) and layer.groups == 1]  # fmt: skip


def whitening_problem(model: keras.Model) -> str | None:
    """Why the first plain ``conv2d`` cannot start as a whitening of patches: a dilated kernel
    (its taps are not a patch of neighbouring pixels) or an input smaller than the kernel."""
    convolutions = plain_convolutions(model)
    if not convolutions:
        return None
    first = convolutions[0]
    if tuple(first.dilation_rate) != (1, 1):
        return (f"the first conv2d ('{first.name}') has dilation_rate "
                f"{list(first.dilation_rate)}, so its taps are not a patch")  # fmt: skip
    try:
        shape = tuple(first.input.shape)
    except (AttributeError, ValueError):  # a layer called more than once has no one input
        return None
    sizes = shape[2:4] if first.data_format == "channels_first" else shape[1:3]
    kernel = tuple(first.kernel.shape[:2])
    if any(size is not None and size < side for size, side in zip(sizes, kernel, strict=True)):
        return (f"the first conv2d ('{first.name}') sees {sizes[0]}x{sizes[1]} inputs, smaller "
                f"than its {kernel[0]}x{kernel[1]} kernel")  # fmt: skip
    return None


def dirac_kernel(kernel: np.ndarray) -> np.ndarray:
    """``kernel`` (height, width, in, out) with its first min(in, out) filters made identities:
    filter i passes input channel i through unchanged under ``same`` padding; the other filters
    keep their values (airbench: ``dirac_`` on the first ``in`` filters)."""
    height, width, inputs, outputs = kernel.shape
    kernel = kernel.copy()
    count = min(inputs, outputs)
    kernel[:, :, :, :count] = 0
    # the tap that 'same' padding lines up with the output pixel: (size - 1) // 2 before it
    kernel[(height - 1) // 2, (width - 1) // 2, np.arange(count), np.arange(count)] = 1
    return kernel


def patch_sums(images: np.ndarray, height: int, width: int,
               budget: int = PATCH_VALUES) -> tuple[np.ndarray, int]:  # fmt: skip
    """The sum of ``p pᵀ`` over every ``height`` × ``width`` patch ``p`` of ``images`` (a batch,
    height, width, channels), each patch flattened as a kernel is: (row, column, channel); and
    how many patches there were. The patches are made a few at a time, at most about ``budget``
    float64 values at once: whole images where they fit, else bands of rows of one image."""
    size = height * width * images.shape[-1]
    rows, columns = images.shape[1] - height + 1, images.shape[2] - width + 1
    per_row = max(1, columns * size)  # the patch values of one row of patches
    count = max(1, budget // (per_row * rows))  # images at once
    band = rows if count > 1 or per_row * rows <= budget else max(1, budget // per_row)
    total, patches_seen = np.zeros((size, size)), 0
    for start in range(0, len(images), count):
        for top in range(0, rows, band):
            part = images[start : start + count, top : top + band + height - 1]
            windows = np.lib.stride_tricks.sliding_window_view(part, (height, width), axis=(1, 2))
            # (batch, rows, columns, channels, height, width) -> one patch a row, copied once
            patches = windows.transpose(0, 1, 2, 4, 5, 3).astype("float64", order="C")
            patches = patches.reshape(-1, size)
            total += patches.T @ patches
            patches_seen += len(patches)
            del patches  # before the next is made
    return total, patches_seen


def patch_moments(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """The uncentred second moments of every ``height`` × ``width`` patch of ``images`` (a batch,
    height, width, channels), each patch flattened as a kernel is: (row, column, channel)."""
    total, count = patch_sums(images, height, width)
    return total / count


def whitening_kernel(kernel: np.ndarray, moments: np.ndarray, eps: float) -> np.ndarray:
    """``kernel`` (height, width, in, out) as airbench's whitening of patches with these second
    ``moments`` (:func:`patch_moments`): filter j is the j-th eigenvector of the moments (largest
    eigenvalue first) divided by sqrt(eigenvalue + eps), so the filters' responses are
    uncorrelated with variance near 1; the next filters are the same negated (a ReLU after keeps
    both signs); any beyond twice the patch size keep their values."""
    height, width, inputs, outputs = kernel.shape
    eigenvalues, eigenvectors = np.linalg.eigh(moments)
    order = np.argsort(eigenvalues)[::-1]
    filters = eigenvectors[:, order] / np.sqrt(np.maximum(eigenvalues[order], 0) + eps)
    filters = np.concatenate([filters, -filters], axis=1)[:, :outputs]
    kernel = kernel.copy()
    kernel[:, :, :, : filters.shape[1]] = filters.reshape(height, width, inputs, -1)
    return kernel


def first_input_moments(model: keras.Model, first: keras.layers.Conv2D, images: np.ndarray,
                        normalize: Normalize) -> np.ndarray:  # fmt: skip
    """The second moments of the patches ``first`` sees of the (unscaled) training ``images``,
    as its input comes out of the layers before it: the images go through them a few at a time
    (at most about :data:`IMAGE_VALUES` input values), so memory stays bounded for any image
    size. A ``channels_first`` layer's input is turned channels-last, as its kernel is laid
    out."""
    shape = tuple(model.inputs[0].shape[1:])
    before = keras.Model(model.inputs, first.input)
    height, width = first.kernel.shape[:2]
    axis = channel_axis(model)
    step = max(1, IMAGE_VALUES // max(1, int(np.prod(images.shape[1:]))))
    total, count = 0.0, 0
    for start in range(0, len(images), step):
        sample = scale_inputs(images[start : start + step], normalize, shape, axis)
        seen = before.predict(sample, batch_size=500, verbose=0)
        if first.data_format == "channels_first":
            seen = np.moveaxis(seen, 1, -1)
        sums, patches = patch_sums(seen, height, width)
        total, count = total + sums, count + patches
    return total / count


def initialize(model: keras.Model, init: Init, images: np.ndarray, normalize: Normalize) -> None:
    """Set the kernels ``init`` asks for, from the training ``images`` (unscaled) where it
    whitens; each layer's bias is left as Keras made it (zeros by default)."""
    convolutions = plain_convolutions(model)
    if init.whiten and convolutions:
        first = convolutions.pop(0)
        moments = first_input_moments(model, first, images, normalize)
        kernel = keras.ops.convert_to_numpy(first.kernel)
        whitened = whitening_kernel(kernel, moments, init.whiten_eps)
        first.kernel.assign(whitened.astype(kernel.dtype))
    if init.dirac:
        for layer in convolutions:
            layer.kernel.assign(dirac_kernel(keras.ops.convert_to_numpy(layer.kernel)))
