"""Validation: resolve every name in a spec and expand blocks and repeats into a flat plan.

Works from the layer catalog alone, so it never imports TensorFlow. It checks layer names, argument
names, required arguments, simple argument types, block parameters and ``${param}`` references, and
reports every problem it finds in one :class:`~layerkit.errors.SpecErrors`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ErrorCollector, Location, SpecError, did_you_mean
from .registry import LayerInfo, LayerRegistry, UnknownLayerError, default_registry
from .spec import BlockDef, Item, LayerCall, Repeat, Spec, load_spec
from .yaml_source import Node, describe

REFERENCE = re.compile(r"\$\{([^}]*)\}")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_BLOCK_DEPTH = 32
MAX_LAYERS = 10_000

KIND_NAMES = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "str": "text",
    "null": "null",
    "list": "a list",
    "map": "a mapping",
    "layer": "a layer (such as 'lstm: {units: 64}')",
}


@dataclass(frozen=True)
class ResolvedLayer:
    """One layer of the plan: a class and plain argument values, with where each was written.

    ``args`` values are plain YAML values, or a ResolvedLayer for a wrapper's nested layer.
    """

    class_name: str
    args: dict[str, Any]
    location: Location
    path: str
    arg_locations: dict[str, Location]


@dataclass(frozen=True)
class Plan:
    """A validated spec: the spec itself and its layers in order, blocks and repeats expanded."""

    spec: Spec
    layers: tuple[ResolvedLayer, ...]


# The scope key that holds the name of the block whose layers are being expanded ('$' is not a
# valid parameter name, so it cannot clash).
_BLOCK = "$block"
# The value of a reference that could not be resolved; its error is already reported, so checks
# of the argument it fills are skipped instead of piling up.
_INVALID = object()


@dataclass(frozen=True)
class _Bound:
    """A block parameter's value in one use of the block, and where that value was written."""

    value: Any
    location: Location


def plan_of(spec: Spec | Plan | str | Path, registry: LayerRegistry | None = None) -> Plan:
    """Load and validate as needed: accepts a spec file path, YAML text, a Spec or a Plan."""
    if isinstance(spec, Plan):
        return spec
    if not isinstance(spec, Spec):
        spec = load_spec(spec)
    return validate(spec, registry)


def validate(spec: Spec, registry: LayerRegistry | None = None) -> Plan:
    """Check every name and argument in ``spec`` and expand it into a :class:`Plan`.

    Does not import TensorFlow: layer arguments are checked against the layer catalog.

    Args:
        spec: a spec from :func:`layerkit.load_spec`.
        registry: the layer registry; the default one (Keras layers plus registered custom layers).

    Returns:
        The plan that :func:`layerkit.build` compiles.

    Raises:
        SpecErrors: every problem found, each with its file:line:column.
    """
    return _Validator(spec, registry or default_registry()).run()


class _Validator:
    def __init__(self, spec: Spec, registry: LayerRegistry) -> None:
        self.spec = spec
        self.registry = registry
        self.errors = ErrorCollector()
        self.names_seen: dict[str, Location] = {}
        self.layer_count = 0
        self.reported: set[tuple[Location, str]] = set()

    def error(self, message: str, location: Location, path: str, fix: str | None = None) -> None:
        # a block's layers are checked at every use: say a problem written in the block once
        key = (location, message)
        if key not in self.reported:
            self.reported.add(key)
            self.errors.add(SpecError(message, location, path, fix))

    def run(self) -> Plan:
        self.check_block_names()
        layers = self.expand(self.spec.layers, {}, (), ())
        self.errors.raise_if_any()
        return Plan(self.spec, tuple(layers))

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

    # -- expansion -----------------------------------------------------------------------------

    def expand(
        self,
        items: tuple[Item, ...],
        scope: dict[str, _Bound],
        trail: tuple[str, ...],
        active_blocks: tuple[str, ...],
    ) -> list[ResolvedLayer]:
        layers: list[ResolvedLayer] = []
        for item in items:
            if self.layer_count > MAX_LAYERS:
                break
            if isinstance(item, Repeat):
                layers += self.expand_repeat(item, scope, trail, active_blocks)
            elif item.name in self.spec.blocks:
                layers += self.expand_block(item, scope, trail, active_blocks)
            else:
                layer = self.resolve_layer(item, scope, trail)
                if layer is not None:
                    layers.append(layer)
                    self.count_layer(item)
        return layers

    def count_layer(self, item: LayerCall) -> None:
        self.layer_count += 1
        if self.layer_count == MAX_LAYERS + 1:
            self.error(
                f"the spec expands to more than {MAX_LAYERS:,} layers",
                item.location,
                item.path,
                "Lower the repeat counts.",
            )

    def expand_repeat(
        self,
        repeat: Repeat,
        scope: dict[str, _Bound],
        trail: tuple[str, ...],
        active_blocks: tuple[str, ...],
    ) -> list[ResolvedLayer]:
        times = self.substitute(repeat.times, scope, f"{repeat.path}.repeat")
        count = times.value
        if count is _INVALID:
            return []
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            self.error(
                f"expected a positive integer repeat count, received {describe(count)}",
                times.location,
                f"{repeat.path}.repeat",
            )
            return []
        layers = []
        for index in range(count):
            inner_trail = (*trail, f"repeat {index + 1}/{count}") if count > 1 else trail
            layers += self.expand(repeat.layers, scope, inner_trail, active_blocks)
        return layers

    def expand_block(
        self,
        call: LayerCall,
        scope: dict[str, _Bound],
        trail: tuple[str, ...],
        active_blocks: tuple[str, ...],
    ) -> list[ResolvedLayer]:
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
            return []
        if len(active_blocks) >= MAX_BLOCK_DEPTH:
            self.error(
                f"blocks are nested more than {MAX_BLOCK_DEPTH} deep",
                call.location,
                path,
                "Flatten the block structure.",
            )
            return []
        inner_scope: dict[str, _Bound] = {_BLOCK: _Bound(block.name, block.location)}
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
                inner_scope[name] = self.substitute(value, scope, f"{path}.{name}")
        for name in block.params:
            if name not in call.args:
                inner_scope[name] = _Bound(_INVALID, call.location)
                self.error(
                    f"block '{block.name}' needs parameter '{name}'",
                    call.location,
                    path,
                    f"Add '{name}: ...' to this use of '{block.name}' (defined at line "
                    f"{block.location.line}).",
                )
        for name, default in block.defaults.items():
            if name not in inner_scope:
                inner_scope[name] = self.substitute(default, {}, f"{block.path}.defaults.{name}")
        inner_trail = (*trail, f"{call.path}.{call.name}")
        return self.expand(block.layers, inner_scope, inner_trail, (*active_blocks, block.name))

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
        self, call: LayerCall, scope: dict[str, _Bound], trail: tuple[str, ...]
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
        scope: dict[str, _Bound],
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
                    f"argument '{name}' of {info.class_name} expects {_kinds_text(arg.kinds)}, "
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
        if arg.kinds and _kind_of(bound.value) not in _accepted(arg.kinds):
            self.error(
                f"argument '{name}' of {info.class_name} expects {_kinds_text(arg.kinds)}, "
                f"received {describe(bound.value)}",
                bound.location,
                arg_path,
                _type_fix(arg.kinds, bound.value),
            )
            return None
        return bound.value, bound.location

    def resolve_nested(
        self, call: LayerCall, scope: dict[str, _Bound], trail: tuple[str, ...]
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
            "Layer names must be unique: give each a different name, or leave 'name' out inside "
            "blocks and repeats.",
        )

    # -- ${param} references ---------------------------------------------------------------------

    def substitute(self, node: Node, scope: dict[str, _Bound], path: str) -> _Bound:
        """The plain value of ``node`` with block parameters put in, and where it was written."""
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
        whole = REFERENCE.fullmatch(value)
        if whole:
            bound = self.lookup(whole.group(1), node, scope, path)
            return bound if bound is not None else _Bound(_INVALID, node.location)
        pieces = []
        for match in REFERENCE.finditer(value):
            bound = self.lookup(match.group(1), node, scope, path)
            if bound is None or bound.value is _INVALID:
                return _Bound(_INVALID, node.location)
            pieces.append((match.span(), str(bound.value)))
        text = value
        for (start, end), piece in reversed(pieces):
            text = text[:start] + piece + text[end:]
        return _Bound(text, node.location)

    def lookup(self, name: str, node: Node, scope: dict[str, _Bound], path: str) -> _Bound | None:
        name = name.strip()
        if not IDENTIFIER.fullmatch(name):
            self.error(
                f"'${{{name}}}' is not a parameter name: spec version 1 substitutes block "
                "parameters only",
                node.location,
                path,
                "Write '${name}' with the name of one of the block's parameters.",
            )
            return None
        if name in scope:
            return scope[name]
        if _BLOCK not in scope:
            self.error(
                f"'${{{name}}}' refers to a block parameter, but it is not inside a block",
                node.location,
                path,
                "Use ${...} only in the layers of a block that lists the parameter.",
            )
        else:
            params = [param for param in scope if param != _BLOCK]
            hint = did_you_mean(name, params) or (
                f"This block's parameters: {', '.join(params) or 'none'}."
            )
            self.error(f"unbound block parameter '{name}'", node.location, path, hint)
        return None


def _contains_invalid(value: Any) -> bool:
    if value is _INVALID:
        return True
    if isinstance(value, list):
        return any(_contains_invalid(item) for item in value)
    if isinstance(value, dict):
        return any(_contains_invalid(item) for item in value.values())
    return False


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    return "map"


def _accepted(kinds: tuple[str, ...]) -> set[str]:
    accepted = set(kinds)
    if "float" in accepted:
        accepted.add("int")
    return accepted


def _kinds_text(kinds: tuple[str, ...]) -> str:
    names = [KIND_NAMES[kind] for kind in kinds if not (kind == "int" and "float" in kinds)]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _type_fix(kinds: tuple[str, ...], value: Any) -> str:
    if isinstance(value, str) and "int" in kinds:
        try:
            float(value)
        except ValueError:
            return f"Write {_kinds_text(kinds)} here."
        return "Write the number without quotes."
    if isinstance(value, float) and kinds[0] == "int" and "float" not in kinds:
        return "Write a whole number."
    return f"Write {_kinds_text(kinds)} here."
