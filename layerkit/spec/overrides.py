"""Command-line overrides: ``--set vars.width=0.5`` changes one value of a spec before it is read.

An override names a key the spec already has (a dotted path; ``layers[2]`` indexes a list) and
gives a YAML value of the same type: an integer where the spec has an integer (a whole number is
also accepted where it has a number), text where it has text, and so on. An unknown key or a value
of another type is a spec error with a suggestion, never a silent addition.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..errors import Location, SpecError, did_you_mean
from .yaml_source import Node, describe, exponent_fix, parse_yaml

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")  # shown as escapes
_SEGMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


def apply_overrides(root: Node, overrides: Sequence[str]) -> Node:
    """Return ``root`` with each ``path=value`` override applied, in order."""
    for text in overrides:
        root = _apply_one(root, text)
    return root


def _apply_one(root: Node, text: str) -> Node:
    key, separator, raw = text.partition("=")
    # a value set on the command line is "written" there: later messages about it point here
    where = Location(f"--set {text}", 1, len(key) + 2)
    if not separator or not key.strip():
        raise SpecError(
            f"'--set {text}' is not of the form KEY=VALUE", fix="Write e.g. --set vars.width=0.5"
        )
    path = _parse_path(key.strip())
    value = _read_value(raw, key) if raw.strip() else ""
    if isinstance(value, dict | list):
        raise SpecError(
            f"--set {key} takes a single value (a number, text, true/false or null), "
            f"received {describe(value)}"
        )
    return _replace(root, path, 0, value, where, text)


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


def _parse_path(key: str) -> list[str | int]:
    path: list[str | int] = []
    for part in key.split("."):
        matches = list(_SEGMENT.finditer(part))
        if not matches or "".join(match.group(0) for match in matches) != part:
            raise SpecError(
                f"'{key}' is not a key path", fix="Write it as section.key, e.g. vars.width."
            )
        for match in matches:
            path.append(match.group(1) if match.group(1) else int(match.group(2)))
    return path


def _replace(
    node: Node, path: list[str | int], depth: int, value: Any, where: Location, key: str
) -> Node:
    shown = _render(path[:depth]) or "the spec"
    step = path[depth]
    if isinstance(step, str):
        if not node.is_mapping:
            raise SpecError(
                f"--set {key}: {shown} is not a mapping",
                node.location,
                fix=f"Index it: {shown}[0]…" if node.is_sequence else "Set it as a whole.",
            )
        if step not in node.value:
            hint = did_you_mean(step, list(node.value)) or (
                f"Keys under {shown}: {', '.join(node.value) or 'none'}."
            )
            raise SpecError(f"--set {key}: {shown} has no key '{step}'", node.location, fix=hint)
        child = node.value[step]
    else:
        if not node.is_sequence:
            raise SpecError(
                f"--set {key}: {shown} is not a list",
                node.location,
                fix=f"Use one of its keys: {shown}.{next(iter(node.value), 'KEY')}…"
                if node.is_mapping
                else "Set it as a whole.",
            )
        if step >= len(node.value):
            raise SpecError(
                f"--set {key}: {shown} has {len(node.value)} items, no [{step}]",
                node.location,
                fix=f"Use an index from 0 to {len(node.value) - 1}."
                if node.value
                else "Add an item to the spec first.",
            )
        child = node.value[step]
    if depth + 1 < len(path):
        replaced = _replace(child, path, depth + 1, value, where, key)
    else:
        replaced = Node(_checked(child, value, key, path), where)
    if isinstance(step, str):
        return Node({**node.value, step: replaced}, node.location, node.key_locations)
    items = list(node.value)
    items[step] = replaced
    return Node(tuple(items), node.location, node.key_locations)


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
        fix=exponent_fix(value) or f"Give {_type_name(old)}.",
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
