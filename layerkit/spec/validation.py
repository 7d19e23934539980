"""Validation: resolve every name in a spec and expand it into a plan, a graph of layers.

Works from the layer catalog alone, so it never imports TensorFlow. It checks layer names, argument
names, required arguments and simple argument types; evaluates ``${...}`` expressions over vars,
block parameters and repeat indices; expands blocks and repeats, each a scope of its own for ids;
wires every layer to its inputs and checks the graph (unknown references, cycles, outputs nothing
uses); checks ``augment:`` like the layers, and ``train:`` and ``data:`` against the settings
catalog (:func:`layerkit.spec.settings.check_settings`). Every problem found is reported in one
:class:`~layerkit.errors.SpecErrors`. The plan also names its layers (:func:`layer_names`), so the
compiler, the size estimate, the summary and the diagram agree on every name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..catalog.layers import (
    LayerInfo,
    LayerRegistry,
    UnknownLayerError,
    accepts,
    default_registry,
    kinds_text,
    to_snake_case,
    type_fix,
)
from ..errors import ErrorCollector, Location, SpecError, did_you_mean
from .document import BlockDef, InputSpec, Item, LayerCall, Ref, Repeat, Shared, Spec
from .expressions import ExpressionError, evaluate, names_used
from .settings_checks import check_settings
from .yaml_source import Node, describe

EXPRESSION = re.compile(r"\$\{([^}]*)\}")
MAX_BLOCK_DEPTH = 32
MAX_LAYERS = 10_000


@dataclass(frozen=True)
class ResolvedLayer:
    """One node of the plan: a layer class and plain argument values, wired to its inputs.

    ``args`` values are plain YAML values, or a ResolvedLayer for a wrapper's nested layer.
    ``inputs`` are the keys of the nodes (or model inputs) that feed it, in order; ``shares`` is
    the key of an earlier node whose layer object, and so whose weights, this node applies again.
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


@dataclass(frozen=True)
class _Bound:
    """A value for ${...} (a variable, a block parameter, an index) and where it was written."""

    value: Any
    location: Location


# The value of something that could not be resolved; its error is already reported, so checks of
# what it fills are skipped instead of piling up.
_INVALID = object()


@dataclass
class _Scope:
    """What names mean inside one list of layers: the top level, a block use, a repeat pass."""

    values: dict[str, _Bound]  # names for ${...}: vars, block parameters, repeat indices
    refs: dict[str, str]  # names for inputs: → port keys (model inputs, block inputs)
    block: BlockDef | None = None
    ids: dict[str, str] = field(default_factory=dict)  # item ids → port keys


def plan_from(spec: Spec | Plan, registry: LayerRegistry | None, taker: str) -> Plan:
    """The plan of what a public function (``taker``) was given: a Plan as it is, a Spec validated.

    Paths and YAML text are refused: reading is :func:`~layerkit.spec.document.load_spec`'s job,
    done once by whoever holds the file, not again by every stage.

    Raises:
        TypeError: ``spec`` is neither a Spec nor a Plan (the message says how to load one).
        ValueError: a Plan and a ``registry`` other than the one it was validated against.
        SpecErrors: the Spec is invalid.
    """
    if isinstance(spec, Plan):
        if registry is not None and registry is not spec.registry:
            raise ValueError(
                f"{taker}() was given a Plan and a different registry; a plan's layer names mean "
                "the registry it was validated with. Pass the Spec with the registry instead, or "
                "validate(spec, registry) and pass only the plan."
            )
        return spec
    if isinstance(spec, Spec):
        return validate(spec, registry)
    hint = (
        f" Read it first: {taker}(layerkit.load_spec(...)) (load_spec takes a path or YAML text)."
        if isinstance(spec, str | Path)
        else ""
    )
    raise TypeError(
        f"{taker}() expects a Spec (from layerkit.load_spec) or a Plan (from layerkit.validate). "
        f"Received: {type(spec).__name__}.{hint}"
    )


def validate(spec: Spec, registry: LayerRegistry | None = None) -> Plan:
    """Check every name and argument in ``spec`` and expand it into a :class:`Plan`.

    Does not import TensorFlow: layer arguments are checked against the layer catalog, and the
    ``train:`` section's names and arguments against the settings catalog.

    Args:
        spec: a spec from :func:`layerkit.load_spec`.
        registry: the layer registry; the default one (Keras layers plus registered custom layers).

    Returns:
        The plan that :func:`layerkit.build` compiles.

    Raises:
        SpecErrors: every problem found, each with its file:line:column.
    """
    registry = registry or default_registry()
    return replace(_Validator(spec, registry).run(), registry=registry)


class _Validator:
    def __init__(self, spec: Spec, registry: LayerRegistry) -> None:
        self.spec = spec
        self.registry = registry
        self.errors = ErrorCollector()
        self.names_seen: dict[str, Location] = {}
        self.reported: set[tuple[Location, str]] = set()
        self.nodes: list[ResolvedLayer] = []
        self.aliases: dict[str, str] = {}  # port key → the key it stands for
        self.port_origin: dict[str, tuple[str, Location]] = {}  # port key → (label, location)
        self.counter = 0

    def error(self, message: str, location: Location, path: str, fix: str | None = None) -> None:
        # a block's layers are checked at every use: say a problem written in the block once
        key = (location, message)
        if key not in self.reported:
            self.reported.add(key)
            self.errors.add(SpecError(message, location, path, fix))

    def new_key(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    # -- the whole spec ------------------------------------------------------------------------

    def run(self) -> Plan:
        self.check_block_names()
        values = self.evaluate_vars()
        inputs = tuple(PlanInput(f"input:{spec.name}", spec) for spec in self.spec.inputs)
        refs = {plan_input.spec.name: plan_input.key for plan_input in inputs}
        for plan_input in inputs:
            self.port_origin[plan_input.key] = (
                f"input '{plan_input.spec.name}'",
                plan_input.spec.location,
            )
        scope = _Scope(values, refs)
        default_input = inputs[0].key if len(inputs) == 1 else None
        last = self.expand(self.spec.layers, scope, default_input, ())
        outputs: list[str] = []
        if self.spec.outputs is not None:
            for ref in self.spec.outputs:
                port = self.resolve_ref(ref, scope, [], None, "outputs")
                if port is not None:
                    outputs.append(port)
        elif last is not None:
            outputs.append(last)
        if len(self.nodes) > MAX_LAYERS:
            self.error(
                f"the spec expands to {len(self.nodes):,} layers, more than the {MAX_LAYERS:,} "
                "allowed",
                self.spec.inputs[0].location,
                "layers",
                "Lower the repeat counts.",
            )
        augment = self.resolve_augment(scope)
        shape = self.spec.inputs[0].shape if len(self.spec.inputs) == 1 else None
        self.errors.extend(check_settings(self.spec.train, self.spec.data, shape))
        plan = _Wiring(self).finish(inputs, outputs)
        self.errors.raise_if_any()
        return replace(plan, augment=augment)

    def resolve_augment(self, scope: _Scope) -> tuple[ResolvedLayer, ...]:
        """The ``augment:`` list: plain layers in a chain (no blocks, repeats or wiring)."""
        layers = []
        for item in self.spec.augment:
            if self.check_augment_item(item):
                layer = self.resolve_layer(item, _Scope(dict(scope.values), {}), ())
                if layer is not None:
                    layers.append(layer)
        return tuple(layers)

    def check_augment_item(self, item: Item) -> bool:
        """Whether an ``augment:`` item is a single layer; says where and why when it is not."""
        if isinstance(item, LayerCall) and item.name not in self.spec.blocks:
            wiring = [key for key in ("id", "inputs") if key in item.key_locations]
            for key in wiring:
                self.error(
                    f"an augmentation layer takes no '{key}': the augment: list is a chain, each "
                    "layer taking the one before",
                    item.key_locations[key],
                    f"{item.path}.{item.name}.{key}",
                    f"Remove '{key}'.",
                )
            return not wiring
        if isinstance(item, LayerCall):
            what, fix = f"'{item.name}' is a block", "List the block's layers here one by one."
        elif isinstance(item, Repeat):
            what, fix = "this is a repeat", "List the layers once each."
        else:
            what, fix = "this is a shared layer", "Write the augmentation layer itself."
        self.error(
            f"the augment: list takes single layers, applied in order: {what}",
            item.location,
            item.path,
            fix,
        )
        return False

    def check_block_names(self) -> None:
        for block in self.spec.blocks.values():
            try:
                class_name = self.registry.resolve(block.name)
            except UnknownLayerError:
                continue
            self.error(
                f"block name '{block.name}' is already the name of the layer {class_name}",
                block.location,
                block.path,
                f"Rename the block, e.g. to '{block.name}_block'.",
            )

    def evaluate_vars(self) -> dict[str, _Bound]:
        values: dict[str, _Bound] = {}
        for name, node in self.spec.vars.items():
            values[name] = self.substitute(node, _Scope(dict(values), {}), f"vars.{name}")
        return values

    # -- expansion: each list of items is a scope ------------------------------------------------

    def expand(
        self,
        items: tuple[Item, ...],
        scope: _Scope,
        default_input: str | None,
        trail: tuple[str, ...],
        active_blocks: tuple[str, ...] = (),
    ) -> str | None:
        """Expand ``items`` fed by ``default_input``; return the port of the last item's output."""
        ports = [self.new_key("port") for _ in items]
        for item, port in zip(items, ports, strict=True):
            self.port_origin[port] = (_item_label(item), item.location)
            if item.id is None:
                continue
            if item.id in scope.ids or item.id in scope.refs:
                first = self.port_origin[scope.ids.get(item.id) or scope.refs[item.id]][1]
                self.error(
                    f"id '{item.id}' is used twice in this list (first at line {first.line})",
                    item.location,
                    f"{item.path}.id",
                    "Give each layer a different id.",
                )
                continue
            scope.ids[item.id] = port
        previous = default_input
        for index, (item, port) in enumerate(zip(items, ports, strict=True)):
            if len(self.nodes) > MAX_LAYERS:
                return None
            before = ([default_input] if default_input else []) + ports[:index]
            feeds = self.item_inputs(item, scope, before, previous)
            if feeds is not None:
                output = self.expand_item(item, scope, feeds, trail, active_blocks)
                if output is not None:
                    self.aliases[port] = output
            previous = port
        return ports[-1] if ports else default_input

    def item_inputs(
        self, item: Item, scope: _Scope, earlier: list[str], previous: str | None
    ) -> list[str] | None:
        """The ports feeding ``item``: its ``inputs:``, or the previous item's output."""
        if item.inputs is None:
            if previous is None:
                names = ", ".join(plan_input.name for plan_input in self.spec.inputs)
                self.error(
                    f"the first layer must say which input it takes: the model has several "
                    f"({names})",
                    item.location,
                    _item_path(item),
                    "Add 'inputs: NAME' to this layer.",
                )
                return None
            return [previous]
        ports = []
        for ref in item.inputs:
            port = self.resolve_ref(ref, scope, earlier, item, f"{_item_path(item)}.inputs")
            if port is None:
                return None
            ports.append(port)
        return ports

    def resolve_ref(
        self, ref: Ref, scope: _Scope, earlier: list[str], item: Item | None, path: str
    ) -> str | None:
        if isinstance(ref.target, int):
            if -ref.target > len(earlier):
                self.error(
                    f"input {ref.target} reaches before the start of this list ("
                    + (
                        "here -1 is the list's own input)"
                        if len(earlier) == 1
                        else f"-1 is the item before, {-len(earlier)} the list's own input)"
                    ),
                    ref.location,
                    path,
                    "Refer to the layer by its id instead.",
                )
                return None
            return earlier[ref.target]
        if ref.target in scope.ids:
            return scope.ids[ref.target]
        if ref.target in scope.refs:
            return scope.refs[ref.target]
        known = [*scope.ids, *scope.refs]
        hint = did_you_mean(ref.target, known) or (
            f"Known here: {', '.join(known)}." if known else "Give the layer you mean an 'id:'."
        )
        where = f"block '{scope.block.name}'" if scope.block else "the spec's layers"
        self.error(f"'{ref.target}' is not an id or input in {where}", ref.location, path, hint)
        return None

    def expand_item(
        self,
        item: Item,
        scope: _Scope,
        feeds: list[str],
        trail: tuple[str, ...],
        active_blocks: tuple[str, ...],
    ) -> str | None:
        if isinstance(item, Repeat):
            return self.expand_repeat(item, scope, feeds, trail, active_blocks)
        if isinstance(item, Shared):
            return self.expand_shared(item, scope, feeds, trail)
        if item.name in self.spec.blocks:
            return self.expand_block(item, scope, feeds, trail, active_blocks)
        layer = self.resolve_layer(item, scope, trail)
        if layer is None:
            return None
        key = self.new_key("n")
        label = f"'{item.id}'" if item.id else layer.class_name
        self.nodes.append(replace(layer, key=key, inputs=tuple(feeds), label=label))
        self.port_origin[key] = (label, item.location)
        return key

    def expand_shared(
        self, item: Shared, scope: _Scope, feeds: list[str], trail: tuple[str, ...]
    ) -> str | None:
        path = " → ".join((*trail, f"{item.path}.shared"))
        port = scope.ids.get(str(item.target))
        target = self.aliases.get(port) if port else None
        node = next((node for node in self.nodes if node.key == target), None)
        if node is None:
            if port is not None:
                message = f"'{item.target}' is written after this item: share a layer after it"
                hint = "Move the shared item below the layer it shares."
            else:
                message = f"'{item.target}' is not the id of a layer in this list"
                hint = did_you_mean(str(item.target), list(scope.ids)) or (
                    "Share a layer written earlier in this list, by its id."
                )
            self.error(message, item.target.location, f"{path}.layer", hint)
            return None
        key = self.new_key("n")
        label = f"'{item.id}'" if item.id else f"shared {node.label}"
        self.nodes.append(
            replace(
                node,
                location=item.location,
                path=path,
                key=key,
                inputs=tuple(feeds),
                shares=node.shares or node.key,
                label=label,
            )
        )
        self.port_origin[key] = (label, item.location)
        return key

    def expand_repeat(
        self,
        repeat: Repeat,
        scope: _Scope,
        feeds: list[str],
        trail: tuple[str, ...],
        active_blocks: tuple[str, ...],
    ) -> str | None:
        times = self.substitute(repeat.times, scope, f"{repeat.path}.repeat")
        count = times.value
        if count is _INVALID:
            return None
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1000:
            self.error(
                f"expected a repeat count from 1 to 1000, received {describe(count)}",
                times.location,
                f"{repeat.path}.repeat",
            )
            return None
        if len(feeds) != 1:
            self.error(
                f"a repeat takes one input, received {len(feeds)}",
                repeat.location,
                repeat.path,
            )
            return None
        output: str | None = feeds[0]
        for index in range(count):
            values = dict(scope.values)
            if repeat.index:
                values[repeat.index] = _Bound(index, repeat.location)
            inner = _Scope(values, dict(scope.refs), scope.block)
            inner_trail = (*trail, f"repeat {index + 1}/{count}") if count > 1 else trail
            output = self.expand(repeat.layers, inner, output, inner_trail, active_blocks)
            if output is None:
                return None
        return output

    def expand_block(
        self,
        call: LayerCall,
        scope: _Scope,
        feeds: list[str],
        trail: tuple[str, ...],
        active_blocks: tuple[str, ...],
    ) -> str | None:
        block: BlockDef = self.spec.blocks[call.name]
        path = self.layer_path(call, trail)
        if call.name in active_blocks:
            chain = " → ".join((*active_blocks, call.name))
            self.error(
                f"block '{call.name}' uses itself ({chain})",
                call.location,
                path,
                "Remove the use that closes the loop.",
            )
            return None
        if len(active_blocks) >= MAX_BLOCK_DEPTH:
            self.error(
                f"blocks are nested more than {MAX_BLOCK_DEPTH} deep",
                call.location,
                path,
                "Flatten the block structure.",
            )
            return None
        if len(feeds) != len(block.inputs):
            self.error(
                f"block '{block.name}' takes {len(block.inputs)} input"
                f"{'s' if len(block.inputs) != 1 else ''} ({', '.join(block.inputs)}), "
                f"received {len(feeds)}",
                call.location,
                path,
                f"Give this use 'inputs: [{', '.join(block.inputs)}]'.",
            )
            return None
        values = self.block_values(block, call, scope, path)
        inner = _Scope(values, dict(zip(block.inputs, feeds, strict=True)), block)
        inner_trail = (*trail, f"{call.path}.{call.name}")
        last = self.expand(block.layers, inner, feeds[0], inner_trail, (*active_blocks, block.name))
        if block.output is None:
            return last
        return self.resolve_ref(block.output, inner, [], None, f"{block.path}.output")

    def block_values(
        self, block: BlockDef, call: LayerCall, scope: _Scope, path: str
    ) -> dict[str, _Bound]:
        """The names a block's ${...} can use: the spec's vars, then this use's parameters."""
        values = {name: bound for name, bound in scope.values.items() if name in self.spec.vars}
        for name, value in call.args.items():
            if name not in block.param_names:
                hint = did_you_mean(name, block.param_names) or (
                    f"Block '{block.name}' takes: {', '.join(block.param_names) or 'no parameters'}."
                )
                self.error(
                    f"unknown parameter '{name}' for block '{block.name}'",
                    self.key_location(call, name),
                    f"{path}.{name}",
                    hint,
                )
            elif isinstance(value, Node):
                values[name] = self.substitute(value, scope, f"{path}.{name}")
        for name in block.params:
            if name not in call.args:
                values[name] = _Bound(_INVALID, call.location)
                self.error(
                    f"block '{block.name}' needs parameter '{name}'",
                    call.location,
                    path,
                    f"Add '{name}: ...' to this use of '{block.name}' (defined at "
                    f"{_place(block.location, call.location)}).",
                )
        for name, default in block.defaults.items():
            if name not in values or (name in self.spec.vars and name not in call.args):
                values[name] = self.substitute(
                    default, _Scope(dict(values), {}, block), f"{block.path}.defaults.{name}"
                )
        return values

    # -- one layer -----------------------------------------------------------------------------

    def layer_path(self, call: LayerCall, trail: tuple[str, ...]) -> str:
        return " → ".join((*trail, f"{call.path}.{call.name}"))

    def key_location(self, call: LayerCall, name: str) -> Location:
        return call.key_locations.get(name, call.location)

    def resolve_class(self, call: LayerCall, path: str) -> LayerInfo | None:
        try:
            class_name = self.registry.resolve(call.name)
        except UnknownLayerError as unknown:
            hint = unknown.hint
            if self.spec.blocks:
                choices = [*self.spec.blocks, *self.registry.spellings()]
                hint = did_you_mean(call.name, choices) or hint
            self.error(f"unknown layer '{call.name}'", call.location, path, hint)
            return None
        return self.registry.info(class_name)

    def resolve_layer(
        self, call: LayerCall, scope: _Scope, trail: tuple[str, ...]
    ) -> ResolvedLayer | None:
        path = self.layer_path(call, trail)
        info = self.resolve_class(call, path)
        if info is None:
            return None
        args: dict[str, Any] = {}
        arg_locations: dict[str, Location] = {}
        ok = True
        for name, value in call.args.items():
            resolved = self.resolve_arg(info, call, name, value, scope, trail, f"{path}.{name}")
            if resolved is None:
                ok = False
            else:
                args[name], arg_locations[name] = resolved
        misspelled = {
            did_you_mean(name, [*info.args]) for name in call.args if name not in info.args
        }
        for name, arg in info.args.items():
            if (
                arg.required
                and name not in call.args
                and f"Did you mean '{name}'?" not in misspelled
            ):
                self.error(
                    f"{info.class_name} needs argument '{name}'",
                    call.location,
                    path,
                    f"Add '{name}: ...' to its arguments.",
                )
                ok = False
        if not ok:
            return None
        self.check_unique_name(args, arg_locations, path)
        return ResolvedLayer(info.class_name, args, call.location, path, arg_locations)

    def resolve_arg(
        self,
        info: LayerInfo,
        call: LayerCall,
        name: str,
        value: Node | LayerCall,
        scope: _Scope,
        trail: tuple[str, ...],
        arg_path: str,
    ) -> tuple[Any, Location] | None:
        """One argument's checked value and where it was written, or None after reporting why."""
        arg = info.arg(name, self.registry.base_args)
        if arg is None:
            names = info.arg_names(self.registry.base_args)
            hint = did_you_mean(name, names) or f"{info.class_name} takes: {', '.join(names)}."
            self.error(
                f"unknown argument '{name}' for {info.class_name}",
                self.key_location(call, name),
                arg_path,
                hint,
            )
            return None
        if isinstance(value, LayerCall):
            if arg.kinds and "layer" not in arg.kinds:
                self.error(
                    f"argument '{name}' of {info.class_name} expects {kinds_text(arg.kinds)}, "
                    "received a layer",
                    value.location,
                    arg_path,
                )
                return None
            nested = self.resolve_nested(value, scope, trail)
            return None if nested is None else (nested, value.location)
        bound = self.substitute(value, scope, arg_path)
        if _contains_invalid(bound.value):
            return None
        if not accepts(arg.kinds, bound.value):
            self.error(
                f"argument '{name}' of {info.class_name} expects {kinds_text(arg.kinds)}, "
                f"received {describe(bound.value)}",
                bound.location,
                arg_path,
                type_fix(arg.kinds, bound.value),
            )
            return None
        return bound.value, bound.location

    def resolve_nested(
        self, call: LayerCall, scope: _Scope, trail: tuple[str, ...]
    ) -> ResolvedLayer | None:
        if call.name in self.spec.blocks:
            self.error(
                f"block '{call.name}' cannot be used as a wrapped layer",
                call.location,
                self.layer_path(call, trail),
                "Name a single layer here, such as 'lstm: {units: 64}'.",
            )
            return None
        return self.resolve_layer(call, scope, trail)

    def check_unique_name(
        self, args: dict[str, Any], arg_locations: dict[str, Location], path: str
    ) -> None:
        name = args.get("name")
        if not isinstance(name, str):
            return
        location = arg_locations["name"]
        first = self.names_seen.get(name)
        if first is None:
            self.names_seen[name] = location
            return
        self.error(
            f"layer name '{name}' is used more than once (first at line {first.line})",
            location,
            f"{path}.name",
            "Layer names must be unique: build each from a block parameter or a repeat index "
            "(name: \"conv_${i}\"), or leave 'name' out.",
        )

    # -- ${...} expressions --------------------------------------------------------------------

    def substitute(self, node: Node, scope: _Scope, path: str) -> _Bound:
        """The plain value of ``node`` with every ``${...}`` evaluated, and where it was written."""
        if node.is_mapping:
            return _Bound(
                {
                    key: self.substitute(child, scope, f"{path}.{key}").value
                    for key, child in node.value.items()
                },
                node.location,
            )
        if node.is_sequence:
            return _Bound(
                [
                    self.substitute(child, scope, f"{path}[{index}]").value
                    for index, child in enumerate(node.value)
                ],
                node.location,
            )
        value = node.value
        if not isinstance(value, str) or "${" not in value:
            return _Bound(value, node.location)
        whole = EXPRESSION.fullmatch(value.strip())
        if whole:
            name = whole.group(1).strip()
            if name in scope.values:
                return scope.values[name]  # keeps where the value itself was written
            return _Bound(self.evaluate(whole.group(1), node, scope, path), node.location)
        pieces = []
        for match in EXPRESSION.finditer(value):
            result = self.evaluate(match.group(1), node, scope, path)
            if result is _INVALID:
                return _Bound(_INVALID, node.location)
            pieces.append((match.span(), str(result)))
        text = value
        for (start, end), piece in reversed(pieces):
            text = text[:start] + piece + text[end:]
        return _Bound(text, node.location)

    def evaluate(self, expression: str, node: Node, scope: _Scope, path: str) -> Any:
        names = {name: bound.value for name, bound in scope.values.items()}
        if any(names.get(name) is _INVALID for name in names_used(expression)):
            return _INVALID  # a name whose own value failed, already reported
        try:
            return evaluate(expression, names)
        except ExpressionError as error:
            shown = f"'${{{expression.strip()}}}'"
            if error.unknown_name is None:
                message = f"in {shown}: {error.message}"
            elif scope.block is not None:
                message = (
                    f"'{error.unknown_name}' in {shown} is not a parameter of block "
                    f"'{scope.block.name}' nor a var"
                )
            else:
                message = f"'{error.unknown_name}' in {shown} is not a var"
            fix = error.fix
            if error.unknown_name is not None and not names:
                message += " (none is defined here)"
                fix = "Define it under 'vars:', or as a parameter of the block this is in."
            self.error(message, node.location, path, fix)
            return _INVALID


class _Wiring:
    """Turns the expanded nodes into a graph: resolves ports, orders nodes, finds cycles and
    outputs nothing uses."""

    def __init__(self, validator: _Validator) -> None:
        self.validator = validator

    def resolve(self, key: str) -> str | None:
        seen = set()
        aliases = self.validator.aliases
        while key in aliases:
            if key in seen:
                return None
            seen.add(key)
            key = aliases[key]
        return key if not key.startswith("port") else None

    def finish(self, inputs: tuple[PlanInput, ...], output_ports: list[str]) -> Plan:
        validator = self.validator
        complete = not validator.errors.errors
        nodes: dict[str, ResolvedLayer] = {}
        for node in validator.nodes:
            feeds = [self.resolve(port) for port in node.inputs]
            if any(feed is None for feed in feeds):
                complete = False  # fed by an item whose own error is already reported
                continue
            nodes[node.key] = replace(node, inputs=tuple(feeds))
        outputs = [self.resolve(port) for port in output_ports]
        order = self.order(nodes)
        if order is None or not complete or None in outputs:
            # with parts missing, "never used" would only echo the errors already reported
            return Plan(validator.spec, (), inputs, ())
        self.check_unused(nodes, inputs, [key for key in outputs if key])
        return Plan(validator.spec, tuple(nodes[key] for key in order), inputs, tuple(outputs))

    def order(self, nodes: dict[str, ResolvedLayer]) -> list[str] | None:
        """Node keys with every node after its inputs (the spec's order where it already is)."""
        order: list[str] = []
        state: dict[str, int] = {}  # 1 visiting, 2 done
        for start in nodes:
            if state.get(start) == 2:
                continue
            stack: list[tuple[str, int]] = [(start, 0)]
            path: list[str] = []
            while stack:
                key, index = stack.pop()
                if index == 0:
                    state[key] = 1
                    path.append(key)
                feeds = [feed for feed in nodes[key].inputs if feed in nodes]
                if index < len(feeds):
                    stack.append((key, index + 1))
                    feed = feeds[index]
                    if state.get(feed) == 1:
                        self.report_cycle(nodes, path[path.index(feed) :])
                        return None
                    if state.get(feed) != 2:
                        stack.append((feed, 0))
                    continue
                state[key] = 2
                path.pop()
                order.append(key)
        return order

    def report_cycle(self, nodes: dict[str, ResolvedLayer], cycle: list[str]) -> None:
        names = [f"{nodes[key].label} (line {nodes[key].location.line})" for key in cycle]
        first = nodes[cycle[0]]
        self.validator.error(
            f"the layers form a cycle: {' → '.join([*names, names[0]])}",
            first.location,
            first.path,
            "A layer can only take inputs that do not depend on its own output; check 'inputs:'.",
        )

    def check_unused(
        self, nodes: dict[str, ResolvedLayer], inputs: tuple[PlanInput, ...], outputs: list[str]
    ) -> None:
        used = set(outputs)
        for node in nodes.values():
            used.update(node.inputs)
        for node in nodes.values():
            if node.key not in used:
                self.validator.error(
                    f"the output of {node.label} is never used: nothing takes it as input and it "
                    "is not a model output",
                    node.location,
                    node.path,
                    "Feed it to a later layer with 'inputs:', list it in 'outputs:', or remove it.",
                )
        for plan_input in inputs:
            if plan_input.key not in used:
                self.validator.error(
                    f"input '{plan_input.spec.name}' is never used",
                    plan_input.spec.location,
                    "inputs",
                    "Feed it to a layer with 'inputs:', or remove it.",
                )


def _item_label(item: Item) -> str:
    if item.id:
        return f"'{item.id}'"
    if isinstance(item, Repeat):
        return "repeat"
    if isinstance(item, Shared):
        return f"shared '{item.target}'"
    return item.name


def _item_path(item: Item) -> str:
    if isinstance(item, LayerCall):
        return f"{item.path}.{item.name}"
    return f"{item.path}.shared" if isinstance(item, Shared) else item.path


def _place(location: Location, here: Location) -> str:
    return f"line {location.line}" if location.file == here.file else str(location)


def _contains_invalid(value: Any) -> bool:
    if value is _INVALID:
        return True
    if isinstance(value, list):
        return any(_contains_invalid(item) for item in value)
    if isinstance(value, dict):
        return any(_contains_invalid(item) for item in value.values())
    return False
