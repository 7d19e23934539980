"""One layer call checked against the layer catalog: the step from a spec's ``conv2d: {...}`` to a
plan node.

Takes a :class:`~.document.LayerCall` and the :class:`~.substitution.Scope` it is written in;
gives a :class:`~.plan.ResolvedLayer` (class name, plain argument values and where each was
written), or None after reporting why: an unknown layer or argument (with the nearest spelling),
a required argument left out, a value of the wrong kind, a block used as a wrapped layer, a layer
name used twice. Wiring the layer to its inputs is :mod:`.expansion`'s job.
"""

from __future__ import annotations

from typing import Any

from ..catalog.arguments import LayerInfo, accepts, call_problems, kinds_text, type_fix
from ..catalog.layers import LayerRegistry, UnknownLayerError, lookup_key
from ..errors import Location, did_you_mean
from .document import MAX_ARGUMENT_INT, LayerCall, Spec
from .plan import ResolvedLayer
from .problems import Problems, suggest
from .substitution import Scope, contains_invalid, substitute
from .yaml_source import Node, describe, exponent_fix


def too_large(value: Any) -> int | None:
    """The first integer in ``value`` (a list's too) beyond :data:`MAX_ARGUMENT_INT`, if any."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_ARGUMENT_INT:
        return value
    if isinstance(value, list | tuple):
        return next((found for item in value if (found := too_large(item)) is not None), None)
    if isinstance(value, dict):
        return too_large(list(value.values()))
    return None


def layer_path(call: LayerCall, trail: tuple[str, ...]) -> str:
    """Where messages say a layer is: the blocks and repeat passes it is in, then its own path."""
    return " → ".join((*trail, f"{call.path}.{call.name}"))


def key_location(call: LayerCall, name: str) -> Location:
    """Where an argument's name is written in a call (the call's own place if not known)."""
    return call.key_locations.get(name, call.location)


class LayerCallChecker:
    """Checks layer calls against ``registry``; layer names must be unique across all it checks."""

    def __init__(self, spec: Spec, registry: LayerRegistry, problems: Problems) -> None:
        self.spec = spec
        self.registry = registry
        self.problems = problems
        self.names_seen: dict[str, Location] = {}
        self._known_keys: set[str] | None = None
        self.resolved: dict[str, tuple[str | None, str | None]] = {}  # name → look_up's answer

    def resolve_class(self, call: LayerCall, path: str) -> LayerInfo | None:
        if self.problems.full and lookup_key(call.name) not in self.known_keys():
            # only counted now: skip the registry's "did you mean", a search of every name
            self.problems.error(f"unknown layer '{call.name}'", call.location, path)
            return None
        if call.name not in self.resolved:  # a block's layers are checked at every use
            self.resolved[call.name] = self.look_up(call.name)
        class_name, hint = self.resolved[call.name]
        if class_name is None:
            self.problems.error(f"unknown layer '{call.name}'", call.location, path, hint)
            return None
        return self.registry.info(class_name)

    def look_up(self, name: str) -> tuple[str | None, str | None]:
        """(class name, None) for a name the registry resolves, else (None, the hint)."""
        try:
            return self.registry.resolve(name), None
        except UnknownLayerError as unknown:
            hint = unknown.hint
            if self.spec.blocks:
                choices = [*self.spec.blocks, *self.registry.spellings()]
                hint = suggest(name, choices) or hint
            return None, hint

    def known_keys(self) -> set[str]:
        """The lookup form of every name the registry resolves (worked out once)."""
        if self._known_keys is None:
            names = [*self.registry.spellings(), *self.registry.names()]
            self._known_keys = {lookup_key(name) for name in names}
        return self._known_keys

    def resolve(
        self, call: LayerCall, scope: Scope, trail: tuple[str, ...]
    ) -> ResolvedLayer | None:
        path = layer_path(call, trail)
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
        missing = [
            name for name, arg in info.args.items() if arg.required and name not in call.args
        ]
        if missing:  # a misspelled name suggested as a missing one is one problem, not two
            misspelled = {
                did_you_mean(name, [*info.args]) for name in call.args if name not in info.args
            }
            for name in missing:
                if f"Did you mean '{name}'?" in misspelled:
                    continue
                self.problems.error(
                    f"{info.class_name} needs argument '{name}'",
                    call.location,
                    path,
                    f"Add '{name}: ...' to its arguments.",
                )
                ok = False
        if not self.check_input_names(info, call, path):
            ok = False
        if not ok:
            return None
        self.check_unique_name(args, arg_locations, path)
        return ResolvedLayer(
            info.class_name, args, call.location, path, arg_locations, input_names=call.input_names
        )

    def check_input_names(self, info: LayerInfo, call: LayerCall, path: str) -> bool:
        """Whether the names of ``inputs:`` as a mapping are inputs of the layer's ``call``, and
        whether a layer whose call needs several tensors by name gets them so."""
        if call.input_names is None:
            needed = [arg.name for arg in info.call_args if arg.required and arg.tensor]
            if len(needed) < 2:
                return True
            pairs = ", ".join(f"{name}: ID" for name in needed)
            self.problems.error(
                f"{info.class_name} takes its inputs by name ({', '.join(needed)}): "
                + (
                    "a list does not say which is which"
                    if call.inputs
                    else "one input is not enough"
                ),
                key_location(call, "inputs"),
                f"{path}.inputs",
                f"Write 'inputs: {{{pairs}}}' (the same id twice for self-attention).",
            )
            return False
        found = call_problems(info, call.input_names)
        for problem in found:
            key = f"inputs.{problem.name}" if problem.written else "inputs"
            self.problems.error(
                problem.message, key_location(call, key), f"{path}.{key}", problem.fix
            )
        return not found

    def resolve_arg(
        self,
        info: LayerInfo,
        call: LayerCall,
        name: str,
        value: Node | LayerCall,
        scope: Scope,
        trail: tuple[str, ...],
        arg_path: str,
    ) -> tuple[Any, Location] | None:
        """One argument's checked value and where it was written, or None after reporting why."""
        arg = info.arg(name, self.registry.base_args)
        if arg is None:
            names = info.arg_names(self.registry.base_args)
            self.problems.error(
                f"unknown argument '{name}' for {info.class_name}",
                key_location(call, name),
                arg_path,
                lambda: (
                    did_you_mean(name, names) or f"{info.class_name} takes: {', '.join(names)}."
                ),
            )
            return None
        if isinstance(value, LayerCall):
            if arg.kinds and "layer" not in arg.kinds:
                self.problems.error(
                    f"argument '{name}' of {info.class_name} expects {kinds_text(arg.kinds)}, "
                    "received a layer",
                    value.location,
                    arg_path,
                )
                return None
            nested = self.resolve_nested(value, scope, trail)
            return None if nested is None else (nested, value.location)
        bound = substitute(self.problems, value, scope, arg_path)
        if contains_invalid(bound.value):
            return None
        large = too_large(bound.value)
        if large is not None:
            self.problems.error(
                f"argument '{name}' of {info.class_name} holds the integer {large:,}, beyond "
                f"the ±{MAX_ARGUMENT_INT:,} a layer argument may have",
                bound.location,
                arg_path,
                "Check the number: a size or count this large cannot be built.",
            )
            return None
        if not accepts(arg.kinds, bound.value):
            self.problems.error(
                f"argument '{name}' of {info.class_name} expects {kinds_text(arg.kinds)}, "
                f"received {describe(bound.value)}",
                bound.location,
                arg_path,
                type_fix(arg.kinds, bound.value),
            )
            return None
        if not arg.kinds and (fix := exponent_fix(bound.value)) is not None:
            # an argument of no known kind takes text too, but never a number YAML read as text
            self.problems.error(
                f"argument '{name}' of {info.class_name} received the text '{bound.value}', a "
                "number YAML reads as text",
                bound.location,
                arg_path,
                fix,
            )
            return None
        return bound.value, bound.location

    def resolve_nested(
        self, call: LayerCall, scope: Scope, trail: tuple[str, ...]
    ) -> ResolvedLayer | None:
        if call.name in self.spec.blocks:
            self.problems.error(
                f"block '{call.name}' cannot be used as a wrapped layer",
                call.location,
                layer_path(call, trail),
                "Name a single layer here, such as 'lstm: {units: 64}'.",
            )
            return None
        return self.resolve(call, scope, trail)

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
        self.problems.error(
            f"layer name '{name}' is used more than once (first at line {first.line})",
            location,
            f"{path}.name",
            "Layer names must be unique: build each from a block parameter or a repeat index "
            "(name: \"conv_${i}\"), or leave 'name' out.",
        )
