"""``${...}`` in the parts of an item that name things: its ``id``, its references, the layer or
block it uses, and its ``if:`` condition.

Takes an item's written text and the :class:`~.substitution.Scope` it is used in (a repeat's
index, a block's parameters, the vars); gives the filled-in name, reference, or true/false, or
None after reporting why at the place it is written. Messages about a value made by ``${...}``
say which names made it (:func:`made_from`), since the written text alone does not show it.
"""

from __future__ import annotations

from typing import Any

from .document import IDENTIFIER, Ref
from .expressions import names_used
from .problems import Problems
from .substitution import EXPRESSION, INVALID, Scope, substitute
from .yaml_source import Node, describe

MAX_SHOWN = 40  # characters of a value shown in "made from" notes


def made_from(text: Any, scope: Scope) -> str:
    """`` (from '${depth * 2}' with depth=1.1)``: what a ``${...}`` value was made of; "" when
    ``text`` holds no ``${...}``."""
    if not isinstance(text, str) or "${" not in text:
        return ""
    names: list[str] = []
    for match in EXPRESSION.finditer(text):
        used = sorted(names_used(match.group(1)))
        names += [name for name in used if name in scope.values and name not in names]
    shown = text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."
    values = ", ".join(f"{name}={_short(scope.values[name].value)}" for name in names)
    return f" (from '{shown}'" + (f" with {values})" if values else ")")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def fill_name(problems: Problems, node: Node, scope: Scope, path: str, what: str) -> str | None:
    """An id or a reference's name with its ``${...}`` filled in; it must give a valid name."""
    text = node.value
    if "${" not in text:
        return text
    value = substitute(problems, node, scope, path).value
    if value is INVALID:
        return None
    if isinstance(value, str) and IDENTIFIER.fullmatch(value):
        return value
    problems.error(
        f"{what} '{text}' gives {describe(value)}{made_from(text, scope)}, not a name",
        node.location,
        path,
        "A name is letters, digits and '_', not starting with a digit: make ${...} give e.g. "
        '\'down1\' (write "down${i}", not "${i}").',
        once="name",
    )
    return None


def fill_ref(problems: Problems, ref: Ref, scope: Scope, path: str) -> Ref | None:
    """A reference with its ``${...}`` filled in: a name, or a negative offset such as -1."""
    if not isinstance(ref.target, str) or "${" not in ref.target:
        return ref
    node = Node(ref.target, ref.location)
    value = substitute(problems, node, scope, path).value
    if value is INVALID:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        return Ref(value, ref.location)
    if isinstance(value, str) and IDENTIFIER.fullmatch(value):
        return Ref(value, ref.location)
    problems.error(
        f"the reference '{ref.target}' gives {describe(value)}{made_from(ref.target, scope)}, "
        "not a layer id, an input name or a negative offset",
        ref.location,
        path,
        'Make ${...} give an id written in this list, e.g. "down${i}".',
        once="reference",
    )
    return None


def condition_holds(problems: Problems, node: Node, scope: Scope, path: str) -> bool | None:
    """What an ``if:`` says: True keeps the item, False leaves it out; None after an error."""
    value = substitute(problems, node, scope, path).value
    if value is INVALID:
        return None
    if isinstance(value, bool):
        return value
    problems.error(
        f"'if' expects true or false, received {describe(value)}{made_from(node.value, scope)}",
        node.location,
        path,
        'Write a comparison, e.g. if: "${depth > 1}", or true or false.',
        once="if",
    )
    return None
