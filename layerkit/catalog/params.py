"""How many parameters a layer holds, per layer class: one formula each, from plain numbers.

Used both ways round: :mod:`layerkit.model.estimate` counts a plan's parameters before anything
is built, and :mod:`layerkit.importer.infer` searches for the arguments that give the count a
printed summary shows. Both reading one formula keeps them from drifting apart; both are tested
against Keras's own counts (``tests/test_estimate.py``, ``tests/test_import.py``).

No Keras here: sizes and flags in, a count out. ``taps`` is a kernel's number of positions (the
product of its ``kernel_size``), ``channels`` the input's channel (or feature) count.
"""

from __future__ import annotations

# recurrent class name → weight matrices per unit (one per gate)
RECURRENT_GATES = {"SimpleRNN": 1, "GRU": 3, "LSTM": 4}


def _bias(size: int, use_bias: bool) -> int:
    return size if use_bias else 0


def dense(features: int, units: int, use_bias: bool) -> int:
    """``Dense``: a ``features × units`` kernel and a bias per unit."""
    return features * units + _bias(units, use_bias)


def convolution(taps: int, channels: int, filters: int, use_bias: bool, groups: int = 1) -> int:
    """``Conv1D``/``Conv2D``/``Conv3D``: each group's filters see ``channels / groups`` channels."""
    return taps * channels // groups * filters + _bias(filters, use_bias)


def transposed_convolution(taps: int, channels: int, filters: int, use_bias: bool) -> int:
    """``Conv1DTranspose``/``Conv2DTranspose``/``Conv3DTranspose``."""
    return taps * channels * filters + _bias(filters, use_bias)


def depthwise_convolution(taps: int, channels: int, depth_multiplier: int, use_bias: bool) -> int:
    """``DepthwiseConv1D``/``DepthwiseConv2D``: ``depth_multiplier`` kernels per input channel."""
    depth = channels * depth_multiplier
    return taps * depth + _bias(depth, use_bias)


def separable_convolution(
    taps: int, channels: int, depth_multiplier: int, filters: int, use_bias: bool
) -> int:
    """``SeparableConv1D``/``SeparableConv2D``: a depthwise kernel, then a 1×1 one (one bias)."""
    depth = channels * depth_multiplier
    return taps * depth + depth * filters + _bias(filters, use_bias)


def embedding(input_dim: int, output_dim: int) -> int:
    """``Embedding``: one vector per token."""
    return input_dim * output_dim


def batch_normalization(channels: int, center: bool, scale: bool) -> int:
    """``BatchNormalization``: the moving mean and variance, plus beta (center) and gamma (scale)."""
    return channels * (2 + int(center) + int(scale))


def layer_normalization(channels: int, center: bool, scale: bool) -> int:
    """``LayerNormalization`` and ``GroupNormalization``: beta (center) and gamma (scale)."""
    return channels * (int(center) + int(scale))


def recurrent(
    class_name: str, features: int, units: int, use_bias: bool, reset_after: bool = False
) -> int:
    """``SimpleRNN``, ``GRU``, ``LSTM``: per gate an input and a recurrent kernel and a bias; a GRU
    with ``reset_after`` (Keras's default) has a second bias per gate."""
    gates = RECURRENT_GATES[class_name]
    biases = 2 if class_name == "GRU" and reset_after else 1
    return gates * (units * (features + units) + _bias(units * biases, use_bias))


def multi_head_attention(
    query_features: int,
    key_features: int,
    value_features: int,
    heads: int,
    key_dim: int,
    value_dim: int,
    output_features: int,
    use_bias: bool,
) -> int:
    """``MultiHeadAttention``: a query, key and value projection per head (``key_dim`` wide for the
    query and key, ``value_dim`` for the value), each with a bias, then an output projection of the
    heads back to ``output_features`` (the query's features unless ``output_shape`` says)."""
    projections = (query_features + key_features) * heads * key_dim
    projections += value_features * heads * value_dim
    biases = _bias(heads * (2 * key_dim + value_dim) + output_features, use_bias)
    return projections + heads * value_dim * output_features + biases


def layer_scale(projection_dim: int) -> int:
    """layerkit's ``LayerScale``: one factor per channel."""
    return projection_dim


def position_embedding(sequence_length: int, features: int) -> int:
    """layerkit's ``PositionEmbedding``: one vector of ``features`` per position."""
    return sequence_length * features
