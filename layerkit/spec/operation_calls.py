"""One ``op:`` item checked against the operations catalog: the step from ``op: {add: 3.0}`` to a
plan node.

Takes an :class:`~.document.Operation`, the :class:`~.substitution.Scope` it is written in and how
many tensors feed it; gives a :class:`~.plan.ResolvedLayer` with ``operation=True`` (the
``keras.ops`` function's fixed name and its constant arguments by parameter name), or None after
reporting why: an unknown or refused op (with the nearest name, or the reason), a parameter it
does not have, one given twice (as a tensor input and as a constant), a required one left out,
more tensors than it takes, a value of the wrong kind. Expansion wires the node to its inputs.
No Keras is imported: the catalog is read from JSON.
"""

from __future__ import annotations

from typing import Any

from ..catalog.arguments import accepts, kinds_text, type_fix
from ..catalog.layers import UnknownLayerError, default_registry
from ..catalog.operations import (
    OperationCatalog,
    OperationInfo,
    UnknownOperationError,
    default_operations,
)
from ..errors import Location, did_you_mean
from .document import MAX_ARGUMENT_INT, Operation
from .layer_calls import too_large
from .plan import ResolvedLayer
from .problems import Problems
from .substitution import Scope, contains_invalid, substitute
from .yaml_source import Node, describe


def operation_path(item: Operation, trail: tuple[str, ...]) -> str:
    """Where messages say an op is: the blocks and repeat passes it is in, then ``[…].op.add``."""
    return " → ".join((*trail, f"{item.path}.op.{item.name}"))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


_FAILED = object()  # a constant that was reported: None is a constant's value too


class OperationChecker:
    """Checks ``op:`` items against the operations catalog."""

    def __init__(self, problems: Problems, catalog: OperationCatalog | None = None) -> None:
        self.problems = problems
        self.catalog = catalog or default_operations()

    def resolve(
        self, item: Operation, scope: Scope, trail: tuple[str, ...], input_count: int
    ) -> ResolvedLayer | None:
        """The plan node for ``item`` fed by ``input_count`` tensors, or None after reporting why.
        ``key``, ``inputs`` and ``label`` are the expansion's to fill in."""
        path = operation_path(item, trail)
        info = self.look_up(item, path)
        if info is None:
            return None
        tensors = self.tensor_params(item, info, input_count, path)
        if tensors is None:
            return None
        constants = self.constants(item, info, tensors, scope, path)
        if constants is None:
            return None
        args, arg_locations = constants
        missing = [
            name
            for name, param in info.params.items()
            if param.required and name not in tensors and name not in args
        ]
        if missing:
            self.problems.error(
                f"op '{info.name}' needs parameter '{missing[0]}'",
                self.name_location(item),
                path,
                self.missing_fix(info, missing[0], tensors, item.input_names is not None),
            )
            return None
        return ResolvedLayer(
            info.name,
            args,
            item.location,
            path,
            arg_locations,
            input_names=item.input_names,
            operation=True,
        )

    def name_location(self, item: Operation) -> Location:
        return item.key_locations.get(item.name, item.location)

    def look_up(self, item: Operation, path: str) -> OperationInfo | None:
        try:
            return self.catalog.info(self.catalog.resolve(item.name))
        except UnknownOperationError as unknown:
            location = self.name_location(item)
            if unknown.reason is not None:
                message = f"keras.ops.{unknown.name} cannot be an op: {unknown.reason}"
                self.problems.error(message, location, path, unknown.hint)
            elif self.is_layer(item.name):
                self.problems.error(
                    f"'{item.name}' is a layer, not a keras.ops function",
                    location,
                    path,
                    f"Write it as an item of its own ('- {item.name}: {{...}}'), not under 'op:'.",
                )
            else:
                self.problems.error(
                    f"unknown op '{item.name}'",
                    location,
                    path,
                    unknown.hint or "Name a function of keras.ops, such as add, multiply or mean.",
                )
            return None

    @staticmethod
    def is_layer(name: str) -> bool:
        try:
            default_registry().resolve(name)
        except UnknownLayerError:
            return False
        return True

    def tensor_params(
        self, item: Operation, info: OperationInfo, input_count: int, path: str
    ) -> list[str] | None:
        """The parameters the item's tensor inputs fill, in order, or None after reporting why."""
        names = info.param_names
        if info.list_input:
            if item.input_names is not None:
                self.problems.error(
                    f"op '{info.name}' takes its tensors as one list under '{names[0]}'",
                    item.inputs[0].location if item.inputs else item.location,
                    f"{path}.inputs",
                    "Write 'inputs:' as a list of references, such as 'inputs: [a, b]'.",
                )
                return None
            return names[:1]
        if item.input_names is not None:
            return self.named_tensor_params(item, info, path)
        if input_count > len(names):
            self.problems.error(
                f"op '{info.name}' takes at most {_plural(len(names), 'tensor input')} "
                f"({', '.join(names)}), received {input_count}",
                self.name_location(item),
                path,
                f"Give it at most {len(names)} in 'inputs:'.",
            )
            return None
        return names[:input_count]

    def named_tensor_params(
        self, item: Operation, info: OperationInfo, path: str
    ) -> list[str] | None:
        """The parameters named under ``inputs:``, each one the op has and that may be a tensor
        (not a switch or a text such as ``keepdims``); None after reporting why."""
        names = info.param_names
        ok = True
        for index, name in enumerate(item.input_names or ()):
            location = item.key_locations.get(f"inputs.{name}") or (
                item.inputs[index].location if item.inputs else item.location
            )
            param = info.params.get(name)
            if param is None:
                self.problems.error(
                    f"op '{info.name}' has no parameter '{name}' to take an input",
                    location,
                    f"{path}.inputs.{name}",
                    did_you_mean(name, names) or f"{info.name} takes: {', '.join(names)}.",
                )
                ok = False
            elif param.kinds:
                self.problems.error(
                    f"parameter '{name}' of op '{info.name}' takes {kinds_text(param.kinds)}, "
                    "not a tensor",
                    location,
                    f"{path}.inputs.{name}",
                    f"Give it as a constant: 'op: {{{info.name}: {{{name}: VALUE}}}}'.",
                )
                ok = False
        return list(item.input_names or ()) if ok else None

    def constants(
        self,
        item: Operation,
        info: OperationInfo,
        tensors: list[str],
        scope: Scope,
        path: str,
    ) -> tuple[dict[str, Any], dict[str, Location]] | None:
        """The constant arguments by parameter name, and where each is written; None after
        reporting why."""
        node = item.argument
        if node is None or node.value is None:
            return {}, {}
        if node.is_mapping:
            given = dict(node.value)
            locations = {name: node.key_location(name) for name in given}
        else:
            free = [name for name in info.param_names if name not in tensors]
            if not free:
                self.problems.error(
                    f"op '{info.name}' takes no constant: its parameters "
                    f"({', '.join(info.param_names)}) are all fed by its inputs",
                    node.location,
                    path,
                    f"Write 'op: {{{item.name}: null}}'.",
                )
                return None
            given = {free[0]: node}
            locations = {free[0]: node.location}
        args: dict[str, Any] = {}
        ok = True
        for name, value in given.items():
            checked = self.constant(info, tensors, name, value, locations[name], scope, path)
            if checked is _FAILED:
                ok = False
            else:
                args[name] = checked
        return (args, locations) if ok else None

    def constant(
        self,
        info: OperationInfo,
        tensors: list[str],
        name: str,
        node: Node,
        location: Location,
        scope: Scope,
        path: str,
    ) -> Any:
        """One constant's checked value, or :data:`_FAILED` after reporting why."""
        param = info.params.get(name)
        if param is None:
            self.problems.error(
                f"unknown parameter '{name}' for op '{info.name}'",
                location,
                f"{path}.{name}",
                lambda: (
                    did_you_mean(name, info.param_names)
                    or f"{info.name} takes: {', '.join(info.param_names)}."
                ),
            )
            return _FAILED
        if name in tensors:
            self.problems.error(
                f"parameter '{name}' of op '{info.name}' is given twice: by 'inputs:' and here",
                location,
                f"{path}.{name}",
                f"Leave '{name}' out here, or feed the op fewer tensors.",
            )
            return _FAILED
        bound = substitute(self.problems, node, scope, f"{path}.{name}")
        if contains_invalid(bound.value):
            return _FAILED
        large = too_large(bound.value)
        if large is not None:
            self.problems.error(
                f"parameter '{name}' of op '{info.name}' holds the integer {large:,}, beyond the "
                f"±{MAX_ARGUMENT_INT:,} an argument may have",
                bound.location,
                f"{path}.{name}",
                "Check the number: a size or count this large cannot be built.",
            )
            return _FAILED
        if bound.value is not None and not accepts(param.kinds, bound.value):
            self.problems.error(
                f"parameter '{name}' of op '{info.name}' expects {kinds_text(param.kinds)}, "
                f"received {describe(bound.value)}",
                bound.location,
                f"{path}.{name}",
                type_fix(param.kinds, bound.value),
            )
            return _FAILED
        return bound.value

    @staticmethod
    def missing_fix(info: OperationInfo, name: str, tensors: list[str], by_name: bool) -> str:
        if by_name:
            return (
                f"Feed it a tensor in 'inputs:' ('{name}: ID'), or give it as a constant: "
                f"'op: {{{info.name}: {{{name}: VALUE}}}}'."
            )
        free = [param for param in info.param_names if param not in tensors]
        if free and free[0] == name:
            return (
                f"Give it as the constant ('op: {{{info.name}: VALUE}}') or as one more tensor "
                "in 'inputs:'."
            )
        return f"Give it by name: 'op: {{{info.name}: {{{name}: VALUE}}}}'."
