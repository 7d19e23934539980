"""``${...}`` in the values a spec's reader needs before validation: input shapes and ``expect:``.

Takes the spec's vars (merged from its includes, a variant's values and ``--set`` applied) and a
YAML node that may hold ``${...}``; gives the node with each expression replaced by its value,
checked to be what its place takes (a size, a count, a text) and said at the expression's
file:line:column when it is not. The vars are evaluated once, at the first expression, by the
evaluator validation uses (:func:`~.substitution.substitute`): a var whose own value cannot be
worked out is reported there, once, and the places that use it are skipped. A node without
``${`` is given back as it is, for the reader's usual checks.
"""

from __future__ import annotations

from typing import Any

from .document import MAX_ARGUMENT_INT
from .expressions import names_used
from .problems import Problems
from .substitution import EXPRESSION, INVALID, Bound, Scope, contains_invalid, substitute
from .value_reader import ValueReader
from .yaml_source import Node, describe

_SIZE = "a positive integer (a size; null for a free one)"
_COUNT = "a non-negative integer"


def shared_problems(values: ValueReader) -> Problems:
    """A :class:`Problems` that reports to ``values``' list, so a file's problems stay together
    (and one said at the same place twice is said once)."""
    problems = Problems()
    problems.errors = values.errors
    return problems


def has_expression(node: Node) -> bool:
    """Whether ``node``, or anything in it, holds ``${``."""
    if node.is_mapping:
        return any(has_expression(child) for child in node.value.values())
    if node.is_sequence:
        return any(has_expression(child) for child in node.value)
    return isinstance(node.value, str) and "${" in node.value


class LoadTimeValues:
    """The spec's vars, evaluated when a value read at load time first needs them."""

    def __init__(
        self, values: ValueReader, variables: dict[str, Node], problems: Problems | None = None
    ) -> None:
        self.values = values
        self.variables = variables
        self.problems = problems or shared_problems(values)
        self._scope: Scope | None = None

    @property
    def scope(self) -> Scope:
        if self._scope is None:
            bound: dict[str, Bound] = {}
            scope = Scope(bound, {})  # each var sees those before it, as validation reads them
            for name, node in self.variables.items():
                bound[name] = substitute(self.problems, node, scope, f"vars.{name}")
            self._scope = scope
        return self._scope

    def shape(self, node: Node, path: str) -> Node | None:
        """A shape: ``["${size}", "${size}", 3]``, or one ``"${...}"`` that gives the list."""
        if not has_expression(node):
            return node
        if node.is_sequence:
            items = []
            for index, item in enumerate(node.value):
                resolved = self._size(item, f"{path}[{index}]")
                if resolved is None:
                    return None
                items.append(resolved)
            return Node(tuple(items), node.location)
        value = self._evaluate(node, path)
        if value is INVALID:
            return None
        if not isinstance(value, list) or not value:
            self._wrong(node, path, value, "a shape such as [32, 32, 3]")
            return None
        items = []
        for index, size in enumerate(value):
            if not self._is_size(size):
                self._wrong(node, f"{path}[{index}]", size, _SIZE, what="size")
                return None
            items.append(Node(size, node.location))
        return Node(tuple(items), node.location)

    def count(self, node: Node, path: str) -> Node | None:
        """An expected parameter count: a non-negative integer."""
        if not has_expression(node):
            return node
        value = self._evaluate(node, path)
        if value is INVALID:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self._wrong(node, path, value, _COUNT)
            return None
        return Node(value, node.location)

    def text(self, node: Node, path: str) -> Node | None:
        """An expected row's name or type: text, ``${...}`` filled in."""
        if not has_expression(node):
            return node
        value = self._evaluate(node, path)
        return None if value is INVALID else Node(value, node.location)

    # -- helpers ---------------------------------------------------------------------------------

    def _size(self, node: Node, path: str) -> Node | None:
        if not has_expression(node):
            return node
        value = self._evaluate(node, path)
        if value is INVALID:
            return None
        if not self._is_size(value):
            self._wrong(node, path, value, _SIZE)
            return None
        return Node(value, node.location)

    @staticmethod
    def _is_size(value: Any) -> bool:
        if value is None:
            return True
        return (
            not isinstance(value, bool)
            and isinstance(value, int)
            and 1 <= value <= MAX_ARGUMENT_INT
        )

    def _evaluate(self, node: Node, path: str) -> Any:
        value = substitute(self.problems, node, self.scope, path).value
        return INVALID if contains_invalid(value) else value

    def _wrong(self, node: Node, path: str, value: Any, expected: str, what: str = "") -> None:
        """The expression at ``node`` gave ``value``, not what its place takes."""
        written = str(node.value)
        shown = written if len(written) <= 60 else f"{written[:57]}..."
        used = sorted(
            {name for match in EXPRESSION.finditer(written) for name in names_used(match.group(1))}
        )
        used = [name for name in used if name in self.variables]
        gives = f"gives {describe(value)}" + (f" as a {what}" if what else "")
        if isinstance(value, float) and value.is_integer() and "integer" in expected:
            fix = "Make it a whole number: divide with // or wrap it in int(...)."
        elif used:
            fix = f"Change the expression, or the value of {', '.join(map(repr, used))}."
        else:
            fix = "Change the expression."
        self.values.error(f"'{shown}' {gives}; expected {expected}", node.location, path, fix)
