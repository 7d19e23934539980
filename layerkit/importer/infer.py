"""Each summary row's layer class and arguments, worked out from the shapes of its inputs, its output
shape and its parameter count.

What the numbers cannot tell is never guessed silently: it becomes a placeholder with a note
(activations, rates, an assumed square kernel, …). A type layerkit does not know, or a nested model,
becomes a marked entry (``kind`` None) that the written spec shows and ``layerkit build`` reports.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import permutations

from ..catalog import params as formulas
from ..catalog.layers import default_registry, lookup_key, to_snake_case
from .summary import ELLIPSIS, Shape, SummaryRow

NESTED_TYPES = ("Sequential", "Functional", "Model")
MERGES = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")
ACTIVATION_LAYERS = ("ReLU", "Softmax", "ELU", "LeakyReLU")
RECURRENT = ("SimpleRNN", "LSTM", "GRU")  # tried in this order inside Bidirectional
# Values written for required arguments a summary cannot show (dropout rates, noise, Dot's axes,
# Activation's function, Rescaling's scale); each is noted as a placeholder.
PLACEHOLDERS = {"rate": 0.5, "stddev": 0.1, "axes": -1, "activation": "relu", "scale": 1.0}


@dataclass
class ImportedLayer:
    """One row turned into a layer: ``kind`` (snake_case) and ``args``, or a marked entry."""

    kind: str | None  # None: not imported; ``problem`` says why
    args: dict[str, object]
    row: SummaryRow
    notes: list[str] = field(default_factory=list)  # placeholders and assumptions to check
    problem: str | None = None
    nested: bool = False  # a nested model, imported as a block to fill in


def resolve_class(row: SummaryRow, before: list[Shape]) -> str | None:
    """The layer class of a row: from its type (cut or whole), or from its name where the
    printout lost the type; several candidates are told apart by the input's rank."""
    registry = default_registry()
    rank = len(before[0]) if before else None
    for text in (row.type, re.sub(r"_\d+$", "", row.name.rstrip(ELLIPSIS))):
        if not text:
            continue
        cut = text.endswith(ELLIPSIS)
        text = text.rstrip(ELLIPSIS)
        if not cut:
            try:
                return registry.resolve(text)
            except LookupError:
                pass
        candidates = [
            name for name in registry.names() if lookup_key(name).startswith(lookup_key(text))
        ]
        if len(candidates) > 1 and rank is not None:
            by_rank = [name for name in candidates if name[-2:] == f"{rank - 1}D"]
            candidates = by_rank or [name for name in candidates if not re.search(r"\dD$", name)]
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            return min(candidates, key=len)  # "Dense…" → Dense rather than DenseNet-like names
    return None


def infer(row: SummaryRow, before: list[Shape]) -> ImportedLayer:
    """The layer for ``row``, whose inputs have the shapes ``before``."""
    if row.type and row.type.rstrip(ELLIPSIS) in NESTED_TYPES:
        return ImportedLayer(None, {}, row, problem=f"a nested model ({row.type})", nested=True)
    class_name = resolve_class(row, before)
    if class_name is None:
        return ImportedLayer(
            None, {}, row, problem=f"layerkit does not know the type '{row.type or row.name}'"
        )
    layer = _infer(class_name, row, before)
    if layer.kind is not None and layer.problem is None:
        _fill_required(layer, class_name)
    return layer


def _infer(class_name: str, row: SummaryRow, before: list[Shape]) -> ImportedLayer:
    kind = to_snake_case(class_name)
    layer = ImportedLayer(kind, {}, row)
    out, params = row.shape, row.params
    inp = before[0] if before else ()
    if re.fullmatch(r"(Conv|DepthwiseConv|SeparableConv)[123]D(Transpose)?", class_name):
        return _convolution(layer, class_name, inp, out, params)
    if class_name == "Dense":
        units = out[-1]
        layer.args["units"] = units
        if inp and params == formulas.dense(inp[-1], units, use_bias=False):
            layer.args["use_bias"] = False
        elif inp and params != formulas.dense(inp[-1], units, use_bias=True):
            return _unsolved(layer, f"{params:,} params do not fit a Dense layer of {units} units")
        layer.notes.append("activation")
        return layer
    if class_name == "Embedding":
        layer.args.update(input_dim=params // out[-1], output_dim=out[-1])
        return layer
    if class_name in RECURRENT:
        return _recurrent(layer, class_name, inp, out, params)
    if class_name == "Bidirectional":
        return _bidirectional(layer, inp, out, params)
    if class_name == "TimeDistributed":
        units = out[-1]
        for use_bias in (True, False):
            if inp and params == formulas.dense(inp[-1], units, use_bias):
                dense = {"units": units} if use_bias else {"units": units, "use_bias": False}
                layer.args["layer"] = {"dense": dense}
                layer.notes.append("the wrapped layer (a Dense fits the params)")
                return layer
        return _unsolved(layer, "the layer inside TimeDistributed cannot be told from the summary")
    if class_name in ("BatchNormalization", "LayerNormalization", "GroupNormalization"):
        return _normalization(layer, class_name, out, params)
    if re.fullmatch(r"(Max|Average)Pooling[123]D", class_name):
        return _pooling(layer, inp, out)
    if class_name == "Reshape":
        layer.args["target_shape"] = list(out)
        return layer
    if class_name == "RepeatVector":
        layer.args["n"] = out[0]
        return layer
    if class_name == "Permute":
        return _permute(layer, inp, out)
    if re.fullmatch(r"(ZeroPadding|Cropping)[123]D", class_name):
        return _padding(layer, class_name, inp, out)
    if re.fullmatch(r"UpSampling[123]D", class_name):
        sizes = [o // i for i, o in zip(inp[:-1], out[:-1], strict=False) if i and o]
        size = sizes[0] if sizes and len(set(sizes)) == 1 else None
        if size and size != 2:
            layer.args["size"] = size
        return layer
    if class_name == "Concatenate":
        return _concatenate(layer, before, out)
    return layer


def _unsolved(layer: ImportedLayer, reason: str) -> ImportedLayer:
    layer.problem = reason
    layer.kind = None
    return layer


# -- convolutions ----------------------------------------------------------------------------------


def _convolution(
    layer: ImportedLayer, class_name: str, inp: Shape, out: Shape, params: int
) -> ImportedLayer:
    dims = int(re.search(r"(\d)D", class_name).group(1))
    depthwise = class_name.startswith("Depthwise")
    separable = class_name.startswith("Separable")
    transpose = class_name.endswith("Transpose")
    channels_in, channels_out = inp[-1] if inp else None, out[-1]
    if channels_in is None:
        return _unsolved(layer, "the input's channels are unknown")
    solved = None
    if depthwise:
        multiplier = channels_out // channels_in
        solved = _kernel(_depthwise_count(channels_in, multiplier), params, dims)
        if multiplier != 1:
            layer.args["depth_multiplier"] = multiplier
    elif separable:
        for multiplier in (1, 2, 4, 8):
            solved = _kernel(_separable_count(channels_in, multiplier, channels_out), params, dims)
            if solved:
                if multiplier != 1:
                    layer.args["depth_multiplier"] = multiplier
                break
    else:
        solved = _kernel(_convolution_count(channels_in, channels_out, transpose), params, dims)
    exact = (
        None
        if depthwise or separable or transpose
        else _valid_kernel(inp, out, params, _convolution_count(channels_in, channels_out, False))
    )
    if exact is not None:  # 'valid' padding, stride 1: the shapes give each side of the kernel
        kernel, use_bias = exact
        layer.args = {"filters": channels_out, "kernel_size": kernel}
        if not use_bias:
            layer.args["use_bias"] = False
        layer.notes.append("activation")
        return layer
    if solved is None and not (depthwise or separable):
        taps = _taps(_convolution_count(channels_in, channels_out, transpose), params)
        if taps is not None:  # not a square: a 1×k (or k×1) kernel fits, as in Inception
            count, use_bias = taps
            low = max(d for d in range(1, int(count**0.5) + 1) if count % d == 0)
            layer.args = {
                "filters": channels_out,
                "kernel_size": [low, count // low][-dims:] if dims == 2 else count,
            }
            spatial = _strides_padding(inp[:-1], out[:-1], 1 if low == 1 else low, transpose)
            if spatial is not None and spatial[0] != 1:
                layer.args["strides"] = spatial[0]
            layer.args["padding"] = "same"
            if not use_bias:
                layer.args["use_bias"] = False
            layer.notes += [
                f"kernel_size ({low}×{count // low} or {count // low}×{low}: the summary cannot tell)",
                "activation",
            ]
            return layer
    if solved is None:
        return _unsolved(layer, f"no kernel size fits {params:,} params")
    side, use_bias = solved
    if not depthwise:
        layer.args = {"filters": channels_out, **layer.args}
    layer.args["kernel_size"] = side
    spatial = _strides_padding(inp[:-1], out[:-1], side, transpose)
    if spatial is None:
        layer.notes.append("strides/padding (no plain choice fits the shapes)")
    else:
        strides, padding = spatial
        if strides != 1:
            layer.args["strides"] = strides
        if padding != "valid":
            layer.args["padding"] = padding
    if not use_bias:
        layer.args["use_bias"] = False
    if dims > 1 and side > 1:
        layer.notes.append(f"kernel_size ({'square' if dims == 2 else 'cube'} assumed)")
    layer.notes.append("activation")
    return layer


# A kernel's parameters as a function of its taps (positions) and whether it has a bias; each is
# a formula of layerkit.catalog.params with the channels filled in, and linear in the taps.
Count = Callable[[int, bool], int]


def _convolution_count(channels_in: int, channels_out: int, transpose: bool) -> Count:
    if transpose:
        return lambda taps, use_bias: formulas.transposed_convolution(
            taps, channels_in, channels_out, use_bias
        )
    return lambda taps, use_bias: formulas.convolution(taps, channels_in, channels_out, use_bias)


def _depthwise_count(channels_in: int, multiplier: int) -> Count:
    return lambda taps, use_bias: formulas.depthwise_convolution(
        taps, channels_in, multiplier, use_bias
    )


def _separable_count(channels_in: int, multiplier: int, channels_out: int) -> Count:
    return lambda taps, use_bias: formulas.separable_convolution(
        taps, channels_in, multiplier, channels_out, use_bias
    )


def _taps_for(count: Count, params: int, use_bias: bool) -> int | None:
    """The number of taps for which ``count`` gives ``params``, if a whole one does."""
    per_tap = count(1, False) - count(0, False)
    weights = params - count(0, use_bias)
    if per_tap <= 0 or weights <= 0 or weights % per_tap:
        return None
    return weights // per_tap


def _kernel(count: Count, params: int, dims: int) -> tuple[int, bool] | None:
    """(kernel side, has bias) such that ``count(side**dims, has bias) == params``, if any."""
    for use_bias in (True, False):
        taps = _taps_for(count, params, use_bias)
        if taps:
            side = round(taps ** (1 / dims))
            if side >= 1 and side**dims == taps:
                return side, use_bias
    return None


def _taps(count: Count, params: int) -> tuple[int, bool] | None:
    for use_bias in (True, False):
        taps = _taps_for(count, params, use_bias)
        if taps:
            return taps, use_bias
    return None


def _valid_kernel(
    inp: Shape, out: Shape, params: int, count: Count
) -> tuple[list[int] | int, bool] | None:
    """With 'valid' padding and stride 1 each side is input - output + 1; that fits the params
    only if the layer was such a convolution."""
    sides = [
        i - o + 1
        for i, o in zip(inp[:-1], out[:-1], strict=False)
        if i is not None and o is not None
    ]
    if len(sides) != len(inp) - 1 or not sides or min(sides) < 2 or len(set(sides)) == 1:
        return None  # only worth it for kernels that are not square (square ones are solved anyway)
    taps = math.prod(sides)
    for use_bias in (True, False):
        if count(taps, use_bias) == params:
            return sides, use_bias
    return None


def _strides_padding(inp: Shape, out: Shape, side: int, transpose: bool) -> tuple[int, str] | None:
    pairs = [(i, o) for i, o in zip(inp, out, strict=False) if i is not None and o is not None]
    for strides in (1, 2, 3, 4):
        for padding in ("valid", "same"):
            if all(o == _conv_out(i, side, strides, padding, transpose) for i, o in pairs):
                return strides, padding
    return None


def _conv_out(size: int, kernel: int, strides: int, padding: str, transpose: bool) -> int:
    if transpose:
        return size * strides if padding == "same" else (size - 1) * strides + max(kernel, strides)
    if padding == "same":
        return math.ceil(size / strides)
    return (size - kernel) // strides + 1


# -- other layers with weights --------------------------------------------------------------------


def _recurrent_args(
    class_name: str, features: int, units: int, params: int
) -> dict[str, object] | None:
    for reset_after in (True, False) if class_name == "GRU" else (True,):
        for use_bias in (True, False):
            if formulas.recurrent(class_name, features, units, use_bias, reset_after) == params:
                args: dict[str, object] = {"units": units}
                if not use_bias:
                    args["use_bias"] = False
                if class_name == "GRU" and not reset_after:
                    args["reset_after"] = False
                return args
    return None


def _recurrent(
    layer: ImportedLayer, class_name: str, inp: Shape, out: Shape, params: int
) -> ImportedLayer:
    args = _recurrent_args(class_name, inp[-1], out[-1], params) if inp else None
    if args is None:
        return _unsolved(layer, f"{params:,} params do not fit a {class_name} of {out[-1]} units")
    if len(out) == len(inp):
        args["return_sequences"] = True
    layer.args = args
    return layer


def _bidirectional(layer: ImportedLayer, inp: Shape, out: Shape, params: int) -> ImportedLayer:
    found = []
    for merge, units in (("concat", out[-1] // 2), ("sum", out[-1])):
        if not units or params % 2 or not inp:
            continue
        for class_name in RECURRENT:
            args = _recurrent_args(class_name, inp[-1], units, params // 2)
            if args is not None:
                found.append((class_name, args, merge))
    if not found:
        return _unsolved(layer, "no LSTM, GRU or SimpleRNN inside Bidirectional fits the params")
    class_name, args, merge = found[0]
    if len(out) == len(inp):
        args["return_sequences"] = True
    layer.args["layer"] = {to_snake_case(class_name): args}
    if merge != "concat":
        layer.args["merge_mode"] = merge
        layer.notes.append("merge_mode (sum, mul or ave fit equally)")
    if len(found) > 1:
        layer.notes.append(f"the wrapped layer ({' or '.join(f[0] for f in found)} fit)")
    return layer


def _normalization(layer: ImportedLayer, class_name: str, out: Shape, params: int) -> ImportedLayer:
    channels = out[-1]
    count = (
        formulas.batch_normalization
        if class_name == "BatchNormalization"
        else formulas.layer_normalization
    )
    if class_name == "GroupNormalization":
        groups = math.gcd(channels, 32)
        layer.args["groups"] = groups
        layer.notes.append("groups")
    # center without scale and scale without center hold as many: the first is written, noted
    fits = [
        (center, scale)
        for center, scale in ((True, True), (True, False), (False, False))
        if channels and count(channels, center, scale) == params
    ]
    if not fits:
        return _unsolved(
            layer, f"{params:,} params do not fit a {class_name} over {channels} channels"
        )
    center, scale = fits[0]
    if center and not scale:
        layer.args["scale"] = False
        layer.notes.append("scale or center (one of them is off)")
    elif not center:
        layer.args.update(center=False, scale=False)
    return layer


# -- layers without weights ------------------------------------------------------------------------


def _pooling(layer: ImportedLayer, inp: Shape, out: Shape) -> ImportedLayer:
    pairs = [
        (i, o) for i, o in zip(inp[:-1], out[:-1], strict=False) if i is not None and o is not None
    ]
    candidates = (
        [(s, s) for s in range(2, 9)] + [(s + 1, s) for s in range(1, 5)] + [(3, 1), (5, 1), (2, 1)]
    )
    for pool, strides in candidates:
        for padding in ("valid", "same"):
            if all(o == _conv_out(i, pool, strides, padding, False) for i, o in pairs):
                layer.args["pool_size"] = pool  # required by AveragePooling, so always written
                if strides != pool:
                    layer.args["strides"] = strides
                if padding != "valid":
                    layer.args["padding"] = padding
                if strides == 1 and padding == "same":
                    layer.notes.append("pool_size (any size keeps the shape)")
                return layer
    layer.args["pool_size"] = 2
    layer.notes.append("pool_size/strides (no plain choice fits the shapes)")
    return layer


def _permute(layer: ImportedLayer, inp: Shape, out: Shape) -> ImportedLayer:
    fits = [order for order in permutations(range(1, len(inp) + 1))
            if tuple(inp[i - 1] for i in order) == tuple(out)]  # fmt: skip
    layer.args["dims"] = list(fits[0] if fits else range(1, len(inp) + 1))
    if len(fits) != 1:
        layer.notes.append("dims (the shapes allow several orders)")
    return layer


def _padding(layer: ImportedLayer, class_name: str, inp: Shape, out: Shape) -> ImportedLayer:
    key = "padding" if class_name.startswith("Zero") else "cropping"
    totals = [
        abs(o - i)
        for i, o in zip(inp[:-1], out[:-1], strict=False)
        if i is not None and o is not None
    ]
    if totals and all(total % 2 == 0 for total in totals) and len(set(totals)) == 1:
        layer.args[key] = totals[0] // 2
    else:
        layer.args[key] = [[total // 2, total - total // 2] for total in totals]
    layer.notes.append(f"{key} (an even split assumed)")
    return layer


def _concatenate(layer: ImportedLayer, before: list[Shape], out: Shape) -> ImportedLayer:
    rank = len(out)
    for axis in range(-1, -rank - 1, -1):
        sizes = [shape[axis] for shape in before if len(shape) == rank]
        if len(sizes) == len(before) and None not in sizes and sum(sizes) == out[axis]:
            if axis != -1:
                layer.args["axis"] = axis
            return layer
    return layer


def _fill_required(layer: ImportedLayer, class_name: str) -> None:
    """Required arguments the summary cannot show get a neutral value, noted for the user."""
    info = default_registry().info(class_name)
    for name, arg in info.args.items():
        if arg.required and name not in layer.args:
            if name in PLACEHOLDERS:
                layer.args[name] = PLACEHOLDERS[name]
            elif "str" in arg.kinds:
                layer.args[name] = "relu" if "activation" in name else "TODO"
            elif "float" in arg.kinds:
                layer.args[name] = 1.0
            else:
                layer.args[name] = 1
            layer.notes.append(name)
