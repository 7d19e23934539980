"""The arguments of layers that hold no weights (pooling, padding, cropping, upsampling,
reshaping, permuting, concatenating, global pooling) and of ``Normalization``, read off the shapes
a summary row shows.

Takes an ``ImportedLayer`` and its row's ``Observed``; gives the layer with the arguments the
shapes tell, and a note where they only allow a guess (an even split of padding, a pool size that
any size fits). Rules of :mod:`.infer`'s table.
"""

from __future__ import annotations

from .convolutions import conv_out
from .imported_layer import ImportedLayer, Observed


def pooling(layer: ImportedLayer, seen: Observed) -> ImportedLayer:
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
            if all(o == conv_out(i, pool, strides, padding, False) for i, o in pairs):
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


def global_pooling(layer: ImportedLayer, seen: Observed) -> ImportedLayer:
    if seen.inp and len(seen.out) == len(seen.inp):
        layer.args["keepdims"] = True
    return layer


def normalization_layer(layer: ImportedLayer, seen: Observed) -> ImportedLayer:
    """Keras's ``Normalization``: mean and variance given as constants hold no weights (0
    params); otherwise it holds them per channel, and a count, to be adapted."""
    if seen.params == 0:
        layer.args.update(mean=0.0, variance=1.0)
        layer.notes.append("mean, variance (given as constants: not in the summary)")
    return layer


def reshape(layer: ImportedLayer, seen: Observed) -> ImportedLayer:
    layer.args["target_shape"] = list(seen.out)
    return layer


def repeat_vector(layer: ImportedLayer, seen: Observed) -> ImportedLayer:
    layer.args["n"] = seen.out[0]
    return layer


def permute(layer: ImportedLayer, seen: Observed) -> ImportedLayer:
    """The first order of the input's axes (as permutations list them) that gives the output:
    each output axis takes the first unused input axis of its size, so the work grows with the
    rank, not its factorial (rank 11 took minutes)."""
    inp, out = seen.inp, seen.out
    unused = list(range(1, len(inp) + 1))
    order = []
    for size in out:
        axis = next((axis for axis in unused if inp[axis - 1] == size), None)
        if axis is None or len(out) != len(inp):
            order = []
            break
        order.append(axis)
        unused.remove(axis)
    layer.args["dims"] = order or list(range(1, len(inp) + 1))
    if not order or len(set(inp)) != len(inp):  # no order, or equal sizes that can swap
        layer.notes.append("dims (the shapes allow several orders)")
    return layer


def padding(layer: ImportedLayer, seen: Observed) -> ImportedLayer:
    key = "padding" if seen.class_name.startswith("Zero") else "cropping"
    totals = [
        abs(o - i)
        for i, o in zip(seen.inp[:-1], seen.out[:-1], strict=False)
        if i is not None and o is not None
    ]
    if not totals:  # free sizes: the summary shows none of them
        layer.args[key] = 1
        layer.notes.append(f"{key} (the sizes are free, so the summary does not show it)")
        return layer
    if all(total % 2 == 0 for total in totals) and len(set(totals)) == 1:
        layer.args[key] = totals[0] // 2
    else:
        layer.args[key] = [[total // 2, total - total // 2] for total in totals]
    layer.notes.append(f"{key} (an even split assumed)")
    return layer


def upsampling(layer: ImportedLayer, seen: Observed) -> ImportedLayer:
    sizes = [o // i for i, o in zip(seen.inp[:-1], seen.out[:-1], strict=False) if i and o]
    size = sizes[0] if sizes and len(set(sizes)) == 1 else None
    if size and size != 2:
        layer.args["size"] = size
    return layer


def concatenate(layer: ImportedLayer, seen: Observed) -> ImportedLayer:
    before, out = seen.inputs, seen.out
    rank = len(out)
    for axis in range(-1, -rank - 1, -1):
        sizes = [shape[axis] for shape in before if len(shape) == rank]
        if len(sizes) == len(before) and None not in sizes and sum(sizes) == out[axis]:
            if axis != -1:
                layer.args["axis"] = axis
            return layer
    return layer
