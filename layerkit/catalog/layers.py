"""The layer registry: every name a spec may use for a layer, and what arguments each layer takes.

Two views of one registry:

* the **catalog** (``keras_layers.json`` beside this file) lists each ``keras.layers`` class with its
  constructor arguments, defaults and simple types, and the parameters of its ``call`` (the names
  its inputs may be passed under). It is generated from Keras by introspection
  (``python -m layerkit.catalog.generate_layers``) and lets ``layerkit validate`` check a spec
  without importing TensorFlow; a test keeps it equal to the installed Keras;
* the **live classes**, looked up only by the catalog's fixed class names as attributes of
  ``keras.layers``, or registered from Python with :func:`register_layer`. A name written in a spec is
  never imported or evaluated.

Takes the catalog (read on first use) and the classes registered from Python; gives the class name
for any spelling of a layer's name, its ``LayerInfo``, and its live class. What an argument is and
the check of its value are in :mod:`.arguments`.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import did_you_mean
from .arguments import LayerInfo, arg_from_json, call_arg_from_json
from .introspect import introspect

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
# layerkit's own layers, listed in the catalog beside keras.layers: class name → module. The live
# class is looked up only here, by these fixed names, never by a module a spec names.
LAYERKIT_LAYERS: dict[str, str] = {
    "RandomPaddedCrop": "layerkit.catalog.augmentations",
    "Cutout": "layerkit.catalog.augmentations",
    "AlternatingFlip": "layerkit.catalog.augmentations",
    "LayerScale": "layerkit.model.extra_layers",
    "PositionEmbedding": "layerkit.model.extra_layers",
}


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
                call_args=tuple(map(call_arg_from_json, entry["call"])),
                call_kwargs=entry["call_kwargs"],
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
        self._infos[class_name] = replace(introspect(cls), class_name=class_name, custom=True)
        self._custom[class_name] = cls
        # and to Keras, under the name a saved model records for it, so that evaluate, predict,
        # export and import load a model that uses it once its plugin is imported
        keras_objects()[class_name] = cls
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
        cls = self._custom.pop(class_name, None)
        if cls is not None and keras_objects().get(class_name) is cls:
            del keras_objects()[class_name]
        info = self._infos.get(class_name)
        if info is not None and info.custom:
            del self._infos[class_name]
        self._custom_names = {
            name: target for name, target in self._custom_names.items() if target != class_name
        }
        self._reindex()


def keras_objects() -> dict[str, Any]:
    """Keras's global custom objects, which ``keras.saving.load_model`` looks a saved class name
    up in (a custom layer subclasses ``keras.layers.Layer``: Keras is imported already)."""
    import keras

    return keras.saving.get_custom_objects()


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
