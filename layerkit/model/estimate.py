"""How many parameters a plan will hold, worked out before any weight is allocated.

``build`` checks this first, so a spec that asks for a 50 GB model fails in a second with a clear
message instead of exhausting memory. Shapes come from each layer's ``compute_output_shape`` (no
weights are created), or for an ``op:`` from applying it to symbolic tensors; parameters from
the formulas of the layers that hold them (an op holds none). A layer without a
formula counts 0, so the figure is a lower bound; for every shipped spec it is exact (a test
checks this).
"""

from __future__ import annotations

import math
from typing import Any

from ..catalog import params
from ..errors import SpecError
from ..spec.plan import Plan, layer_names
from .instances import make_layer
from .operations import symbolic_output

DEFAULT_LIMIT = 1_000_000_000  # parameters; 4 GB as float32 weights, before optimizer state
BYTES_PER_PARAM = 4


def _channels(shape: tuple, layer: Any) -> int:
    axis = 1 if getattr(layer, "data_format", "channels_last") == "channels_first" else -1
    return int(shape[axis])


# The convolution layers counted; _convolution_params tells the variants apart by name.
_CONVOLUTIONS = frozenset(
    {
        *("Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"),
        *("DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D"),
    }
)


def layer_params(layer: Any, input_shape: Any, named: dict[str, Any] | None = None) -> int:
    """Parameters of one (unbuilt) layer for its input shape; 0 when no formula covers it.

    ``named`` holds the shapes of inputs passed by name (``query``, ``value``…), where the spec
    wires them so. The formulas are :mod:`layerkit.catalog.params`'s; this reads their sizes off
    the layer.
    """
    kind = type(layer).__name__
    # several inputs come as a list of shapes; one shape may itself be a list (Conv2DTranspose's
    # compute_output_shape gives one), so look inside before taking the first
    several = isinstance(input_shape, list) and isinstance(input_shape[0], list | tuple)
    shape = input_shape[0] if several else input_shape
    use_bias = bool(getattr(layer, "use_bias", False))
    if kind == "Dense":
        return params.dense(int(shape[-1]), layer.units, use_bias)
    if kind in _CONVOLUTIONS:
        return _convolution_params(kind, layer, shape, use_bias)
    if kind == "Embedding":
        return params.embedding(layer.input_dim, layer.output_dim)
    if kind == "BatchNormalization":
        channels = int(shape[layer.axis if isinstance(layer.axis, int) else layer.axis[0]])
        return params.batch_normalization(channels, layer.center, layer.scale)
    if kind == "LayerNormalization":
        return params.layer_normalization(int(shape[-1]), layer.center, layer.scale)
    if kind == "GroupNormalization":
        return params.layer_normalization(int(shape[layer.axis]), layer.center, layer.scale)
    if kind in params.RECURRENT_GATES:
        reset_after = bool(getattr(layer, "reset_after", False))
        return params.recurrent(kind, int(shape[-1]), layer.units, use_bias, reset_after)
    if kind == "Bidirectional":
        return layer_params(layer.forward_layer, shape) + layer_params(layer.backward_layer, shape)
    if kind == "TimeDistributed":
        return layer_params(layer.layer, (shape[0], *shape[2:]))
    return _other_params(kind, layer, shape, named or {})


def _other_params(kind: str, layer: Any, shape: tuple, named: dict[str, Any]) -> int:
    """Attention and layerkit's own layers; 0 for a layer no formula covers."""
    if kind == "MultiHeadAttention":
        config = layer.get_config()
        query = named.get("query", shape)
        value = named.get("value", query)
        key = named.get("key", value)
        output = config["output_shape"] or query[-1]
        return params.multi_head_attention(
            int(query[-1]),
            int(key[-1]),
            int(value[-1]),
            config["num_heads"],
            config["key_dim"],
            config["value_dim"] or config["key_dim"],
            math.prod(output) if isinstance(output, list | tuple) else int(output),
            config["use_bias"],
        )
    if kind == "Normalization" and layer.input_mean is None:
        # adapted: a mean and a variance per position of the normalized axes, and a count
        return 2 * math.prod(int(shape[axis]) for axis in layer.axis) + 1
    if kind == "LayerScale":
        return params.layer_scale(layer.projection_dim)
    if kind == "PositionEmbedding":
        return params.position_embedding(layer.sequence_length, int(shape[-1]))
    return 0


def _convolution_params(kind: str, layer: Any, shape: tuple, use_bias: bool) -> int:
    taps, channels = math.prod(layer.kernel_size), _channels(shape, layer)
    if kind.endswith("Transpose"):
        return params.transposed_convolution(taps, channels, layer.filters, use_bias)
    if kind.startswith("Depthwise"):
        return params.depthwise_convolution(taps, channels, layer.depth_multiplier, use_bias)
    if kind.startswith("Separable"):
        return params.separable_convolution(
            taps, channels, layer.depth_multiplier, layer.filters, use_bias
        )
    return params.convolution(taps, channels, layer.filters, use_bias, layer.groups)


def estimate_params(plan: Plan) -> tuple[int, dict[str, int]] | None:
    """(total, parameters per node key), or None when a shape cannot be worked out without
    building (a custom layer without compute_output_shape, say). Layers come from the plan's
    registry; an op holds no parameters, and its output shape comes from applying it to
    symbolic tensors."""
    names = layer_names(plan)
    shapes: dict[str, Any] = {item.key: (None, *item.spec.shape) for item in plan.inputs}
    dtypes: dict[str, str | None] = {item.key: item.spec.dtype for item in plan.inputs}
    per_node: dict[str, int] = {}
    for node in plan.layers:
        feeds = [shapes[key] for key in node.inputs]
        try:
            if node.operation:
                output = symbolic_output(node, feeds, [dtypes.get(key) for key in node.inputs])
                shapes[node.key], dtypes[node.key] = tuple(output.shape), output.dtype
                per_node[node.key] = 0
                continue
            layer = make_layer(node, plan.registry, names[node.key])
            shapes[node.key] = _output_shape(layer, node.input_names, feeds)
            # an unknown (None) size where the weights need one fails here too
            input_shape = feeds[0] if len(feeds) == 1 else feeds
            named = dict(zip(node.input_names, feeds, strict=True)) if node.input_names else None
            per_node[node.key] = 0 if node.shares else layer_params(layer, input_shape, named)
        except Exception:  # any failure here is the real build's to report, with its place
            return None
    return sum(per_node.values()), per_node


def _output_shape(layer: Any, input_names: tuple[str, ...] | None, feeds: list[Any]) -> Any:
    """A layer's output shape for its input shapes: ``compute_output_shape(query_shape=…,
    value_shape=…)`` for inputs passed by name, as Keras's layers name those parameters."""
    if input_names is not None:
        return layer.compute_output_shape(
            **{f"{name}_shape": shape for name, shape in zip(input_names, feeds, strict=True)}
        )
    return layer.compute_output_shape(feeds[0] if len(feeds) == 1 else feeds)


def _gigabytes(params: int) -> str:
    """The weights' size in GB, one decimal; integer arithmetic, so no count is too large."""
    tenths = (params * BYTES_PER_PARAM + 5 * 10**7) // 10**8  # rounded to the nearest tenth
    return f"{tenths // 10}.{tenths % 10}"


def check_size(plan: Plan, limit: int = DEFAULT_LIMIT) -> None:
    """Refuse a plan whose parameters would exceed ``limit``, before building it.

    Raises:
        SpecError: at the layer that takes the model over the limit, saying how to allow it.
    """
    estimate = estimate_params(plan)
    if estimate is None:
        return
    total, per_node = estimate
    if total <= limit:
        return
    running = 0
    culprit = plan.layers[-1]
    for node in plan.layers:
        running += per_node[node.key]
        if running > limit:
            culprit = node
            break
    raise SpecError(
        f"the model would hold at least {total:,} parameters "
        f"({_gigabytes(total)} GB of weights), over the limit of {limit:,}; this "
        f"layer alone has {per_node[culprit.key]:,}",
        culprit.location,
        culprit.path,
        "Check the sizes (a missing pooling before a dense layer, a unit count with extra zeros), "
        "or pass --allow-large if the model really is this big.",
    )
