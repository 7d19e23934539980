"""Keras layer objects from plan nodes, one at a time.

The registry gives the class by its catalog name and the plan gives plain argument values, so
nothing from the spec is evaluated or imported. What a layer's constructor rejects becomes a
SpecError at the argument (or layer) the message is about. Used by the compiler to build the
model and by the estimate to work out shapes and parameters before building.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..catalog.layers import LayerRegistry
from ..errors import SpecError
from ..spec.plan import ResolvedLayer

if TYPE_CHECKING:
    import keras

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def make_layer(
    layer: ResolvedLayer, registry: LayerRegistry, name: str | None = None
) -> keras.layers.Layer:
    """Instantiate one layer; a nested layer argument (a wrapper's ``layer:``) is made first.

    Raises:
        SpecError: Keras rejected the layer, located at the argument its message names, else at
            the layer.
    """
    layer_class = registry.layer_class(layer.class_name)
    args: dict[str, Any] = {
        key: make_layer(value, registry) if isinstance(value, ResolvedLayer) else _to_keras(value)
        for key, value in layer.args.items()
    }
    info = registry.info(layer.class_name)
    if name is not None and (info.accepts_base_args or "name" in info.args):
        args["name"] = name
    try:
        return layer_class(**args)
    except Exception as error:  # constructor validation: ValueError, TypeError, …
        message = keras_message(error)
        argument = _argument_named_in(message, layer.args)
        if argument is None:
            raise SpecError(
                f"Keras rejected {layer.class_name}: {message}", layer.location, layer.path
            ) from error
        raise SpecError(
            f"Keras rejected argument '{argument}' of {layer.class_name}: {message}",
            layer.arg_locations[argument],
            f"{layer.path}.{argument}",
        ) from error


def keras_message(error: BaseException) -> str:
    """A Keras error message on one line, without colour codes or the "Arguments received" dump."""
    text = ANSI_ESCAPE.sub("", str(error))
    text = text.split("Arguments received by", 1)[0]
    text = re.sub(r"Exception encountered when calling [\w.]+\(\)\.", "", text)
    text = " ".join(text.split())
    return text or type(error).__name__


def _argument_named_in(message: str, args: dict[str, Any]) -> str | None:
    """The argument a Keras message is about: named as `name` or name=, else quoted by value."""
    for name in args:
        if re.search(rf"(`{re.escape(name)}`|\b{re.escape(name)}=)", message):
            return name
    for name, value in args.items():
        if isinstance(value, str) and re.search(rf"\b{re.escape(value)}\b", message):
            return name
    return None


def _to_keras(value: Any) -> Any:
    # YAML gives lists; Keras takes tuples for sizes and strides and checks for them
    if isinstance(value, list):
        return tuple(_to_keras(item) for item in value)
    if isinstance(value, dict):
        return {key: _to_keras(item) if key != "config" else item for key, item in value.items()}
    return value
