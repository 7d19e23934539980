"""Compile a validated plan into a ``keras.Model`` with the functional API.

A pure function of the plan: layer classes come from the registry by their catalog names, argument
values are plain YAML data, and nothing from the spec is evaluated or imported. Whatever Keras
rejects (a bad value, shapes that do not fit) becomes a SpecError at the layer's line in the spec.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import SpecError
from .registry import LayerRegistry, default_registry, to_snake_case
from .report import format_shape
from .spec import Spec
from .validation import Plan, ResolvedLayer, plan_of

if TYPE_CHECKING:
    import keras

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def build(
    spec: Spec | Plan | str | Path,
    registry: LayerRegistry | None = None,
    allow_large: bool = False,
) -> keras.Model:
    """Compile a spec into an (untrained) Keras model.

    Args:
        spec: a :class:`~layerkit.spec.Spec`, a validated plan, a spec file path or YAML text.
        registry: the layer registry; the default one when omitted.
        allow_large: build even when the model would hold more than
            :data:`layerkit.estimate.DEFAULT_LIMIT` parameters (checked before anything is built).

    Returns:
        A functional ``keras.Model`` named after the spec, one Keras layer per spec layer.

    Raises:
        SpecErrors: the spec is invalid (see :func:`layerkit.validate`).
        SpecError: Keras rejected a layer; the error names the layer's line in the spec.
    """
    import keras

    registry = registry or default_registry()
    plan = plan_of(spec, registry)
    if not allow_large:
        from .estimate import check_size

        check_size(plan, registry)
    tensors: dict[str, Any] = {}
    origins: dict[str, ResolvedLayer] = {}
    for plan_input in plan.inputs:
        tensors[plan_input.key] = _make_input(plan_input.spec, keras)
    instances: dict[str, Any] = {}
    names = layer_names(plan)
    for layer in plan.layers:
        if layer.shares is not None:
            instance = instances[layer.shares]
        else:
            instance = instances[layer.key] = make_layer(layer, registry, names[layer.key])
        feeds = [tensors[key] for key in layer.inputs]
        try:
            tensors[layer.key] = instance(feeds[0] if len(feeds) == 1 else feeds)
        except Exception as error:  # Keras raises many types; each becomes a located spec error
            raise _call_error(layer, feeds, origins, plan, error) from error
        origins[layer.key] = layer
    outputs = [tensors[key] for key in plan.outputs]
    inputs = [tensors[plan_input.key] for plan_input in plan.inputs]
    _check_augment(plan, registry, inputs[0])
    return keras.Model(
        inputs[0] if len(inputs) == 1 else inputs,
        outputs[0] if len(outputs) == 1 else outputs,
        name=plan.spec.name,
    )


def _check_augment(plan: Plan, registry: LayerRegistry, images: Any) -> None:
    """Make the ``augment:`` layers and pass the input through them, so that ``build`` reports
    their mistakes at their lines rather than ``train`` after loading the data."""
    tensor = images
    for index, layer in enumerate(plan.augment):
        instance = make_layer(layer, registry, f"augment_{index}")
        try:
            tensor = instance(tensor)
        except Exception as error:
            raise SpecError(
                f"{layer.class_name} cannot augment inputs of shape {format_shape(tensor.shape[1:])}: "
                f"{keras_message(error)}",
                layer.location,
                layer.path,
            ) from error


def _make_input(spec_input: Any, keras: Any) -> Any:
    try:
        return keras.Input(shape=spec_input.shape, dtype=spec_input.dtype, name=spec_input.name)
    except (ValueError, TypeError) as error:
        raise SpecError(
            f"Keras rejected the input: {keras_message(error)}", spec_input.location, "input"
        ) from error


def _call_error(
    layer: ResolvedLayer,
    feeds: list[Any],
    origins: dict[str, ResolvedLayer],
    plan: Plan,
    error: Exception,
) -> SpecError:
    """Keras's objection to a layer's input(s), saying which branch gave which shape."""
    if len(feeds) == 1:
        return SpecError(
            f"{layer.class_name} cannot take its input of shape {format_shape(feeds[0].shape)}: "
            f"{keras_message(error)}",
            layer.location,
            layer.path,
            "Check this layer's arguments against the shape the layer before it gives.",
        )
    input_names = {plan_input.key: plan_input.spec for plan_input in plan.inputs}
    branches = []
    for key, tensor in zip(layer.inputs, feeds, strict=True):
        if key in origins:
            source = origins[key]
            where = f"{source.label} (line {source.location.line})"
        else:
            where = f"input '{input_names[key].name}' (line {input_names[key].location.line})"
        branches.append(f"{where} gives {format_shape(tensor.shape)}")
    return SpecError(
        f"{layer.class_name} cannot combine its inputs: {'; '.join(branches)}. "
        f"Keras says: {keras_message(error)}",
        layer.location,
        layer.path,
        "Make the branches meet with the same shape (e.g. a 1x1 convolution or a reshape on one).",
    )


def layer_names(plan: Plan) -> dict[str, str]:
    """A name per layer node: the spec's ``name`` where given, else Keras-style ``conv2d``,
    ``conv2d_1``… in the plan's order (a shared node uses its layer's name).

    Keras numbers unnamed layers with process-wide counters, so a second build would print
    ``conv2d_6``; numbering per model keeps every build of a spec, and its summary, the same.
    """
    layers = [layer for layer in plan.layers if layer.shares is None]
    taken = {layer.args["name"] for layer in layers if isinstance(layer.args.get("name"), str)}
    taken |= {plan_input.spec.name for plan_input in plan.inputs}
    counts: dict[str, int] = {}
    names: dict[str, str] = {}
    for layer in layers:
        name = layer.args.get("name")
        if not isinstance(name, str):
            base = to_snake_case(layer.class_name)
            while True:
                count = counts.get(base, 0)
                counts[base] = count + 1
                name = base if count == 0 else f"{base}_{count}"
                if name not in taken:
                    break
        names[layer.key] = name
    for layer in plan.layers:
        if layer.shares is not None:
            names[layer.key] = names[layer.shares]
    return names


def make_layer(
    layer: ResolvedLayer, registry: LayerRegistry, name: str | None = None
) -> keras.layers.Layer:
    """Instantiate one layer; a nested layer argument (a wrapper's ``layer:``) is made first."""
    layer_class = registry.layer_class(layer.class_name)
    args: dict[str, Any] = {
        key: make_layer(value, registry) if isinstance(value, ResolvedLayer) else _to_keras(value)
        for key, value in layer.args.items()
    }
    info = registry.info(layer.class_name)
    if name is not None and (info.accepts_base_args or "name" in info.args):
        args["name"] = name
    try:
        return layer_class(**args)
    except Exception as error:  # constructor validation: ValueError, TypeError, …
        message = keras_message(error)
        argument = _argument_named_in(message, layer.args)
        if argument is None:
            raise SpecError(
                f"Keras rejected {layer.class_name}: {message}", layer.location, layer.path
            ) from error
        raise SpecError(
            f"Keras rejected argument '{argument}' of {layer.class_name}: {message}",
            layer.arg_locations[argument],
            f"{layer.path}.{argument}",
        ) from error


def keras_message(error: BaseException) -> str:
    """A Keras error message on one line, without colour codes or the "Arguments received" dump."""
    text = ANSI_ESCAPE.sub("", str(error))
    text = text.split("Arguments received by", 1)[0]
    text = re.sub(r"Exception encountered when calling [\w.]+\(\)\.", "", text)
    text = " ".join(text.split())
    return text or type(error).__name__


def _argument_named_in(message: str, args: dict[str, Any]) -> str | None:
    """The argument a Keras message is about: named as `name` or name=, else quoted by value."""
    for name in args:
        if re.search(rf"(`{re.escape(name)}`|\b{re.escape(name)}=)", message):
            return name
    for name, value in args.items():
        if isinstance(value, str) and re.search(rf"\b{re.escape(value)}\b", message):
            return name
    return None


def _to_keras(value: Any) -> Any:
    # YAML gives lists; Keras takes tuples for sizes and strides and checks for them
    if isinstance(value, list):
        return tuple(_to_keras(item) for item in value)
    if isinstance(value, dict):
        return {key: _to_keras(item) if key != "config" else item for key, item in value.items()}
    return value
