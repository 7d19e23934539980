"""``${...}`` in a spec's values: the names an expression may use here, and the values they give.

Takes a YAML node and the :class:`Scope` it is read in (what names mean in one list of layers:
the spec's vars, a block's parameters, a repeat's index, and the ids and inputs layers may take);
gives its plain value with every ``${...}`` evaluated (:func:`substitute`), and
where that value was written. A value that cannot be worked out is reported to the
:class:`~.problems.Problems` once and becomes :data:`INVALID`, so checks of what it fills are
skipped instead of piling up.
"""

from __future__ import annotations

import re
from collections import ChainMap
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import Location
from .document import BlockDef
from .expression_budget import MAX_TEXT
from .expressions import ExpressionError, evaluate, names_used
from .problems import Problems
from .yaml_source import Node

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # shown as escapes in messages
EXPRESSION = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True)
class Bound:
    """A value for ${...} (a variable, a block parameter, an index) and where it was written."""

    value: Any
    location: Location


# The value of something that could not be resolved; its error is already reported, so checks of
# what it fills are skipped instead of piling up.
INVALID = object()


AMBIGUOUS = "ambiguous"  # what an id made by several repeat passes stands for outside them


@dataclass
class Scope:
    """What names mean inside one list of layers: the top level, a block use, a repeat pass.

    A repeat pass reads the ids of the list around it (``parent``), and the ids its items make
    are seen there after it (``exported``): a U-Net's ``id: "skip${i}"`` made in the down path is
    taken by the up path. An id that several passes make alike stands for none of them there.
    """

    # names for ${...}: vars, block parameters, repeat indices (a ChainMap inside blocks and
    # repeats, reading the outer names in place)
    values: MutableMapping[str, Bound]
    refs: dict[str, str]  # names for inputs: → port keys (model inputs, block inputs)
    block: BlockDef | None = None
    ids: dict[str, str] = field(default_factory=dict)  # item ids → port keys
    parent: Scope | None = None  # the list a repeat pass is in
    exported: dict[str, str] = field(default_factory=dict)  # ids made in passes inside this list

    def find(self, name: str, ids_only: bool = False) -> str | None:
        """The port an id (or, unless ``ids_only``, an input name) stands for here: this list's
        own, then those made in repeats inside it, then the lists around it; :data:`AMBIGUOUS`;
        None if unknown."""
        scope: Scope | None = self
        while scope is not None:
            for names in (scope.ids, scope.exported, {} if ids_only else scope.refs):
                if name in names:
                    return names[name]
            scope = scope.parent
        return None

    def known(self) -> list[str]:
        """Every id and input name :meth:`find` knows here."""
        names: list[str] = []
        scope: Scope | None = self
        while scope is not None:
            names += [*scope.ids, *scope.exported, *scope.refs]
            scope = scope.parent
        return list(dict.fromkeys(names))

    def export(self, name: str, port: str) -> None:
        """Make an id of this repeat pass seen in the lists around it."""
        scope = self.parent
        while scope is not None:
            if name in scope.exported and scope.exported[name] != port:
                scope.exported[name] = AMBIGUOUS
            else:
                scope.exported[name] = port
            scope = scope.parent


def child_values(values: MutableMapping[str, Bound]) -> ChainMap[str, Bound]:
    """A scope's names with room for its own (a repeat's index), the outer ones read in place."""
    return values.new_child() if isinstance(values, ChainMap) else ChainMap({}, values)


def spec_vars_at(values: MutableMapping[str, Bound], spec_vars: dict) -> ChainMap[str, Bound]:
    """What the spec's vars mean where a block is used (a block parameter or repeat index of the
    same name around the use hides a var), with room for the block's parameters.

    The top scope holds the vars alone, so only the names added around the use are looked at,
    not every var at every use."""
    if not isinstance(values, ChainMap):
        return ChainMap({}, values)
    hidden = {
        name: values[name] for layer in values.maps[:-1] for name in layer if name in spec_vars
    }
    return ChainMap(hidden, values.maps[-1])


def contains_invalid(value: Any) -> bool:
    """Whether ``value``, or anything in it, is :data:`INVALID` (so its error is already said)."""
    if value is INVALID:
        return True
    if isinstance(value, list):
        return any(contains_invalid(item) for item in value)
    if isinstance(value, dict):
        return any(contains_invalid(item) for item in value.values())
    return False


def substitute(problems: Problems, node: Node, scope: Scope, path: str) -> Bound:
    """The plain value of ``node`` with every ``${...}`` evaluated, and where it was written."""
    if node.is_mapping:
        return Bound(
            {
                key: substitute(problems, child, scope, f"{path}.{key}").value
                for key, child in node.value.items()
            },
            node.location,
        )
    if node.is_sequence:
        return Bound(
            [
                substitute(problems, child, scope, f"{path}[{index}]").value
                for index, child in enumerate(node.value)
            ],
            node.location,
        )
    value = node.value
    if not isinstance(value, str) or "${" not in value:
        return Bound(value, node.location)
    whole = EXPRESSION.fullmatch(value.strip())
    if whole:
        name = whole.group(1).strip()
        if name in scope.values:
            return scope.values[name]  # keeps where the value itself was written
        return Bound(_evaluate(problems, whole.group(1), node, scope, path), node.location)
    pieces, length, written = [], 0, 0
    for match in EXPRESSION.finditer(value):
        result = _evaluate(problems, match.group(1), node, scope, path)
        if result is INVALID:
            return Bound(INVALID, node.location)
        pieces += [value[written : match.start()], str(result)]
        written = match.end()
        length += len(pieces[-2]) + len(pieces[-1])
        if length > MAX_TEXT:
            problems.error(
                f"the text with its ${{...}} filled in would be longer than {MAX_TEXT:,} characters",
                node.location,
                path,
                "Keep text short: fill in fewer or shorter values.",
            )
            return Bound(INVALID, node.location)
    pieces.append(value[written:])
    return Bound("".join(pieces), node.location)


class _Values(Mapping[str, Any]):
    """The values of a scope's names, read through without copying them for each expression."""

    def __init__(self, bound: MutableMapping[str, Bound]) -> None:
        self.bound = bound

    def __getitem__(self, name: str) -> Any:
        return self.bound[name].value

    def __contains__(self, name: object) -> bool:
        return name in self.bound

    def __iter__(self) -> Iterator[str]:
        return iter(self.bound)

    def __len__(self) -> int:
        return len(self.bound)


def _evaluate(problems: Problems, expression: str, node: Node, scope: Scope, path: str) -> Any:
    names = _Values(scope.values)
    if any(name in names and names[name] is INVALID for name in names_used(expression)):
        return INVALID  # a name whose own value failed, already reported
    try:
        return evaluate(expression, names, problems.steps)
    except ExpressionError as error:
        text = _CONTROL.sub(lambda match: ascii(match.group())[1:-1], expression.strip())
        shown = f"'${{{text if len(text) <= 80 else text[:77] + '...'}}}'"
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
        problems.error(message, node.location, path, fix)
        return INVALID
