"""FLOPs of one forward pass, counted as multiply-adds (MACs) for a single input.

Conventions (those of fvcore and most papers' "FLOPs" tables):

* a weighted layer counts one multiply-add per weight use: a convolution counts
  ``output elements × kernel elements × input channels / groups``, a dense layer
  ``input units × output units`` per position; bias additions are not counted;
* normalization layers count one multiply-add per output element (their affine transform, folded
  at inference);
* recurrent layers count their input and recurrent matrix products for every time step;
* layers without weights (pooling, activations, dropout, reshapes, merges) and lookups
  (Embedding) count 0;
* a weighted layer this module has no formula for counts as unknown (None), never a guess.

Counters are registered by class name in ``COUNTERS``; add one with :func:`flop_counter`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..catalog import params
from .shapes import Shape

Counter = Callable[[Any, Shape, Shape], int | None]

# class name → function(layer, input shape, output shape) giving the multiply-adds for one sample
COUNTERS: dict[str, Counter] = {}


def flop_counter(*class_names: str) -> Callable[[Counter], Counter]:
    """Register a counter for the named layer classes."""

    def decorate(counter: Counter) -> Counter:
        for class_name in class_names:
            COUNTERS[class_name] = counter
        return counter

    return decorate


def _size(shape: Shape) -> int:
    # the batch dimension is dropped; a free size (None) makes the count unknown
    dims = shape[1:]
    if any(dim is None for dim in dims):
        raise _Unknown
    return math.prod(dims)


class _Unknown(Exception):
    pass


def _channels_axis(layer: Any) -> int:
    return 1 if getattr(layer, "data_format", "channels_last") == "channels_first" else -1


def _spatial_size(shape: Shape, layer: Any) -> int:
    dims = list(shape[1:])
    del dims[_channels_axis(layer)]
    if any(dim is None for dim in dims):
        raise _Unknown
    return math.prod(dims)


@flop_counter("Conv1D", "Conv2D", "Conv3D")
def _conv(layer: Any, input_shape: Shape, output_shape: Shape) -> int:
    in_channels = input_shape[_channels_axis(layer)]
    kernel = math.prod(layer.kernel_size)
    return _size(output_shape) * kernel * in_channels // layer.groups


@flop_counter("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")
def _conv_transpose(layer: Any, input_shape: Shape, output_shape: Shape) -> int:
    in_channels = input_shape[_channels_axis(layer)]
    kernel = math.prod(layer.kernel_size)
    return _spatial_size(input_shape, layer) * in_channels * kernel * layer.filters


@flop_counter("DepthwiseConv1D", "DepthwiseConv2D")
def _depthwise(layer: Any, input_shape: Shape, output_shape: Shape) -> int:
    return _size(output_shape) * math.prod(layer.kernel_size)


@flop_counter("SeparableConv1D", "SeparableConv2D")
def _separable(layer: Any, input_shape: Shape, output_shape: Shape) -> int:
    in_channels = input_shape[_channels_axis(layer)]
    depthwise_channels = in_channels * layer.depth_multiplier
    spatial = _spatial_size(output_shape, layer)
    return spatial * depthwise_channels * (math.prod(layer.kernel_size) + layer.filters)


@flop_counter("Dense")
def _dense(layer: Any, input_shape: Shape, output_shape: Shape) -> int:
    return _size(input_shape) * layer.units


@flop_counter(
    "BatchNormalization",
    "LayerNormalization",
    "GroupNormalization",
    "RMSNormalization",
    "UnitNormalization",
    "Normalization",
    "PReLU",
)
def _elementwise(layer: Any, input_shape: Shape, output_shape: Shape) -> int:
    return _size(output_shape)


@flop_counter("Embedding")
def _lookup(layer: Any, input_shape: Shape, output_shape: Shape) -> int:
    return 0


@flop_counter(*params.RECURRENT_GATES)
def _recurrent(layer: Any, input_shape: Shape, output_shape: Shape) -> int:
    steps, features = input_shape[1], input_shape[-1]
    if steps is None or features is None:
        raise _Unknown
    # every weight of the input and recurrent kernels is used once per step; biases not counted
    return steps * params.recurrent(type(layer).__name__, features, layer.units, use_bias=False)


@flop_counter("Bidirectional")
def _bidirectional(layer: Any, input_shape: Shape, output_shape: Shape) -> int | None:
    total = 0
    for inner in (layer.forward_layer, layer.backward_layer):
        count = count_flops(inner, input_shape, output_shape)
        if count is None:
            return None
        total += count
    return total


def count_flops(layer: Any, input_shape: Shape, output_shape: Shape) -> int | None:
    """Multiply-adds of ``layer`` for one sample, or None when no formula covers it.

    Args:
        layer: a built Keras layer.
        input_shape: its input shape, batch dimension first.
        output_shape: its output shape, batch dimension first.
    """
    counter = COUNTERS.get(type(layer).__name__)
    if counter is None:
        return None if layer.weights else 0
    try:
        return counter(layer, tuple(input_shape), tuple(output_shape))
    except _Unknown:
        return None
