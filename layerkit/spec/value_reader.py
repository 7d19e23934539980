"""Reading one file's plain values: text, counts, shapes, names, references and allowed keys.

Takes YAML nodes (with their places) and the path each has in the spec; gives the value read, or
None after recording a :class:`~layerkit.errors.SpecError` with its place and fix. Every reader of
:mod:`layerkit.spec.loader` shares one :class:`ValueReader` per file, so every problem of a file
is reported at once, in the order it was found.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import Location, SpecError, did_you_mean
from .document import IDENTIFIER, MAX_ARGUMENT_INT, Ref
from .problems import BoundedErrors, Fix
from .yaml_source import Node, describe

# says of a key where it belongs: what its error adds to its message, and the fix; or None
Elsewhere = Callable[[str], tuple[str, str] | None]


class ValueReader:
    """Reads plain values from nodes, collecting each problem in ``errors`` instead of stopping."""

    def __init__(self, errors: BoundedErrors | None = None) -> None:
        self.errors = errors if errors is not None else BoundedErrors()

    def error(self, message: str, location: Location, path: str, fix: Fix = None) -> None:
        if self.errors.full:
            self.errors.hidden += 1  # counted only: its fix need not be worked out
        else:
            self.errors.add(SpecError(message, location, path, fix() if callable(fix) else fix))

    def check_keys(self, node: Node, allowed: tuple[str, ...], path: str, what: str,
                   elsewhere: Elsewhere | None = None) -> None:  # fmt: skip
        """Reports each key of ``node`` not in ``allowed``: with what ``elsewhere`` says of a key
        that belongs in another place, else with a "did you mean"."""
        for key in node.value:
            if key not in allowed:
                key_path = f"{path}.{key}" if path else key
                moved = elsewhere(key) if elsewhere is not None else None
                self.error(
                    f"unknown {what} '{key}'" + (moved[0] if moved else ""),
                    node.key_location(key),
                    key_path,
                    moved[1]
                    if moved
                    else lambda key=key: (
                        did_you_mean(key, allowed) or f"Use one of: {', '.join(allowed)}."
                    ),
                )

    def read_text(self, node: Node | None, path: str) -> str | None:
        if node is None:
            return None
        if not isinstance(node.value, str) or not node.value.strip():
            self.error(f"expected non-empty text, received {describe(node)}", node.location, path)
            return None
        return node.value

    def read_positive_int(self, node: Node, path: str, *, allow_zero: bool = False) -> int | None:
        value = node.value
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or value < (0 if allow_zero else 1)
        ):
            kind = "a non-negative integer" if allow_zero else "a positive integer"
            self.error(f"expected {kind}, received {describe(node)}", node.location, path)
            return None
        return value

    def read_shape(self, node: Node, path: str, allow_empty: bool = False
                   ) -> tuple[int | None, ...] | None:  # fmt: skip
        """A shape without the batch dimension; ``[]`` (one number per example, a layer's output
        such as a sum over the last axis) only with ``allow_empty``."""
        if not node.is_sequence or not (node.value or allow_empty):
            received = "an empty list" if node.is_sequence else describe(node)
            self.error(
                f"expected a shape such as [32, 32, 3], received {received}",
                node.location,
                path,
                "Write the shape as a list of sizes without the batch dimension; null for a free "
                "size.",
            )
            return None
        sizes: list[int | None] = []
        for index, item in enumerate(node.value):
            if item.value is None:
                sizes.append(None)
                continue
            size = self.read_positive_int(item, f"{path}[{index}]")
            if size is None:
                return None
            if size > MAX_ARGUMENT_INT:
                self.error(
                    f"size {size:,} is more than the {MAX_ARGUMENT_INT:,} a shape may have",
                    item.location,
                    f"{path}[{index}]",
                    "Check the number; write null for a size that varies.",
                )
                return None
            sizes.append(size)
        return tuple(sizes)

    def check_identifier(self, name: str, location: Location, path: str) -> bool:
        if IDENTIFIER.fullmatch(name):
            return True
        if "${" in name:
            self.error(
                f"'{name}' is not a valid name: ${{...}} is not filled in here",
                location,
                path,
                "Write the name itself; ${...} is filled in in ids, references (inputs:, "
                "outputs:, layer:), layer names and values, not in the names a spec defines.",
            )
            return False
        self.error(
            f"'{name}' is not a valid name: use letters, digits and '_', not starting with a digit",
            location,
            path,
        )
        return False

    def check_name(self, node: Node, path: str, what: str) -> bool:
        """An id: a name, or text with ``${...}`` that must give one where the item is used."""
        if not isinstance(node.value, str):
            self.error(f"expected {what}, received {describe(node)}", node.location, path)
            return False
        return "${" in node.value or self.check_identifier(node.value, node.location, path)

    def read_refs(self, node: Node, path: str) -> tuple[Ref, ...] | None:
        """``inputs:``/``outputs:``: one reference or a list; a reference is a name or -N."""
        entries = node.value if node.is_sequence else (node,)
        refs = []
        for index, entry in enumerate(entries):
            value = entry.value
            entry_path = f"{path}[{index}]" if node.is_sequence else path
            if (isinstance(value, str) and (IDENTIFIER.fullmatch(value) or "${" in value)) or (
                isinstance(value, int) and not isinstance(value, bool) and value < 0
            ):
                refs.append(Ref(value, entry.location))
            else:
                self.error(
                    f"expected a layer id, an input name or a negative offset such as -1, "
                    f"received {describe(entry)}",
                    entry.location,
                    entry_path,
                    "Give the layer you mean an 'id:' and refer to it by that id.",
                )
                return None
        if not refs:
            self.error("the list of references is empty", node.location, path)
            return None
        return tuple(refs)
