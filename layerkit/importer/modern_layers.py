"""Rules for the rows of modern networks: ``MultiHeadAttention`` (heads and key width from its
parameter count and shapes), layerkit's own ``layer_scale`` and ``position_embedding``, and rows
that are ``keras.ops`` calls rather than layers (``x + 3.0`` prints as ``add (Add)`` with one
input), which become ``op:`` items.

Takes an ``ImportedLayer`` and what its row shows (``Observed``); gives the layer with its
arguments, placeholders noted where the summary cannot tell (an op's constant, a layer scale's
start value, which split of heads × key width).
"""

from __future__ import annotations

import math

from ..catalog import params as formulas
from ..catalog.operations import UnknownOperationError, default_operations
from .imported_layer import ImportedLayer, Observed, unsolved

# Merge layers whose keras.ops function of the same name takes a tensor and a constant: with one
# input the row is that op. Its constant is not in the summary, so a neutral one is written.
MERGE_OPERATIONS = {"Add": "add", "Subtract": "subtract", "Multiply": "multiply",
                    "Maximum": "maximum", "Minimum": "minimum"}  # fmt: skip
_NEUTRAL = {"add": 0.0, "subtract": 0.0, "maximum": 0.0, "minimum": 0.0}  # others: 1.0
# The call parameters a layer that takes its tensors by name gets them under, in the order the
# summary's "Connected to" column lists them.
NAMED_INPUTS = {
    "MultiHeadAttention": ("query", "value", "key"),
    "GroupedQueryAttention": ("query", "value", "key"),
}
# Functions of a tensor and a number that keep its shape: their constant gets a placeholder.
_ARITHMETIC = frozenset({"add", "subtract", "multiply", "divide", "true_divide", "power",
                         "maximum", "minimum", "floor_divide", "mod"})  # fmt: skip
_REDUCTIONS = ("mean", "sum", "max", "min", "prod", "any", "all", "logsumexp", "std", "var")


def merge_operation(class_name: str, layer: ImportedLayer, seen: Observed) -> ImportedLayer | None:
    """A merge layer's row with a single input is a ``keras.ops`` call with a constant."""
    if class_name not in MERGE_OPERATIONS or len(seen.inputs) != 1 or seen.params:
        return None
    return _with_constant(layer, MERGE_OPERATIONS[class_name])


def _with_constant(layer: ImportedLayer, function: str) -> ImportedLayer:
    layer.kind, layer.args = "op", {function: _NEUTRAL.get(function, 1.0)}
    layer.notes.append(f"the constant of {function} (one input: a keras.ops call)")
    return layer


def operation(layer: ImportedLayer, seen: Observed, type_name: str) -> ImportedLayer | None:
    """A row whose type is no layer but a ``keras.ops`` function (``Relu6``, ``TrueDivide``,
    ``Mean``): an ``op:`` item, its constant a noted placeholder where one is needed."""
    if seen.params:
        return None
    catalog = default_operations()
    try:
        name = catalog.resolve(type_name)
    except UnknownOperationError:
        return None
    info = catalog.info(name)
    if not info.list_input and len(seen.inputs) > len(info.params):
        return unsolved(layer, f"keras.ops.{name} takes at most {len(info.params)} tensor(s), and "
                        f"the row reads {len(seen.inputs)}")  # fmt: skip
    required = [arg for arg in info.params.values() if arg.required]
    missing = required[len(seen.inputs) :]
    layer.kind = "op"
    if name in _REDUCTIONS and len(seen.out) < len(seen.inp):
        axes = _reduced_axes(seen.inp, seen.out)
        layer.args = {name: {"axis": axes}} if axes else {name: None}
        if not axes:
            layer.notes.append(f"the axes of {name}")
    elif tuple(seen.out) != tuple(seen.inp):  # a transpose, a reshape, an item: arguments unseen
        return unsolved(layer, f"the arguments of keras.ops.{name} are not in the summary")
    elif len(missing) == 1 and name in _ARITHMETIC:
        return _with_constant(layer, name)
    elif missing:
        return unsolved(layer, f"the arguments of keras.ops.{name} are not in the summary")
    else:
        layer.args = {name: None}
    return layer


def _reduced_axes(inp: tuple, out: tuple) -> list[int] | None:
    """The axes (counting the batch) whose removal from ``inp`` leaves ``out``, if one set does."""
    kept, position = [], 0
    for axis, size in enumerate(inp):
        if position < len(out) and out[position] == size:
            kept.append(axis)
            position += 1
    if position != len(out):
        return None
    return [axis + 1 for axis in range(len(inp)) if axis not in kept]


def multi_head_attention(layer: ImportedLayer, seen: Observed) -> ImportedLayer:
    """The heads' total key width and value width from the count (only heads × width shows);
    equal widths preferred, a split into heads chosen and noted."""
    query = seen.inputs[0][-1] if seen.inputs else None
    value = seen.inputs[1][-1] if len(seen.inputs) > 1 else query
    key = seen.inputs[2][-1] if len(seen.inputs) > 2 else value
    out = seen.out[-1]
    if None in (query, value, key, out):
        return unsolved(layer, "the widths of its inputs are unknown")
    fits = _attention_widths(query, key, value, out, seen.params)
    if not fits:
        return unsolved(layer, f"{seen.params:,} params fit no MultiHeadAttention")
    keys, values, use_bias = fits[0]
    common = math.gcd(keys, values)
    heads = next((h for h in (8, 4, 2) if common % h == 0 and min(keys, values) // h >= 8), 1)
    heads = heads if common % heads == 0 else 1
    layer.args = {"num_heads": heads, "key_dim": keys // heads}
    if values != keys:
        layer.args["value_dim"] = values // heads
    if not use_bias:
        layer.args["use_bias"] = False
    if out != query:
        layer.args["output_shape"] = out
    others = [f"{h}×{keys // h}" for h in (1, 2, 4, 8, 12, 16) if common % h == 0 and h != heads]
    if others:
        layer.notes.append(
            f"num_heads × key_dim = {keys}: {heads}×{keys // heads} written, "
            f"{', '.join(others)} fit as well"
        )
    return layer


def _attention_widths(
    query: int, key: int, value: int, out: int, params: int
) -> list[tuple[int, int, bool]]:
    """(heads × key_dim, heads × value_dim, use_bias) that give ``params``: equal widths where
    they fit, else the narrowest key width, with biases before without.

    The count is linear in both widths (``per_key`` × keys + ``per_value`` × values + the
    output's bias), so the key widths that fit repeat every ``per_value``: only the first
    ``per_value`` need trying, however large the count (trying every width up to the count took
    minutes at a billion)."""
    fits = []
    for use_bias in (True, False):
        fixed = formulas.multi_head_attention(query, key, value, 1, 0, 0, out, use_bias)
        per_key = formulas.multi_head_attention(query, key, value, 1, 1, 0, out, use_bias) - fixed
        per_value = value + out + int(use_bias)
        both, left = divmod(params - fixed, per_key + per_value)
        if both > 0 and not left:
            fits.append((both, both, use_bias))
        for keys in range(1, min(per_value, (params - fixed) // per_key) + 1):
            rest = params - fixed - per_key * keys
            if rest > 0 and rest % per_value == 0:
                fits.append((keys, rest // per_value, use_bias))
                break
    return sorted(fits, key=lambda fit: (fit[0] != fit[1], not fit[2]))


def layer_scale(layer: ImportedLayer, seen: Observed) -> ImportedLayer:
    layer.args = {"init_values": 1.0e-6, "projection_dim": seen.params}
    layer.notes.append("init_values")
    return layer


def position_embedding(layer: ImportedLayer, seen: Observed) -> ImportedLayer:
    features = seen.out[-1]
    if not features or seen.params % features:
        return unsolved(layer, f"{seen.params:,} params fit no position embedding")
    layer.args = {"sequence_length": seen.params // features}
    return layer
