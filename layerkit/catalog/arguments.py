"""What a layer's constructor and call arguments are, as the catalogs describe them, and their checks.

Takes nothing: gives ``ArgInfo`` (one argument: name, required, default, the kinds it accepts),
``CallArg`` (one parameter of a layer's ``call``) and ``LayerInfo`` (one layer class's arguments and
call parameters), the kind names a catalog uses (``int``, ``float``, ``str``, ``list``, ``map``,
``layer``, …) with the check that a spec's value is of one of them and the message and fix when it is
not, the check of the names under a layer's named ``inputs:`` (:func:`call_problems`), and how both
are written to and read back from a catalog's JSON. Plain Python: no Keras.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from ..errors import did_you_mean
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
class CallArg:
    """One parameter of a layer's ``call``, in order: its name, whether it has no default, and
    whether a spec may pass a tensor under its name (``inputs: {query: a, value: b}``).

    ``tensor`` is false for ``training`` (Keras passes it itself) and for a parameter whose default
    is true or false (a switch such as ``use_causal_mask``, not an input).
    """

    name: str
    required: bool
    tensor: bool = True


@dataclass(frozen=True)
class LayerInfo:
    """What a spec may write for one layer class."""

    class_name: str
    args: dict[str, ArgInfo]
    accepts_base_args: bool  # the class passes **kwargs on to keras.layers.Layer (name, dtype, …)
    custom: bool = False
    call_args: tuple[CallArg, ...] = ()  # the parameters of its call, in order
    call_kwargs: bool = False  # its call takes **kwargs: any further name is accepted

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
    if isinstance(value, str) and ("int" in kinds or "float" in kinds):
        try:
            float(value)
        except ValueError:
            return f"Write {kinds_text(kinds)} here."
        return (
            exponent_fix(value, integer="float" not in kinds) or "Write the number without quotes."
        )
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


def call_arg_to_json(arg: CallArg) -> dict[str, Any]:
    """A call parameter as the layer catalog lists it."""
    return {"name": arg.name, "required": arg.required, "tensor": arg.tensor}


def call_arg_from_json(entry: dict[str, Any]) -> CallArg:
    """A call parameter read back from the layer catalog."""
    return CallArg(entry["name"], entry["required"], entry["tensor"])


# -- named inputs: the names under a layer's `inputs:` mapping, checked against its call ----------


class CallProblem(NamedTuple):
    """One thing wrong with the names of a layer's named inputs.

    ``name`` is the name the problem is about; ``written`` says whether the spec wrote it (an unknown
    or refused name: point at that key) or not (a required input left out: point at ``inputs:``).
    """

    message: str
    fix: str
    name: str
    written: bool


def tensor_names(info: LayerInfo) -> list[str]:
    """The names a layer's named inputs may use: its call's parameters but ``training`` and
    switches, in the call's order."""
    return [arg.name for arg in info.call_args if arg.tensor]


def call_problems(info: LayerInfo, names: list[str] | tuple[str, ...]) -> list[CallProblem]:
    """What is wrong with passing tensors to ``info``'s layer under ``names`` (``inputs:`` as a
    mapping): the names written, in order, then the required inputs left out; empty when nothing is.

    A name may be any parameter of the layer's ``call`` except ``training`` (Keras passes it) and
    switches (a parameter whose default is true/false, such as ``use_causal_mask``); a layer whose
    call takes ``**kwargs`` accepts any other name too. Every parameter without a default must be
    given, unless a misspelled name written is suggested as it (one problem, not two).
    """
    problems = [problem for name in names if (problem := _name_problem(info, name))]
    suggested = {problem.fix for problem in problems}
    for arg in info.call_args:
        if (
            arg.required
            and arg.name not in names
            and f"Did you mean '{arg.name}'?" not in suggested
        ):
            problems.append(
                CallProblem(
                    f"{info.class_name} needs input '{arg.name}'",
                    f"Add '{arg.name}: ID' to its inputs:, ID naming the layer whose output it takes.",
                    arg.name,
                    False,
                )
            )
    return problems


def _name_problem(info: LayerInfo, name: str) -> CallProblem | None:
    """Why ``name`` cannot name one of ``info``'s inputs, or None when it can."""
    arg = next((arg for arg in info.call_args if arg.name == name), None)
    if arg is None and info.call_kwargs and name != "training":
        return None
    if arg is not None and arg.tensor:
        return None
    if name == "training":
        return CallProblem(
            f"'training' cannot be an input of {info.class_name}: Keras passes it itself",
            "Remove 'training' from inputs:; Keras sets it while the model trains.",
            name,
            True,
        )
    allowed = tensor_names(info)
    takes = f"{info.class_name} takes the inputs: {', '.join(allowed)}."
    if arg is not None:
        return CallProblem(
            f"'{name}' of {info.class_name}'s call is a switch (true or false), not an input",
            f"Remove '{name}' from inputs:. {takes}",
            name,
            True,
        )
    return CallProblem(
        f"unknown input '{name}' for {info.class_name}",
        did_you_mean(name, allowed) or takes,
        name,
        True,
    )
