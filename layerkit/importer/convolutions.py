"""A convolution's arguments, solved from what its summary row shows.

Takes an ``ImportedLayer`` and the row's ``Observed`` shapes and parameter count for any
``Conv``/``DepthwiseConv``/``SeparableConv`` 1D–3D class (and transposes); gives the layer with
``filters``, ``kernel_size`` (square, 'valid'-exact or oblong), ``strides``, ``padding``,
``use_bias`` and ``depth_multiplier`` written where the numbers tell them, and notes where they
only allow a guess. The kernel is searched through the count formulas of
:mod:`layerkit.catalog.params`. Also gives ``conv_out``, the output size of a sliding window,
which pooling shares.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from ..catalog import params as formulas
from .imported_layer import ImportedLayer, Observed, unsolved
from .summary import Shape

# positions of an oblong kernel searched for (its sides are the most even pair of factors); a
# count that needs more fits no real kernel, and factoring it took minutes at 10**20 taps
MAX_TAPS = 65_536


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


def convolution(layer: ImportedLayer, seen: Observed) -> ImportedLayer:
    """The rule for every convolution class: its arguments, or ``layer`` unsolved."""
    conv = _ConvolutionKind.of(seen.class_name)
    inp, out, params = seen.inp, seen.out, seen.params
    channels_in, channels_out = inp[-1] if inp else None, out[-1]
    if channels_in is None:
        return unsolved(layer, "the input's channels are unknown")
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
        if taps is not None and taps[0] <= MAX_TAPS:  # not a square: 1×k (or k×1), as Inception
            return _with_oblong_kernel(layer, conv, seen, taps)
    if solved is None and conv.plain and not conv.transpose:
        grouped = _grouped_kernel(channels_in, channels_out, params, conv.dims)
        if grouped is not None:  # ConvNeXt's depthwise step: a Conv2D with groups=channels
            layer.args["groups"] = grouped[0]
            return _with_square_kernel(layer, conv, seen, grouped[1:])
    if solved is None:
        return unsolved(layer, f"no kernel size fits {params:,} params")
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
    layer: ImportedLayer, conv: _ConvolutionKind, seen: Observed, taps: tuple[int, bool]
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
    layer: ImportedLayer, conv: _ConvolutionKind, seen: Observed, solved: tuple[int, bool]
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


def _grouped_count(channels_in: int, channels_out: int, groups: int) -> Count:
    return lambda taps, use_bias: formulas.convolution(
        taps, channels_in, channels_out, use_bias, groups
    )


def _grouped_kernel(
    channels_in: int, channels_out: int, params: int, dims: int
) -> tuple[int, int, bool] | None:
    """(groups, kernel side, has bias) of a grouped convolution that gives ``params``: each
    group's filters see ``channels_in / groups`` channels; more groups are tried first."""
    for groups in range(math.gcd(channels_in, channels_out), 1, -1):
        if channels_in % groups or channels_out % groups:
            continue
        solved = _kernel(_grouped_count(channels_in, channels_out, groups), params, dims)
        if solved is not None:
            return groups, *solved
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
            if all(o == conv_out(i, side, strides, padding, transpose) for i, o in pairs):
                return strides, padding
    return None


def conv_out(size: int, kernel: int, strides: int, padding: str, transpose: bool) -> int:
    if transpose:
        return size * strides if padding == "same" else (size - 1) * strides + max(kernel, strides)
    if padding == "same":
        return math.ceil(size / strides)
    return (size - kernel) // strides + 1
