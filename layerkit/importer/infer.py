"""Each summary row's layer class and arguments, worked out from the shapes of its inputs, its output
shape and its parameter count.

What the numbers cannot tell is never guessed silently: it becomes a placeholder with a note
(activations, rates, an assumed square kernel, …). A type layerkit does not know, or a nested model,
becomes a marked entry (``kind`` None) that the written spec shows and ``layerkit build`` reports.

Takes a ``SummaryRow`` and its inputs' shapes; gives an ``ImportedLayer``. The class comes from the
row's type (or name); its arguments from a table of rules, one per layer class or family: here for
dense, recurrent and normalization layers and wrappers (TimeDistributed, Bidirectional), in
:mod:`.convolutions` for convolutions, :mod:`.shape_layers` for layers without weights and
:mod:`.modern_layers` for attention, layerkit's own layers and rows that are keras.ops calls (op:
items, a TensorFlow function's ``TFOpLambda`` row too).
"""

from __future__ import annotations

import math
import re

from ..catalog import params as formulas
from ..catalog.arguments import LAYER_ARGUMENTS
from ..catalog.layers import default_registry, lookup_key, to_snake_case
from ..model.shapes import format_shape
from ..spec.document import MAX_ARGUMENT_INT
from .convolutions import convolution
from .imported_layer import ImportedLayer, Observed, Rule, unsolved
from .modern_layers import (
    layer_scale,
    merge_operation,
    multi_head_attention,
    operation,
    position_embedding,
)
from .nested_models import is_nested
from .shape_layers import (
    concatenate,
    global_pooling,
    normalization_layer,
    padding,
    permute,
    pooling,
    repeat_vector,
    reshape,
    upsampling,
)
from .summary import ELLIPSIS, Shape, SummaryRow

RECURRENT = ("SimpleRNN", "LSTM", "GRU")  # tried in this order inside Bidirectional
# Values written for required arguments a summary cannot show (dropout rates, noise, Dot's axes,
# Activation's function, Rescaling's scale); each is noted as a placeholder.
PLACEHOLDERS = {"rate": 0.5, "stddev": 0.1, "axes": -1, "activation": "relu", "scale": 1.0}


def resolve_class(row: SummaryRow, before: list[Shape]) -> str | None:
    """The layer class of a row: from its type (cut or whole), or from its name where the
    printout lost the type; several candidates are told apart by the input's rank."""
    registry = default_registry()
    rank = len(before[0]) if before else None
    named = re.sub(r"_\d+$", "", row.name.rstrip(ELLIPSIS))
    # the name only where the type is lost or cut: a whole type layerkit does not know is a custom
    # layer, whatever it is named ('conv (MyConv)' is not a Conv2D)
    whole_type = row.type is not None and not row.type.endswith(ELLIPSIS)
    for text in (row.type,) if whole_type else (row.type, named):
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
    try:
        layer = _infer_row(row, before)
    except (ArithmeticError, TypeError, IndexError, ValueError, LookupError, StopIteration):
        # sizes the formulas cannot take (None where a width must be known, a 0, a count no
        # arguments give): the row fits no layer of its class, which its entry says
        shapes = ", ".join(format_shape((None, *shape)) for shape in [*before, row.shape])
        return ImportedLayer(None, {}, row, problem=f"its shapes ({shapes}) and "
                             f"{row.params:,} params fit no layer of type '{row.type or row.name}'")  # fmt: skip
    large = _too_large(layer.args)
    if layer.kind is not None and large is not None:
        return unsolved(layer, f"its count gives {large[0]} = {large[1]:,}, beyond the "
                        f"{MAX_ARGUMENT_INT:,} a layer argument may be")  # fmt: skip
    return layer


def _too_large(args: dict) -> tuple[str, int] | None:
    """The first argument (a wrapped layer's too) an integer over 32 bits, with its value."""
    for name, value in args.items():
        if isinstance(value, dict):
            found = _too_large(value)
            if found is not None:
                return found
        for item in value if isinstance(value, list) else [value]:
            if (
                isinstance(item, int)
                and not isinstance(item, bool)
                and abs(item) > MAX_ARGUMENT_INT
            ):
                return name, item
    return None


def _infer_row(row: SummaryRow, before: list[Shape]) -> ImportedLayer:
    if is_nested(row):
        return ImportedLayer(None, {}, row, problem=f"a nested model ({row.type})", nested=True)
    function = _tf_function(row)
    class_name = resolve_class(row, before) if function is None else None
    if class_name is None:
        seen = Observed("", before, row.shape, row.params)
        if function is None and row.type and not row.type.endswith(ELLIPSIS):
            function = row.type
        found = operation(ImportedLayer(None, {}, row), seen, function) if function else None
        return found or ImportedLayer(
            None, {}, row, problem=f"layerkit does not know the type '{row.type or row.name}'"
        )
    seen = Observed(class_name, before, row.shape, row.params)
    found = merge_operation(class_name, ImportedLayer(None, {}, row), seen)
    if found is not None:
        return found
    unknown = _unknown_width(row, before)
    if unknown is not None:
        return unsolved(ImportedLayer(to_snake_case(class_name), {}, row), unknown)
    layer = _infer(class_name, row, before)
    if layer.kind is not None and layer.problem is None:
        _fill_required(layer, class_name)
        if layer.kind is not None and row.trainable is False and row.params:  # printed N
            layer.args["trainable"] = False
    return layer


def _unknown_width(row: SummaryRow, before: list[Shape]) -> str | None:
    """Why a layer with weights cannot be read off its row: its weights are worked out from the
    sizes of its output and input, which must have some."""
    if row.params and not row.shape:
        return "its output shape (None,) has no size to work its weights out from"
    if row.params and before and not before[0]:
        return "its input shape (None,) has no size to work its weights out from"
    return None


def _tf_function(row: SummaryRow) -> str | None:
    """The TensorFlow function a tf.keras ``TFOpLambda`` row applies, from its name
    (``tf.__operators__.add``, ``tf.math.multiply_3``): a keras.ops function of the same name."""
    if not row.name.startswith("tf.") or row.name_cut:
        return None
    return re.sub(r"_\d+$", "", row.name.rsplit(".", 1)[-1])


def _infer(
    class_name: str, row: SummaryRow, before: list[Shape], out: Shape | None = None
) -> ImportedLayer:
    layer = ImportedLayer(to_snake_case(class_name), {}, row)
    seen = Observed(class_name, before, row.shape if out is None else out, row.params)
    rule = _rule_for(class_name)
    if rule is None:
        return layer  # nothing to read off the numbers: the layer's defaults
    return rule(layer, seen)


def _rule_for(class_name: str) -> Rule | None:
    if class_name in _RULES:
        return _RULES[class_name]
    return next(
        (rule for pattern, rule in _PATTERN_RULES if re.fullmatch(pattern, class_name)), None
    )


# -- other layers with weights --------------------------------------------------------------------


def _dense(layer: ImportedLayer, seen: Observed) -> ImportedLayer:
    inp, units, params = seen.inp, seen.out[-1], seen.params
    layer.args["units"] = units
    if inp and params == formulas.dense(inp[-1], units, use_bias=False):
        layer.args["use_bias"] = False
    elif inp and params != formulas.dense(inp[-1], units, use_bias=True):
        return unsolved(layer, f"{params:,} params do not fit a Dense layer of {units} units")
    layer.notes.append("activation")
    return layer


def _embedding(layer: ImportedLayer, seen: Observed) -> ImportedLayer:
    layer.args.update(input_dim=seen.params // seen.out[-1], output_dim=seen.out[-1])
    return layer


def _time_distributed(layer: ImportedLayer, seen: Observed) -> ImportedLayer:
    """The wrapped layer, read off the shapes of one time step and the parameter count."""
    inner_in, inner_out = seen.inp[1:], seen.out[1:]
    for class_name in _wrapped_candidates(inner_in, inner_out, seen.params):
        inner = _infer(class_name, layer.row, [inner_in], inner_out)
        if inner.kind is not None and inner.problem is None:
            _fill_required(inner, class_name)
            if inner.kind is None:
                continue
            layer.args["layer"] = {inner.kind: inner.args}
            layer.notes.append(f"the wrapped layer (a {class_name} fits the shapes and params)")
            layer.notes += inner.notes
            return layer
    return unsolved(layer, "the layer inside TimeDistributed cannot be told from the summary")


def _wrapped_candidates(inp: Shape, out: Shape, params: int) -> list[str]:
    dims = len(inp) - 1
    if dims > 3:  # Keras's convolutions and poolings have 1 to 3 spatial dimensions
        return ["Dense", "BatchNormalization", "LayerNormalization"] if params else ["Dropout"]
    if params:
        return ["Dense", f"Conv{dims}D", "BatchNormalization", "LayerNormalization"] if dims \
            else ["Dense"]  # fmt: skip
    if len(out) == 1 and dims:
        known = [size for size in inp if size is not None]
        if len(known) == len(inp) and math.prod(known) == out[0]:
            return ["Flatten"]
        return [f"GlobalAveragePooling{dims}D"]
    if len(out) == len(inp) and out != inp and dims:
        return [f"MaxPooling{dims}D"]
    return ["Dropout"]


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


def _recurrent(layer: ImportedLayer, seen: Observed) -> ImportedLayer:
    class_name, inp, out, params = seen.class_name, seen.inp, seen.out, seen.params
    args = _recurrent_args(class_name, inp[-1], out[-1], params) if inp else None
    if args is None:
        return unsolved(layer, f"{params:,} params do not fit a {class_name} of {out[-1]} units")
    if len(out) == len(inp):
        args["return_sequences"] = True
    layer.args = args
    if len(layer.row.shapes) > 1:
        layer.notes.append(
            f"return_state (the row shows {_outputs(layer.row)} outputs, the states among "
            "them; a spec takes one output of a layer, so it is written without)"
        )
    return layer


def _outputs(row: SummaryRow) -> str:
    """How many outputs a row shows: a number, or 'several' where the printout cut the list."""
    return "several" if () in row.shapes[1:] else str(len(row.shapes))


def _bidirectional(layer: ImportedLayer, seen: Observed) -> ImportedLayer:
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
        return unsolved(layer, "no LSTM, GRU or SimpleRNN inside Bidirectional fits the params")
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


def _normalization(layer: ImportedLayer, seen: Observed) -> ImportedLayer:
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
        return unsolved(
            layer, f"{params:,} params do not fit a {class_name} over {channels} channels"
        )
    center, scale = fits[0]
    if center and not scale:
        layer.args["scale"] = False
        layer.notes.append("scale or center (one of them is off)")
    elif not center:
        layer.args.update(center=False, scale=False)
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
    "Normalization": normalization_layer,
    "Reshape": reshape,
    "RepeatVector": repeat_vector,
    "Permute": permute,
    "Concatenate": concatenate,
    "MultiHeadAttention": multi_head_attention,
    "LayerScale": layer_scale,
    "PositionEmbedding": position_embedding,
}
# Families of classes, one per dimension (and variant), that share a rule.
_PATTERN_RULES: tuple[tuple[str, Rule], ...] = (
    (r"(Conv|DepthwiseConv|SeparableConv)[123]D(Transpose)?", convolution),
    (r"(Max|Average)Pooling[123]D", pooling),
    (r"(ZeroPadding|Cropping)[123]D", padding),
    (r"UpSampling[123]D", upsampling),
    (r"Global(Average|Max)Pooling[123]D", global_pooling),
)


def _not_a_model_layer(class_name: str) -> str | None:
    """Why a class a summary may print is not a layer a spec's model list can hold."""
    if class_name.endswith("Cell") or class_name == "StackedRNNCells":
        return f"{class_name} is a recurrent cell, which runs inside an RNN layer"
    if class_name == "AlternatingFlip":
        return "alternating_flip acts only in a spec's augment: list"
    return None


def _fill_required(layer: ImportedLayer, class_name: str) -> None:
    """Required arguments the summary cannot show get a neutral value, noted for the user; a
    layer no value can stand in for (a wrapped layer or cell it does not show, a class that is
    not a model's layer) is marked instead."""
    info = default_registry().info(class_name)
    problem = _not_a_model_layer(class_name)
    wrapped = [name for name, arg in info.args.items()
               if arg.required and name in LAYER_ARGUMENTS and name not in layer.args]  # fmt: skip
    if problem is None and wrapped:
        problem = f"it wraps a layer ({wrapped[0]}) the summary does not show"
    if problem is not None:
        unsolved(layer, problem)
        return
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
