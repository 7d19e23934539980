"""What a layer's constructor arguments are, as the catalogs describe them, and the check of a value.

Takes nothing: gives ``ArgInfo`` (one argument: name, required, default, the kinds it accepts) and
``LayerInfo`` (one layer class's arguments), the kind names a catalog uses (``int``, ``float``,
``str``, ``list``, ``map``, ``layer``, …) with the check that a spec's value is of one of them and
the message and fix when it is not, and how an argument is written to and read back from a catalog's
JSON. Plain Python: no Keras.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..spec.yaml_source import exponent_fix

# Arguments whose value is itself a layer, written in the spec as a nested layer item.
LAYER_ARGUMENTS = frozenset({"layer", "backward_layer", "cell"})


@dataclass(frozen=True)
class ArgInfo:
    """One constructor argument: its name, whether a spec must give it, and the kinds it accepts.

    ``kinds`` is empty when any value is accepted.
    """

    name: str
    required: bool
    default: Any = None
    kinds: tuple[str, ...] = ()


@dataclass(frozen=True)
class LayerInfo:
    """What a spec may write for one layer class."""

    class_name: str
    args: dict[str, ArgInfo]
    accepts_base_args: bool  # the class passes **kwargs on to keras.layers.Layer (name, dtype, …)
    custom: bool = False

    def arg(self, name: str, base_args: dict[str, ArgInfo]) -> ArgInfo | None:
        if name in self.args:
            return self.args[name]
        return base_args.get(name) if self.accepts_base_args else None

    def arg_names(self, base_args: dict[str, ArgInfo]) -> list[str]:
        names = list(self.args)
        if self.accepts_base_args:
            names += [name for name in base_args if name not in self.args]
        return names


# -- argument kinds: how ArgInfo.kinds name what a value may be, and the check of a value ------------

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


def kind_of(value: Any) -> str:
    """The kind of a plain YAML value: ``int``, ``float``, ``bool``, ``str``, ``null``, ``list``
    or ``map``."""
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
    if isinstance(value, list | tuple):
        return "list"
    return "map"


def accepts(kinds: tuple[str, ...], value: Any) -> bool:
    """Whether ``value`` is of one of ``kinds`` (any value when ``kinds`` is empty; a whole number
    where a number is expected)."""
    if not kinds:
        return True
    kind = kind_of(value)
    return kind in kinds or (kind == "int" and "float" in kinds)


def kinds_text(kinds: tuple[str, ...]) -> str:
    """``"an integer or a list"``: how a message says what an argument expects."""
    names = [KIND_NAMES[kind] for kind in kinds if not (kind == "int" and "float" in kinds)]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def type_fix(kinds: tuple[str, ...], value: Any) -> str:
    """The fix for a value of the wrong kind: unquote a number, write a whole number, …"""
    if isinstance(value, str) and "int" in kinds:
        try:
            float(value)
        except ValueError:
            return f"Write {kinds_text(kinds)} here."
        return exponent_fix(value) or "Write the number without quotes."
    if isinstance(value, float) and kinds[0] == "int" and "float" not in kinds:
        return "Write a whole number."
    return f"Write {kinds_text(kinds)} here."


def arg_to_json(arg: ArgInfo) -> dict[str, Any]:
    """An argument as a catalog lists it (this one's and the settings catalog's)."""
    entry: dict[str, Any] = {"name": arg.name, "required": arg.required}
    if not arg.required:
        entry["default"] = arg.default
    entry["kinds"] = list(arg.kinds)
    return entry


def arg_from_json(entry: dict[str, Any]) -> ArgInfo:
    """An argument read back from a catalog."""
    return ArgInfo(entry["name"], entry["required"], entry.get("default"), tuple(entry["kinds"]))
