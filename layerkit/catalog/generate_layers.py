"""Writes ``keras_layers.json``, the layer catalog, from the installed Keras: every usable
``keras.layers`` class and layerkit's own layers, with their constructor arguments and the
parameters of their ``call``.

Takes the installed Keras (imported); gives the catalog as a dict, or, run as
``python -m layerkit.catalog.generate_layers``, the file beside :mod:`.layers`, which reads it.
A build-time tool: ``tests/test_registry.py`` checks the shipped file equals its output.
"""

from __future__ import annotations

import importlib
import inspect
import json
from typing import Any

from .arguments import LayerInfo, arg_to_json, call_arg_to_json
from .introspect import introspect
from .layers import CATALOG_PATH, EXCLUDED_LAYERS, LAYERKIT_LAYERS


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
            layers[cls.__name__] = _entry(introspect(cls))
    for class_name, module in LAYERKIT_LAYERS.items():
        layers[class_name] = _entry(
            introspect(getattr(importlib.import_module(module), class_name))
        )
    return {
        "keras_version": keras.__version__,
        "base_args": [arg_to_json(arg) for arg in base.args.values()],
        "names": names,
        "layers": layers,
    }


def _entry(info: LayerInfo) -> dict[str, Any]:
    """One layer's entry in the catalog."""
    return {
        "args": [arg_to_json(arg) for arg in info.args.values()],
        "accepts_base_args": info.accepts_base_args,
        "call": [call_arg_to_json(arg) for arg in info.call_args],
        "call_kwargs": info.call_kwargs,
    }


def main() -> None:
    """Regenerate the catalog from the installed Keras: ``python -m layerkit.catalog.generate_layers``."""
    catalog = generate_catalog()
    CATALOG_PATH.write_text(json.dumps(catalog, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    print(
        f"wrote {CATALOG_PATH} ({len(catalog['layers'])} layers, Keras {catalog['keras_version']})"
    )


if __name__ == "__main__":
    main()
