"""The layer registry: every name a spec may use for a layer, and what arguments each layer takes.

Two views of one registry:

* the **catalog** (``keras_layers.json`` beside this file) lists each ``keras.layers`` class with its
  constructor arguments, defaults and simple types. It is generated from Keras by introspection
  (``python -m layerkit.catalog.layers``) and lets ``layerkit validate`` check a spec without importing
  TensorFlow; a test keeps it equal to the installed Keras;
* the **live classes**, looked up only by the catalog's fixed class names as attributes of
  ``keras.layers``, or registered from Python with :func:`register_layer`. A name written in a spec is
  never imported or evaluated.
"""

from __future__ import annotations

import inspect
import json
import re
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import did_you_mean
from ..spec.yaml_source import exponent_fix

CATALOG_PATH = Path(__file__).with_name("keras_layers.json")

# Classes of keras.layers a spec cannot name, and why (the reason is shown to the user).
EXCLUDED_LAYERS: dict[str, str] = {
    "Layer": "it is the abstract base class of all layers",
    "InputLayer": "layerkit makes the input layer from the spec's 'input:'",
    "Wrapper": "it is an abstract base class; use Bidirectional or TimeDistributed",
    "Lambda": "it runs arbitrary Python code; register a custom layer from Python instead",
    "TFSMLayer": "it loads a TensorFlow SavedModel from a path",
    "TorchModuleWrapper": "it wraps PyTorch code",
    "JaxLayer": "it wraps JAX code",
    "FlaxLayer": "it wraps Flax code",
    "Pipeline": "it takes a list of layer objects; list the layers in 'layers:' instead",
    "StackedRNNCells": "it takes a list of cell objects",
}
# Short names people reach for, beyond the class names and their snake_case forms.
ALIASES: dict[str, str] = {
    "bn": "BatchNormalization",
    "batchnorm": "BatchNormalization",
    "layernorm": "LayerNormalization",
    "groupnorm": "GroupNormalization",
    "fc": "Dense",
    "linear": "Dense",
    "gap1d": "GlobalAveragePooling1D",
    "gap2d": "GlobalAveragePooling2D",
    "gap3d": "GlobalAveragePooling3D",
    "gmp1d": "GlobalMaxPooling1D",
    "gmp2d": "GlobalMaxPooling2D",
    "gmp3d": "GlobalMaxPooling3D",
}
# layerkit's own layers, listed in the catalog beside keras.layers: class name → module.
LAYERKIT_LAYERS: dict[str, str] = {
    "RandomPaddedCrop": "layerkit.catalog.augmentations",
    "Cutout": "layerkit.catalog.augmentations",
}
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


class UnknownLayerError(LookupError):
    """A layer name the registry does not know; ``hint`` says what to do instead."""

    def __init__(self, name: str, hint: str) -> None:
        self.name = name
        self.hint = hint
        super().__init__(f"unknown layer '{name}'. {hint}")


def lookup_key(name: str) -> str:
    """The form names are compared in: ``Conv2D``, ``conv2d`` and ``conv_2d`` all become ``conv2d``."""
    return name.replace("_", "").replace("-", "").lower()


def to_snake_case(name: str) -> str:
    """``MaxPooling2D`` → ``max_pooling2d``, the way Keras names layers."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


# ---------------------------------------------------------------------------------------------
# Introspection (imports Keras; used to write the catalog and to register custom layers)


def _doc_kinds(cls: type, name: str) -> tuple[str, ...] | None:
    """Simple types stated at the start of an argument's docstring ("filters: int, ..."), if any.

    Only plain statements count: "int or tuple ..." allows an integer or a list; any other "or"
    ("Int, or tuple of 2 tuples") leaves the type open rather than guess.
    """
    doc = inspect.getdoc(cls) or ""
    match = re.search(rf"^\s*{re.escape(name)}: ([^\n]*)", doc, flags=re.MULTILINE)
    if not match:
        return None
    phrase = match.group(1).split(". ")[0].strip().lower().rstrip(".")
    first = re.match(r"(?:optional |positive |non-negative |a python )*(\w+)", phrase)
    word = first.group(1) if first else ""
    has_or = " or " in phrase or ", or" in phrase
    if word in ("int", "integer", "integers", "ints"):
        if re.match(r"[\w -]*(int|integer)s? or (a )?(tuple|list)", phrase):
            return ("int", "list")
        return None if has_or or "tuple" in phrase or "list" in phrase else ("int",)
    if word == "float":
        return None if has_or else ("int", "float")
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


def _json_default(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_json_default(item) for item in value]
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
    return ArgInfo(parameter.name, required, _json_default(default), kinds)


def introspect(cls: type) -> LayerInfo:
    """Read a layer class's constructor into a :class:`LayerInfo`."""
    args: dict[str, ArgInfo] = {}
    accepts_base_args = False
    for parameter in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            accepts_base_args = True
        elif parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
            args[parameter.name] = _arg_info(cls, parameter)
    return LayerInfo(cls.__name__, args, accepts_base_args)


def generate_catalog() -> dict[str, Any]:
    """Describe every usable ``keras.layers`` class, as written to ``keras_layers.json``."""
    import keras

    base = introspect(keras.layers.Layer)
    layers: dict[str, Any] = {}
    names: dict[str, str] = {}
    for attribute in sorted(dir(keras.layers)):
        cls = getattr(keras.layers, attribute)
        if not (inspect.isclass(cls) and issubclass(cls, keras.layers.Layer)):
            continue
        if attribute in EXCLUDED_LAYERS or cls.__name__ in EXCLUDED_LAYERS:
            continue
        names[attribute] = cls.__name__  # Convolution2D is another name of Conv2D
        if cls.__name__ not in layers:
            info = introspect(cls)
            layers[cls.__name__] = {
                "args": [arg_to_json(arg) for arg in info.args.values()],
                "accepts_base_args": info.accepts_base_args,
            }
    import importlib

    for class_name, module in LAYERKIT_LAYERS.items():
        info = introspect(getattr(importlib.import_module(module), class_name))
        layers[class_name] = {
            "args": [arg_to_json(arg) for arg in info.args.values()],
            "accepts_base_args": info.accepts_base_args,
        }
    return {
        "keras_version": keras.__version__,
        "base_args": [arg_to_json(arg) for arg in base.args.values()],
        "names": names,
        "layers": layers,
    }


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


# ---------------------------------------------------------------------------------------------
# The registry


class LayerRegistry:
    """Resolves names written in specs to layer classes and their argument descriptions."""

    def __init__(self, catalog: dict[str, Any]) -> None:
        self.keras_version: str = catalog["keras_version"]
        self.base_args = {arg.name: arg for arg in map(arg_from_json, catalog["base_args"])}
        self._infos: dict[str, LayerInfo] = {
            class_name: LayerInfo(
                class_name,
                {arg.name: arg for arg in map(arg_from_json, entry["args"])},
                entry["accepts_base_args"],
            )
            for class_name, entry in catalog["layers"].items()
        }
        self._keras_names: dict[str, str] = dict(catalog["names"])  # attribute → class name
        self._custom: dict[str, type] = {}  # class name → class registered from Python
        # extra names given to register_layer(name=...), as written → class name; kept here so
        # that every _reindex (each later registration or removal) includes them again
        self._custom_names: dict[str, str] = {}
        self._keys: dict[str, str] = {}
        self._reindex()

    def _reindex(self) -> None:
        keys: dict[str, str] = {}
        for attribute, class_name in self._keras_names.items():
            keys.setdefault(lookup_key(attribute), class_name)
            keys.setdefault(lookup_key(class_name), class_name)  # GroupQueryAttention's class
        for alias, class_name in ALIASES.items():
            keys.setdefault(lookup_key(alias), class_name)
        for class_name in LAYERKIT_LAYERS:
            keys.setdefault(lookup_key(class_name), class_name)
        for class_name in self._custom:
            keys[lookup_key(class_name)] = class_name
        for name, class_name in self._custom_names.items():
            keys[lookup_key(name)] = class_name
        self._keys = keys

    def names(self) -> list[str]:
        """Every class name a spec can use (snake_case forms and aliases resolve to these)."""
        return sorted(self._infos)

    def resolve(self, name: str) -> str:
        """The class name for a name written in a spec, in any supported spelling.

        Raises:
            UnknownLayerError: for a name no layer has, with a suggestion or the reason it is refused.
        """
        class_name = self._keys.get(lookup_key(name))
        if class_name is not None:
            return class_name
        for excluded, reason in EXCLUDED_LAYERS.items():
            if lookup_key(excluded) == lookup_key(name):
                raise UnknownLayerError(name, f"{excluded} cannot be used in a spec: {reason}.")
        hint = did_you_mean(name, self.spellings()) or (
            "Use a keras.layers class name (as Conv2D or conv2d), a block defined under 'blocks:', "
            "or register a custom layer with layerkit.register_layer."
        )
        raise UnknownLayerError(name, hint)

    def spellings(self) -> list[str]:
        """The snake_case form of every usable name, for "did you mean" suggestions."""
        spellings = [to_snake_case(attribute) for attribute in self._keras_names]
        own = [to_snake_case(name) for name in [*LAYERKIT_LAYERS, *self._custom]]
        return spellings + list(ALIASES) + own + list(self._custom_names)

    def info(self, class_name: str) -> LayerInfo:
        return self._infos[class_name]

    def layer_class(self, class_name: str) -> type:
        """The live class for a resolved class name (imports Keras)."""
        if class_name in self._custom:
            return self._custom[class_name]
        if class_name in LAYERKIT_LAYERS:
            import importlib

            return getattr(importlib.import_module(LAYERKIT_LAYERS[class_name]), class_name)
        import keras

        attribute = next(
            attribute for attribute, name in self._keras_names.items() if name == class_name
        )
        return getattr(keras.layers, attribute)

    def register(self, cls: type, name: str | None = None) -> type:
        """Make a custom layer class available to specs under its class name (and ``name``).

        Raises:
            ValueError: the class name, or ``name``, is already one of keras.layers' or layerkit's
                own (checked before anything is registered).
        """
        class_name = cls.__name__
        if class_name in self._custom and self._custom[class_name] is not cls:
            warnings.warn(
                f"layerkit.register_layer: replacing the custom layer '{class_name}'",
                stacklevel=3,
            )
        elif class_name in self._infos and not self._infos[class_name].custom:
            raise ValueError(
                f"cannot register '{class_name}': keras.layers or layerkit already has a layer of "
                "that name. "
                "Rename the class."
            )
        if name is not None:
            self._check_custom_name(name, class_name)
        info = introspect(cls)
        self._infos[class_name] = LayerInfo(
            class_name, info.args, info.accepts_base_args, custom=True
        )
        self._custom[class_name] = cls
        if name is not None:
            # one entry per lookup key: 'my_block' replaces an earlier 'myBlock'
            for written in [n for n in self._custom_names if lookup_key(n) == lookup_key(name)]:
                del self._custom_names[written]
            self._custom_names[name] = class_name
        self._reindex()
        return cls

    def _check_custom_name(self, name: str, class_name: str) -> None:
        """Refuse an extra name that is a built-in layer's; warn when it moves to another class."""
        current = self._keys.get(lookup_key(name))
        if current is None or current == class_name:
            return
        if current in self._custom:
            warnings.warn(
                f"layerkit.register_layer: the name '{name}' now means '{class_name}', "
                f"no longer the custom layer '{current}'",
                stacklevel=4,
            )
            return
        raise ValueError(
            f"cannot register '{class_name}' under the name '{name}': it already names the "
            f"layer {current}. Choose another name."
        )

    def unregister(self, class_name: str) -> None:
        """Remove a custom layer and the extra names it was registered under (tests use this to
        keep the registry clean)."""
        self._custom.pop(class_name, None)
        info = self._infos.get(class_name)
        if info is not None and info.custom:
            del self._infos[class_name]
        self._custom_names = {
            name: target for name, target in self._custom_names.items() if target != class_name
        }
        self._reindex()


@cache
def default_registry() -> LayerRegistry:
    """The process-wide registry, read from the catalog on first use."""
    return LayerRegistry(json.loads(CATALOG_PATH.read_text(encoding="utf-8")))


def register_layer(cls: type | None = None, *, name: str | None = None):
    """Register a custom ``keras.layers.Layer`` subclass so specs can use it.

    Usable as ``@register_layer`` or ``@register_layer(name="my_block")``. The spec then names it by
    its class name (in CamelCase or snake_case) or by ``name``, which stays registered until the
    class is unregistered. Re-registering a class name, or giving ``name`` to another class, warns.

    Args:
        cls: the layer class.
        name: an extra name for specs to use.

    Returns:
        The class, unchanged, so this works as a decorator.

    Raises:
        ValueError: when the class name or ``name`` is already one of keras.layers' or
            layerkit's own.
    """

    def decorate(layer_class: type) -> type:
        return default_registry().register(layer_class, name)

    return decorate if cls is None else decorate(cls)


def main() -> None:
    """Regenerate the catalog from the installed Keras: ``python -m layerkit.catalog.layers``."""
    catalog = generate_catalog()
    CATALOG_PATH.write_text(json.dumps(catalog, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    print(
        f"wrote {CATALOG_PATH} ({len(catalog['layers'])} layers, Keras {catalog['keras_version']})"
    )


if __name__ == "__main__":
    main()
