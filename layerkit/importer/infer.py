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
    layer = ImportedLayer(to_snake_case(class_name), {}, row)
    seen = _Observed(class_name, before, row.shape, row.params)
    rule = _rule_for(class_name)
    if rule is None:
        return layer  # nothing to read off the numbers: the layer's defaults
    return rule(layer, seen)


@dataclass(frozen=True)
class _Observed:
    """What a summary row shows of a layer: its class, its inputs' shapes, its output shape and
    its parameter count."""

    class_name: str
    inputs: list[Shape]
    out: Shape
    params: int

    @property
    def inp(self) -> Shape:
        """The first input's shape; empty when the row has none."""
        return self.inputs[0] if self.inputs else ()


# Reads one kind of layer's arguments off what its row shows, into the layer it is given.
Rule = Callable[[ImportedLayer, _Observed], ImportedLayer]


def _rule_for(class_name: str) -> Rule | None:
    if class_name in _RULES:
        return _RULES[class_name]
    return next(
        (rule for pattern, rule in _PATTERN_RULES if re.fullmatch(pattern, class_name)), None
    )


def _unsolved(layer: ImportedLayer, reason: str) -> ImportedLayer:
    layer.problem = reason
    layer.kind = None
    return layer


# -- convolutions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ConvolutionKind:
    """What a convolution's class name says: its spatial dimensions and which variant it is."""

    dims: int
    depthwise: bool
    separable: bool
    transpose: bool

    @classmethod
    def of(cls, class_name: str) -> _ConvolutionKind:
        return cls(
            dims=int(re.search(r"(\d)D", class_name).group(1)),
            depthwise=class_name.startswith("Depthwise"),
            separable=class_name.startswith("Separable"),
            transpose=class_name.endswith("Transpose"),
        )

    @property
    def plain(self) -> bool:
        """Conv1D/2D/3D or its transpose: one kernel from every input channel to every filter."""
        return not (self.depthwise or self.separable)


def _convolution(layer: ImportedLayer, seen: _Observed) -> ImportedLayer:
    conv = _ConvolutionKind.of(seen.class_name)
    inp, out, params = seen.inp, seen.out, seen.params
    channels_in, channels_out = inp[-1] if inp else None, out[-1]
    if channels_in is None:
        return _unsolved(layer, "the input's channels are unknown")
    solved, multiplier = _solve_square_kernel(conv, channels_in, channels_out, params)
    if multiplier != 1:
        layer.args["depth_multiplier"] = multiplier
    if conv.plain and not conv.transpose:
        count = _convolution_count(channels_in, channels_out, False)
        exact = _valid_kernel(inp, out, params, count)
        if exact is not None:  # 'valid' padding, stride 1: the shapes give each side of the kernel
            return _with_valid_kernel(layer, channels_out, exact)
    if solved is None and conv.plain:
        taps = _taps(_convolution_count(channels_in, channels_out, conv.transpose), params)
        if taps is not None:  # not a square: a 1×k (or k×1) kernel fits, as in Inception
            return _with_oblong_kernel(layer, conv, seen, taps)
    if solved is None:
        return _unsolved(layer, f"no kernel size fits {params:,} params")
    return _with_square_kernel(layer, conv, seen, solved)


def _solve_square_kernel(
    conv: _ConvolutionKind, channels_in: int, channels_out: int, params: int
) -> tuple[tuple[int, bool] | None, int]:
    """((kernel side, has bias) of a square or cubic kernel that gives ``params``, or None; the
    depth multiplier, 1 where the layer has none or none fits)."""
    if conv.depthwise:  # the output's channels give the multiplier
        multiplier = channels_out // channels_in
        return _kernel(_depthwise_count(channels_in, multiplier), params, conv.dims), multiplier
    if conv.separable:  # the output's channels are the filters: the multiplier is searched
        for multiplier in (1, 2, 4, 8):
            count = _separable_count(channels_in, multiplier, channels_out)
            solved = _kernel(count, params, conv.dims)
            if solved:
                return solved, multiplier
        return None, 1
    count = _convolution_count(channels_in, channels_out, conv.transpose)
    return _kernel(count, params, conv.dims), 1


def _with_valid_kernel(
    layer: ImportedLayer, filters: int, exact: tuple[list[int] | int, bool]
) -> ImportedLayer:
    kernel, use_bias = exact
    layer.args = {"filters": filters, "kernel_size": kernel}
    _write_use_bias(layer, use_bias)
    layer.notes.append("activation")
    return layer


def _with_oblong_kernel(
    layer: ImportedLayer, conv: _ConvolutionKind, seen: _Observed, taps: tuple[int, bool]
) -> ImportedLayer:
    """A kernel of ``taps`` positions, its sides the most even pair of factors."""
    count, use_bias = taps
    low = max(d for d in range(1, int(count**0.5) + 1) if count % d == 0)
    layer.args = {
        "filters": seen.out[-1],
        "kernel_size": [low, count // low] if conv.dims == 2 else count,
    }
    spatial = _strides_padding(seen.inp[:-1], seen.out[:-1], low, conv.transpose)
    if spatial is not None and spatial[0] != 1:
        layer.args["strides"] = spatial[0]
    layer.args["padding"] = "same"
    _write_use_bias(layer, use_bias)
    layer.notes += [
        f"kernel_size ({low}×{count // low} or {count // low}×{low}: the summary cannot tell)",
        "activation",
    ]
    return layer


def _with_square_kernel(
    layer: ImportedLayer, conv: _ConvolutionKind, seen: _Observed, solved: tuple[int, bool]
) -> ImportedLayer:
    side, use_bias = solved
    if not conv.depthwise:
        layer.args = {"filters": seen.out[-1], **layer.args}
    layer.args["kernel_size"] = side
    spatial = _strides_padding(seen.inp[:-1], seen.out[:-1], side, conv.transpose)
    if spatial is None:
        layer.notes.append("strides/padding (no plain choice fits the shapes)")
    else:
        _write_strides_padding(layer, *spatial)
    _write_use_bias(layer, use_bias)
    if conv.dims > 1 and side > 1:
        layer.notes.append(f"kernel_size ({'square' if conv.dims == 2 else 'cube'} assumed)")
    layer.notes.append("activation")
    return layer


def _write_strides_padding(layer: ImportedLayer, strides: int, padding: str) -> None:
    """Strides and padding, each only where it is not Keras's default."""
    if strides != 1:
        layer.args["strides"] = strides
    if padding != "valid":
        layer.args["padding"] = padding


def _write_use_bias(layer: ImportedLayer, use_bias: bool) -> None:
    if not use_bias:
        layer.args["use_bias"] = False


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


def _dense(layer: ImportedLayer, seen: _Observed) -> ImportedLayer:
    inp, units, params = seen.inp, seen.out[-1], seen.params
    layer.args["units"] = units
    if inp and params == formulas.dense(inp[-1], units, use_bias=False):
        layer.args["use_bias"] = False
    elif inp and params != formulas.dense(inp[-1], units, use_bias=True):
        return _unsolved(layer, f"{params:,} params do not fit a Dense layer of {units} units")
    layer.notes.append("activation")
    return layer


def _embedding(layer: ImportedLayer, seen: _Observed) -> ImportedLayer:
    layer.args.update(input_dim=seen.params // seen.out[-1], output_dim=seen.out[-1])
    return layer


def _time_distributed(layer: ImportedLayer, seen: _Observed) -> ImportedLayer:
    inp, units = seen.inp, seen.out[-1]
    for use_bias in (True, False):
        if inp and seen.params == formulas.dense(inp[-1], units, use_bias):
            dense = {"units": units} if use_bias else {"units": units, "use_bias": False}
            layer.args["layer"] = {"dense": dense}
            layer.notes.append("the wrapped layer (a Dense fits the params)")
            return layer
    return _unsolved(layer, "the layer inside TimeDistributed cannot be told from the summary")


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


def _recurrent(layer: ImportedLayer, seen: _Observed) -> ImportedLayer:
    class_name, inp, out, params = seen.class_name, seen.inp, seen.out, seen.params
    args = _recurrent_args(class_name, inp[-1], out[-1], params) if inp else None
    if args is None:
        return _unsolved(layer, f"{params:,} params do not fit a {class_name} of {out[-1]} units")
    if len(out) == len(inp):
        args["return_sequences"] = True
    layer.args = args
    return layer


def _bidirectional(layer: ImportedLayer, seen: _Observed) -> ImportedLayer:
    inp, out, params = seen.inp, seen.out, seen.params
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


def _normalization(layer: ImportedLayer, seen: _Observed) -> ImportedLayer:
    class_name, channels, params = seen.class_name, seen.out[-1], seen.params
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


def _pooling(layer: ImportedLayer, seen: _Observed) -> ImportedLayer:
    pairs = [
        (i, o)
        for i, o in zip(seen.inp[:-1], seen.out[:-1], strict=False)
        if i is not None and o is not None
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


def _reshape(layer: ImportedLayer, seen: _Observed) -> ImportedLayer:
    layer.args["target_shape"] = list(seen.out)
    return layer


def _repeat_vector(layer: ImportedLayer, seen: _Observed) -> ImportedLayer:
    layer.args["n"] = seen.out[0]
    return layer


def _permute(layer: ImportedLayer, seen: _Observed) -> ImportedLayer:
    inp, out = seen.inp, seen.out
    fits = [order for order in permutations(range(1, len(inp) + 1))
            if tuple(inp[i - 1] for i in order) == tuple(out)]  # fmt: skip
    layer.args["dims"] = list(fits[0] if fits else range(1, len(inp) + 1))
    if len(fits) != 1:
        layer.notes.append("dims (the shapes allow several orders)")
    return layer


def _padding(layer: ImportedLayer, seen: _Observed) -> ImportedLayer:
    key = "padding" if seen.class_name.startswith("Zero") else "cropping"
    totals = [
        abs(o - i)
        for i, o in zip(seen.inp[:-1], seen.out[:-1], strict=False)
        if i is not None and o is not None
    ]
    if totals and all(total % 2 == 0 for total in totals) and len(set(totals)) == 1:
        layer.args[key] = totals[0] // 2
    else:
        layer.args[key] = [[total // 2, total - total // 2] for total in totals]
    layer.notes.append(f"{key} (an even split assumed)")
    return layer


def _upsampling(layer: ImportedLayer, seen: _Observed) -> ImportedLayer:
    sizes = [o // i for i, o in zip(seen.inp[:-1], seen.out[:-1], strict=False) if i and o]
    size = sizes[0] if sizes and len(set(sizes)) == 1 else None
    if size and size != 2:
        layer.args["size"] = size
    return layer


def _concatenate(layer: ImportedLayer, seen: _Observed) -> ImportedLayer:
    before, out = seen.inputs, seen.out
    rank = len(out)
    for axis in range(-1, -rank - 1, -1):
        sizes = [shape[axis] for shape in before if len(shape) == rank]
        if len(sizes) == len(before) and None not in sizes and sum(sizes) == out[axis]:
            if axis != -1:
                layer.args["axis"] = axis
            return layer
    return layer


# -- which rule reads which layer ------------------------------------------------------------------

# Layers whose class names it by itself; a class with no rule is imported with its defaults.
_RULES: dict[str, Rule] = {
    "Dense": _dense,
    "Embedding": _embedding,
    **dict.fromkeys(RECURRENT, _recurrent),
    "Bidirectional": _bidirectional,
    "TimeDistributed": _time_distributed,
    **dict.fromkeys(
        ("BatchNormalization", "LayerNormalization", "GroupNormalization"), _normalization
    ),
    "Reshape": _reshape,
    "RepeatVector": _repeat_vector,
    "Permute": _permute,
    "Concatenate": _concatenate,
}
# Families of classes, one per dimension (and variant), that share a rule.
_PATTERN_RULES: tuple[tuple[str, Rule], ...] = (
    (r"(Conv|DepthwiseConv|SeparableConv)[123]D(Transpose)?", _convolution),
    (r"(Max|Average)Pooling[123]D", _pooling),
    (r"(ZeroPadding|Cropping)[123]D", _padding),
    (r"UpSampling[123]D", _upsampling),
)


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
