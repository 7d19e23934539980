"""Compile a validated plan into a ``keras.Model`` with the functional API.

A pure function of the plan: layer classes come from the registry by their catalog names, argument
values are plain YAML data, and nothing from the spec is evaluated or imported. Whatever Keras
rejects (a bad value, shapes that do not fit) becomes a SpecError at the layer's line in the spec.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from ..catalog.layers import LayerRegistry
from ..errors import SpecError
from ..spec.document import Spec
from ..spec.plan import Plan, ResolvedLayer, layer_names
from ..spec.validation import plan_from
from .estimate import check_size
from .instances import keras_message, make_layer
from .operations import call_operation
from .shapes import format_shape

if TYPE_CHECKING:
    import keras

# make_layer, keras_message and layer_names are used from here by train, cli and bench
__all__ = ["build", "keras_message", "layer_names", "make_layer"]


def build(
    spec: Spec | Plan,
    registry: LayerRegistry | None = None,
    allow_large: bool = False,
) -> keras.Model:
    """Compile a spec into an (untrained) Keras model.

    Args:
        spec: a :class:`~layerkit.Plan` from :func:`layerkit.validate` (what commands pass: the
            spec is read and checked once), or a :class:`~layerkit.Spec` from
            :func:`layerkit.load_spec`, validated here. A path or YAML text is refused: load it.
        registry: for a Spec, the layer registry to validate it against (the default one when
            omitted). A Plan brings its own, the one it was validated against.
        allow_large: build even when the model would hold more than
            :data:`layerkit.model.estimate.DEFAULT_LIMIT` parameters (checked before anything is built).

    Returns:
        A functional ``keras.Model`` named after the spec, one Keras layer per spec layer.

    Raises:
        SpecErrors: the spec is invalid (see :func:`layerkit.validate`).
        SpecError: Keras rejected a layer; the error names the layer's line in the spec.
        TypeError: ``spec`` is not a Spec or a Plan.
    """
    plan = plan_from(spec, registry, "build")
    import keras

    registry = plan.registry
    if not allow_large:
        check_size(plan)
    tensors: dict[str, Any] = {}
    origins: dict[str, ResolvedLayer] = {}
    for plan_input in plan.inputs:
        tensors[plan_input.key] = _make_input(plan_input.spec, keras)
    instances: dict[str, Any] = {}
    names = layer_names(plan)
    for layer in plan.layers:
        feeds = [tensors[key] for key in layer.inputs]
        if layer.operation:
            if layer.shares is not None:  # validation refuses it; a plan made by hand may not
                raise SpecError(
                    f"op '{layer.class_name}' holds no weights to share",
                    layer.location,
                    layer.path,
                    f"Write the op again here ('op: {{{layer.class_name}: ...}}').",
                )
            call = partial(call_operation, layer, feeds, names[layer.key])
        else:
            if layer.shares is not None:
                instance = instances[layer.shares]
            else:
                instance = instances[layer.key] = make_layer(layer, registry, names[layer.key])
            call = partial(_call_layer, instance, layer, feeds)
        try:
            tensors[layer.key] = call()
        except Exception as error:  # Keras raises many types; each becomes a located spec error
            raise _call_error(layer, feeds, origins, plan, error) from error
        origins[layer.key] = layer
    outputs = [tensors[key] for key in plan.outputs]
    inputs = [tensors[plan_input.key] for plan_input in plan.inputs]
    _check_augment(plan, inputs[0])
    return keras.Model(
        inputs[0] if len(inputs) == 1 else inputs,
        outputs[0] if len(outputs) == 1 else outputs,
        name=plan.spec.name,
    )


def _call_layer(instance: Any, layer: ResolvedLayer, feeds: list[Any]) -> Any:
    """Call a layer on its feeds: one tensor, a list of them, or by name (``query=``, ``value=``)
    when the spec wires them with ``inputs: {query: a, value: b}``."""
    if layer.input_names is not None:
        return instance(**dict(zip(layer.input_names, feeds, strict=True)))
    return instance(feeds[0] if len(feeds) == 1 else feeds)


def _check_augment(plan: Plan, images: Any) -> None:
    """Make the ``augment:`` layers and pass the input through them, so that ``build`` reports
    their mistakes at their lines rather than ``train`` after loading the data."""
    tensor = images
    for index, layer in enumerate(plan.augment):
        instance = make_layer(layer, plan.registry, f"augment_{index}")
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


def _shape_text(value: Any) -> str:
    """A tensor's shape as Keras prints it; for a layer that gives several tensors (an LSTM with
    return_state), theirs in a list."""
    if isinstance(value, list | tuple):
        return f"[{', '.join(_shape_text(item) for item in value)}]"
    return format_shape(value.shape)


def _call_error(
    layer: ResolvedLayer,
    feeds: list[Any],
    origins: dict[str, ResolvedLayer],
    plan: Plan,
    error: Exception,
) -> SpecError:
    """Keras's objection to a layer's or an op's input(s), saying which branch gave which shape."""
    what = f"op '{layer.class_name}'" if layer.operation else layer.class_name
    for key, feed in zip(layer.inputs, feeds, strict=True):
        if isinstance(feed, list | tuple) and key in origins:  # an LSTM with return_state, say
            source = origins[key]
            return SpecError(
                f"{what} takes the output of {source.label} (line {source.location.line}), which "
                f"gives {len(feed)} tensors {_shape_text(feed)}: a spec item cannot pick one of "
                f"them yet. Keras says: {keras_message(error)}",
                layer.location,
                layer.path,
                "Leave out what makes that layer give several outputs (return_state), or take "
                "them all with a merge layer such as concatenate.",
            )
    if len(feeds) == 1:
        return SpecError(
            f"{what} cannot take its input of shape {_shape_text(feeds[0])}: "
            f"{keras_message(error)}",
            layer.location,
            layer.path,
            f"Check this {'op' if layer.operation else 'layer'}'s arguments against the shape "
            f"the {'item' if layer.operation else 'layer'} before it gives.",
        )
    input_names = {plan_input.key: plan_input.spec for plan_input in plan.inputs}
    branches = []
    names = layer.input_names or [None] * len(feeds)
    for key, tensor, name in zip(layer.inputs, feeds, names, strict=True):
        if key in origins:
            source = origins[key]
            where = f"{source.label} (line {source.location.line})"
        else:
            where = f"input '{input_names[key].name}' (line {input_names[key].location.line})"
        given = f"gives {_shape_text(tensor)}"
        branches.append(f"{where} {given}" if name is None else f"{name}: {where} {given}")
    return SpecError(
        f"{what} cannot combine its inputs: {'; '.join(branches)}. "
        f"Keras says: {keras_message(error)}",
        layer.location,
        layer.path,
        "Make the branches meet with the same shape (e.g. a 1x1 convolution or a reshape on one).",
    )
