"""The validated plan: what :func:`~layerkit.spec.validation.validate` gives every later stage.

Takes the layers validation resolved and wired; gives a :class:`Plan` (the spec's inputs, its
layers as classes and plain argument values in an order where inputs come first, its outputs,
its ``augment:`` chain and the registry it was checked against) and the name of every layer in
it (:func:`layer_names`), so the compiler, the size estimate, the summary and the diagram agree
on every name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..catalog.layers import LayerRegistry, default_registry, to_snake_case
from ..errors import Location
from .document import InputSpec, Spec


@dataclass(frozen=True)
class ResolvedLayer:
    """One node of the plan: a layer class and plain argument values, wired to its inputs.

    ``args`` values are plain YAML values, or a ResolvedLayer for a wrapper's nested layer.
    ``inputs`` are the keys of the nodes (or model inputs) that feed it, in order; ``shares`` is
    the key of an earlier node whose layer object, and so whose weights, this node applies again.
    ``input_names``, when set, are the call's parameter names the inputs are passed under
    (``query=``, ``value=``), one per input. For an ``op:`` item ``operation`` is True,
    ``class_name`` is the ``keras.ops`` function's name and ``args`` its constant arguments by
    parameter name.
    """

    class_name: str
    args: dict[str, Any]
    location: Location
    path: str
    arg_locations: dict[str, Location]
    key: str = ""
    inputs: tuple[str, ...] = ()
    shares: str | None = None
    label: str = ""  # how messages name it: 'id' (line N) or its type
    input_names: tuple[str, ...] | None = None
    operation: bool = False


@dataclass(frozen=True)
class PlanInput:
    """One model input, with the key plan nodes use for it."""

    key: str
    spec: InputSpec


@dataclass(frozen=True)
class Plan:
    """A validated spec: its inputs, its layers in an order where inputs come first, its outputs.

    ``registry`` is the one the plan was validated against: its class names mean that registry's
    classes, so every later stage (the size estimate, the model, the training wrapper's
    augmentation layers) makes them from it rather than from the process-wide one.
    """

    spec: Spec
    layers: tuple[ResolvedLayer, ...]
    inputs: tuple[PlanInput, ...] = ()
    outputs: tuple[str, ...] = ()
    augment: tuple[ResolvedLayer, ...] = ()  # training-time augmentation, applied in this order
    registry: LayerRegistry = field(default_factory=default_registry, compare=False, repr=False)


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


def with_wrapped(layer: ResolvedLayer) -> list[ResolvedLayer]:
    """``layer`` and the layers it wraps, at any depth (a wrapper's arguments hold them)."""
    found = [layer]
    for value in layer.args.values():
        if isinstance(value, ResolvedLayer):
            found.extend(with_wrapped(value))
    return found
