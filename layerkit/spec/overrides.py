"""Command-line overrides: ``--set vars.width=0.5`` changes one value of a spec before it is read,
and ``--set +train.epochs=3`` adds a key the spec lacks (Hydra's convention).

A plain override names a key the spec already has (a dotted path; ``layers[2]`` indexes a list)
and gives a YAML value of the same type: an integer where the spec has an integer (a whole number
is also accepted where it has a number), text where it has text, and so on. An unknown key or a
value of another type is a spec error with a suggestion, never a silent addition.

An override written with a leading ``+`` adds its last key, and any mapping on the way that is
missing, instead; the key must not be there already (drop the ``+`` to change it), and only keys
of mappings can be added, not list items. The added key and value are checked by the spec's
validation like any written in the file, at their place on the command line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import Location, SpecError, did_you_mean
from .yaml_source import Node, describe, exponent_fix, parse_yaml

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")  # shown as escapes
_SEGMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")
_NO_LIST_ITEMS = "'+' adds keys to mappings, not items to lists"


def apply_overrides(root: Node, overrides: Sequence[str]) -> Node:
    """Return ``root`` with each ``path=value`` (or ``+path=value``) override applied, in order."""
    for text in overrides:
        root = _apply_one(root, text)
    return root


def _apply_one(root: Node, text: str) -> Node:
    key, separator, raw = text.partition("=")
    if not separator or not key.strip():
        raise SpecError(
            f"'--set {text}' is not of the form KEY=VALUE", fix="Write e.g. --set vars.width=0.5"
        )
    written = key.strip()
    adding = written.startswith("+")
    path, columns = _parse_path(written[1:] if adding else written)
    # where each step is written in '--set TEXT', so an added key has a place on the command line
    start = len(key) - len(key.lstrip()) + int(adding) + 1
    columns = [start + column for column in columns]
    value = _read_value(raw, written) if raw.strip() else ""
    if isinstance(value, dict | list):
        raise SpecError(
            f"--set {written} takes a single value (a number, text, true/false or null), "
            f"received {describe(value)}"
        )
    if adding and isinstance(path[-1], int):
        raise SpecError(
            f"--set {text}: {_NO_LIST_ITEMS}",
            fix="Write the item in the spec, or add a key: --set +section.key=value.",
        )
    plain = f"{written.removeprefix('+')}={raw}"
    # a value set on the command line is "written" there: later messages about it point here
    where = Location(f"--set {text}", 1, len(key) + 2)
    override = _Override(text, plain, path, columns, value, adding, where)
    return override.apply(root, 0)


def _read_value(raw: str, key: str) -> Any:
    """The value of ``--set key=raw``, read by the spec's own YAML reader: the same tags, numbers,
    nesting and text are refused, with the same messages."""
    try:
        return parse_yaml(raw, f"--set {key}").plain()
    except SpecError as error:
        if error.message.startswith(("YAML syntax error", "character U+")):
            raise SpecError(
                f"the value '{_short(raw)}' of --set {key} is not valid YAML", fix="Quote it."
            ) from None
        raise SpecError(f"--set {key}: {error.message}", fix=error.fix) from None


def _short(text: str) -> str:
    text = _UNPRINTABLE.sub(lambda match: ascii(match.group())[1:-1], text)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _parse_path(key: str) -> tuple[list[str | int], list[int]]:
    """The steps of a key path, and where each starts in it (from 0)."""
    path: list[str | int] = []
    columns: list[int] = []
    offset = 0
    for part in key.split("."):
        matches = list(_SEGMENT.finditer(part))
        if not matches or "".join(match.group(0) for match in matches) != part:
            raise SpecError(
                f"'{key}' is not a key path", fix="Write it as section.key, e.g. vars.width."
            )
        for match in matches:
            path.append(match.group(1) if match.group(1) else int(match.group(2)))
            columns.append(offset + match.start())
        offset += len(part) + 1
    return path, columns


@dataclass(frozen=True)
class _Override:
    """One ``--set``: its text, the key path it names and the value it gives."""

    text: str  # as written, 'key=value' or '+key=value'
    plain: str  # the same without the '+'
    path: list[str | int]
    columns: list[int]  # where each step of path is written in '--set TEXT'
    value: Any
    adding: bool
    where: Location  # where the value is written

    def at(self, column: int) -> Location:
        return Location(f"--set {self.text}", 1, column)

    def apply(self, node: Node, depth: int) -> Node:
        """``node`` (reached by ``path[:depth]``) with the override applied below it."""
        step = self.path[depth]
        if isinstance(step, int):
            replaced = self._replaced(self._list_item(node, depth), depth)
            items = list(node.value)
            items[step] = replaced
            return Node(tuple(items), node.location, node.key_locations)
        child = self._mapping_child(node, depth)
        if child is None:  # a key '+' adds
            locations = {**node.key_locations, step: self.at(self.columns[depth])}
            added = self._added(depth + 1, self.at(self.columns[depth]))
            return Node({**node.value, step: added}, node.location, locations)
        return Node(
            {**node.value, step: self._replaced(child, depth)}, node.location, node.key_locations
        )

    def _replaced(self, child: Node, depth: int) -> Node:
        if depth + 1 == len(self.path):
            return Node(_checked(child, self.value, self.text, self.path), self.where)
        if self.adding and child.value is None and isinstance(self.path[depth + 1], str):
            return self._added(depth + 1, child.location)  # 'train:' left empty: fill it
        return self.apply(child, depth + 1)

    def _added(self, depth: int, location: Location) -> Node:
        """The new node for ``path[depth:]``, below a key '+' adds."""
        if depth == len(self.path):
            return Node(self.value, self.where)
        step = self.path[depth]
        if isinstance(step, int):
            shown = _render(self.path[:depth])
            raise SpecError(
                f"--set {self.text}: {shown} is not in the spec, and {_NO_LIST_ITEMS}",
                fix=f"Write {shown} in the spec first.",
            )
        key_location = self.at(self.columns[depth])
        return Node({step: self._added(depth + 1, key_location)}, location, {step: key_location})

    def _mapping_child(self, node: Node, depth: int) -> Node | None:
        """The child ``path[depth]`` names in the mapping ``node``; None where '+' adds it."""
        shown = _render(self.path[:depth]) or "the spec"
        step = self.path[depth]
        if not node.is_mapping:
            raise SpecError(
                f"--set {self.text}: {shown} is not a mapping",
                node.location,
                fix=f"Index it: {shown}[0]…" if node.is_sequence else "Set it as a whole.",
            )
        last = depth + 1 == len(self.path)
        if step in node.value and self.adding and last:
            raise SpecError(
                f"--set {self.text}: {shown} already has a key '{step}'",
                node.key_location(step),
                fix=f"Drop the '+' to change it: --set {self.plain}",
            )
        if step in node.value or self.adding:
            return node.value.get(step)
        hint = did_you_mean(step, list(node.value)) or (
            f"Keys under {shown}: {', '.join(node.value) or 'none'}."
        )
        if not any(isinstance(later, int) for later in self.path[depth:]):
            hint += f" To add '{step}', write --set +{self.plain}"
        raise SpecError(f"--set {self.text}: {shown} has no key '{step}'", node.location, fix=hint)

    def _list_item(self, node: Node, depth: int) -> Node:
        shown = _render(self.path[:depth]) or "the spec"
        step = self.path[depth]
        assert isinstance(step, int)
        if not node.is_sequence:
            raise SpecError(
                f"--set {self.text}: {shown} is not a list",
                node.location,
                fix=f"Use one of its keys: {shown}.{next(iter(node.value), 'KEY')}…"
                if node.is_mapping
                else "Set it as a whole.",
            )
        if step >= len(node.value):
            raise SpecError(
                f"--set {self.text}: {shown} has {len(node.value)} items, no [{step}]",
                node.location,
                fix=f"Use an index from 0 to {len(node.value) - 1}."
                if node.value
                else "Add an item to the spec first.",
            )
        return node.value[step]


def _checked(current: Node, value: Any, key: str, path: list[str | int]) -> Any:
    """The new value, if it has the type of the value it replaces."""
    old = current.value
    if current.is_mapping or current.is_sequence:
        raise SpecError(
            f"--set {key}: {_render(path)} is {describe(current)}; only single values can be set",
            current.location,
        )
    if old is None or value is None or type(old) is type(value):
        return value
    if isinstance(old, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(old, str) and "${" in old:
        return value  # an expression's value can be set to any type
    raise SpecError(
        f"--set {key}: expected {_type_name(old)} like the spec's {old!r}, received {describe(value)}",
        current.location,
        fix=exponent_fix(value, integer=isinstance(old, int) and not isinstance(old, bool))
        or f"Give {_type_name(old)}.",
    )


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    return "text"


def _render(path: list[str | int]) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text
