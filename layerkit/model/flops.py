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
* a weighted layer this module has no formula for counts as unknown (None), never a guess;
* ``op:`` nodes (``keras.ops`` calls) follow the same rules: elementwise arithmetic, activations,
  reductions and reshapes count 0, as their layers do (``add`` as ``Add``, ``relu6`` as
  ``ReLU``); the normalization ops count one multiply-add per output element; the products of
  two tensors count theirs (``matmul``: output elements × the shared dimension; ``conv``:
  output elements × kernel taps × input channels per group; ``depthwise_conv``: output elements
  × kernel taps; ``dot_product_attention``:
  the two products of attention); the other contractions and the linear algebra ops (``dot``,
  ``tensordot``, ``solve``…) are unknown (None).

Counters are registered by class name in ``COUNTERS`` (layers) and ``OPERATION_COUNTERS`` (the
classes of Keras's operations); add one with :func:`flop_counter`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..catalog import params
from .shapes import Shape

Counter = Callable[[Any, Shape, Shape], int | None]
OperationCounter = Callable[[list[Shape], Shape], int | None]

# class name → function(layer, input shape, output shape) giving the multiply-adds for one sample
COUNTERS: dict[str, Counter] = {}
# Keras operation class name → function(input shapes, output shape): an op's multiply-adds
OPERATION_COUNTERS: dict[str, OperationCounter] = {}
# the classes of the keras.ops functions that contract tensors or solve systems, without a formula
UNKNOWN_OPERATIONS = frozenset(
    {
        *("Dot", "Tensordot", "Inner", "Vdot", "Correlate", "CDist", "ConvTranspose"),
        *("SeparableConv", "Solve", "SolveTriangular", "Lstsq", "Inv", "Pinv", "Det", "Logdet"),
        *("Cholesky", "CholeskyInverse", "MatrixRank"),
    }
)


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
    "LayerScale",  # layerkit's own: one multiply per element
)
def _elementwise(layer: Any, input_shape: Shape, output_shape: Shape) -> int:
    return _size(output_shape)


@flop_counter("Embedding", "PositionEmbedding")  # a lookup; an addition, like a bias
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


def operation_counter(*class_names: str) -> Callable[[OperationCounter], OperationCounter]:
    """Register a counter for the named Keras operation classes."""

    def decorate(counter: OperationCounter) -> OperationCounter:
        for class_name in class_names:
            OPERATION_COUNTERS[class_name] = counter
        return counter

    return decorate


@operation_counter("BatchNorm", "LayerNorm", "RMSNorm", "Normalize")
def _normalizing(input_shapes: list[Shape], output_shape: Shape) -> int:
    return _size(output_shape)


@operation_counter("Matmul")
def _matmul(input_shapes: list[Shape], output_shape: Shape) -> int:
    shared = input_shapes[0][-1]
    if shared is None:
        raise _Unknown
    return _size(output_shape) * shared


@operation_counter("Conv")
def _conv_op(input_shapes: list[Shape], output_shape: Shape) -> int:
    # kernel: (*spatial, input channels / groups, filters)
    return _size(output_shape) * math.prod(input_shapes[1][:-1])


@operation_counter("DepthwiseConv")
def _depthwise_op(input_shapes: list[Shape], output_shape: Shape) -> int:
    # kernel: (*spatial, input channels, multiplier); each output element uses its taps once
    return _size(output_shape) * math.prod(input_shapes[1][:-2])


@operation_counter("DotProductAttention")
def _attention(input_shapes: list[Shape], output_shape: Shape) -> int:
    # query (batch, T, heads, depth), key (batch, S, heads, depth), value (batch, S, heads, depth_v)
    query, key, value = input_shapes[:3]
    steps, keys, heads, depth = query[1], key[1], query[2], query[3]
    if None in (steps, keys, heads, depth, value[3]):
        raise _Unknown
    return steps * keys * heads * (depth + value[3])


def count_operation_flops(
    class_name: str, input_shapes: list[Shape], output_shape: Shape
) -> int | None:
    """Multiply-adds of one ``keras.ops`` node for one sample: 0 for elementwise ops,
    reductions and reshapes; None for a contraction without a formula (see the module's notes).

    Args:
        class_name: the Keras operation's class (``Add``, ``Matmul``…).
        input_shapes: the shapes of its tensor inputs, batch dimension first.
        output_shape: its output shape, batch dimension first.
    """
    if class_name in UNKNOWN_OPERATIONS:
        return None
    counter = OPERATION_COUNTERS.get(class_name)
    if counter is None:
        return 0
    try:
        return counter([tuple(shape) for shape in input_shapes], tuple(output_shape))
    except _Unknown:
        return None
