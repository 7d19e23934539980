"""Reading a layer class's constructor into a ``LayerInfo``: its arguments, their defaults and the
kinds of value each accepts (from the argument's docstring, else from its default), and the
parameters of its ``call`` (what named inputs it takes).

Takes a class (a ``keras.layers`` class, layerkit's own, or a custom layer being registered); gives
its ``LayerInfo``. Used to generate the catalogs (:mod:`.generate_layers`, :mod:`.training`) and by
``register_layer``. It inspects the class it is given and imports nothing itself.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from .arguments import LAYER_ARGUMENTS, ArgInfo, CallArg, LayerInfo


def _doc_kinds(cls: type, name: str) -> tuple[str, ...] | None:
    """Simple types stated at the start of an argument's docstring ("filters: int, ..."), if any.

    A number that may also be a tuple or list ("int or tuple ...", "Integer, tuple of integers,
    or None", "float or tuple of 2 floats") allows a number or a list (and null where None is
    named), never the default's kind alone. Any other "or" ("Int, or a function") leaves the type
    open rather than guess.
    """
    doc = inspect.getdoc(cls) or ""
    match = re.search(rf"^\s*{re.escape(name)}: ([^\n]*)", doc, flags=re.MULTILINE)
    if not match:
        return None
    phrase = match.group(1).split(". ")[0].strip().lower().rstrip(".")
    first = re.match(r"(?:optional |positive |non-negative |a python )*(\w+)", phrase)
    word = first.group(1) if first else ""
    has_or = " or " in phrase or ", or" in phrase
    numbers = {"int": ("int",), "integer": ("int",), "integers": ("int",), "ints": ("int",),
               "float": ("int", "float")}.get(word)  # fmt: skip
    if numbers:
        if re.search(r"\b(tuple|list)", phrase):
            null = ("null",) if re.search(r"\bnone\b", phrase) else ()
            return (*numbers, "list", *null)
        return None if has_or else numbers
    if word in ("bool", "boolean"):
        return None if has_or else ("bool",)
    if word in ("str", "string"):
        return ("str",) if not has_or or "either" in phrase else None
    return None


def _default_kinds(default: Any) -> tuple[str, ...]:
    if isinstance(default, bool):
        return ("bool",)
    if isinstance(default, int):
        return ("int",)
    if isinstance(default, float):
        return ("int", "float")
    if isinstance(default, str):
        # initializers and the like also take a {class_name, config} mapping, some take None
        return ("str", "map", "null")
    if isinstance(default, tuple | list):
        return ("int", "list")
    return ()


def json_default(value: Any) -> Any:
    """A default value as the catalog's JSON holds it: plain values as they are, tuples as lists,
    anything else (an object) by its repr."""
    if isinstance(value, tuple | list):
        return [json_default(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def _arg_info(cls: type, parameter: inspect.Parameter) -> ArgInfo:
    required = parameter.default is inspect.Parameter.empty
    default = None if required else parameter.default
    if parameter.name in LAYER_ARGUMENTS:
        kinds: tuple[str, ...] = ("layer",)
    else:
        kinds = _doc_kinds(cls, parameter.name) or _default_kinds(default)
    if kinds and not required and default is None and "null" not in kinds:
        kinds = (*kinds, "null")
    return ArgInfo(parameter.name, required, json_default(default), kinds)


def call_signature(cls: type) -> tuple[tuple[CallArg, ...], bool]:
    """The parameters of a layer class's ``call`` that can be named, in order, and whether it
    takes ``**kwargs`` (a class without a ``call`` of its own takes ``keras.layers.Layer``'s
    ``*args, **kwargs``)."""
    try:
        parameters = list(inspect.signature(cls.call).parameters.values())[1:]
    except (AttributeError, TypeError, ValueError):  # no call, or one Python cannot read
        return (), False
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    args = tuple(
        CallArg(
            parameter.name,
            parameter.default is inspect.Parameter.empty,
            parameter.name != "training" and not isinstance(parameter.default, bool),
        )
        for parameter in parameters
        if parameter.kind in named
    )
    takes_kwargs = any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters)
    return args, takes_kwargs


def introspect(cls: type) -> LayerInfo:
    """Read a layer class's constructor and call into a :class:`LayerInfo`."""
    args: dict[str, ArgInfo] = {}
    accepts_base_args = False
    for parameter in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            accepts_base_args = True
        elif parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
            args[parameter.name] = _arg_info(cls, parameter)
    call_args, call_kwargs = call_signature(cls)
    return LayerInfo(
        cls.__name__, args, accepts_base_args, call_args=call_args, call_kwargs=call_kwargs
    )
