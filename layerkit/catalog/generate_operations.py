"""Writes ``keras_ops.json``, the operations catalog, from the installed Keras: every public
``keras.ops`` function an ``op:`` item may apply, with its parameters in order.

Takes the installed Keras (imported); gives the catalog as a dict, or, run as
``python -m layerkit.catalog.generate_operations``, the file beside :mod:`.operations`, which
reads it. A build-time tool: ``tests/test_operations.py`` checks the shipped file equals its
output. A new function of Keras that takes ``*args`` or keyword-only parameters stops the
generator until someone decides what a spec may write for it.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

from .arguments import ArgInfo, arg_to_json
from .introspect import json_default
from .operations import CATALOG_PATH, EXCLUDED_OPERATIONS


def _kinds(default: Any) -> tuple[str, ...]:
    """The kinds of value a parameter takes, where its default makes them clear.

    An integer default may stand for an axis or a size that also takes a list (``strides=1``);
    None says nothing (a tensor, a number, a list): any value.
    """
    if isinstance(default, bool):
        return ("bool",)
    if isinstance(default, int | tuple | list):
        return ("int", "list")
    if isinstance(default, float):
        return ("int", "float")
    if isinstance(default, str):
        return ("str",)
    return ()


def _param(parameter: inspect.Parameter) -> ArgInfo:
    required = parameter.default is inspect.Parameter.empty
    default = None if required else parameter.default
    return ArgInfo(parameter.name, required, json_default(default), _kinds(default))


def describe_function(name: str, function: Any) -> list[dict[str, Any]]:
    """The parameters of one ``keras.ops`` function as the catalog lists them (``**kwargs``
    left out: a spec gives only named parameters).

    Raises:
        ValueError: the function takes ``*args`` or keyword-only parameters.
    """
    params = []
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind is parameter.VAR_KEYWORD:
            continue
        if parameter.kind is not parameter.POSITIONAL_OR_KEYWORD:
            raise ValueError(
                f"keras.ops.{name} has the parameter {parameter}: list it in "
                "EXCLUDED_OPERATIONS (layerkit/catalog/operations.py) with a reason, or support it"
            )
        params.append(arg_to_json(_param(parameter)))
    return params


def generate_catalog() -> dict[str, Any]:
    """Describe every usable ``keras.ops`` function, as written to ``keras_ops.json``."""
    import keras

    operations: dict[str, Any] = {}
    for name in sorted(dir(keras.ops)):
        function = getattr(keras.ops, name)
        if name.startswith("_") or name in EXCLUDED_OPERATIONS or not inspect.isfunction(function):
            continue
        operations[name] = describe_function(name, function)
    return {"keras_version": keras.__version__, "operations": operations}


def main() -> None:
    """Regenerate the catalog from the installed Keras:
    ``python -m layerkit.catalog.generate_operations``."""
    catalog = generate_catalog()
    CATALOG_PATH.write_text(json.dumps(catalog, indent=1) + "\n", encoding="utf-8")
    print(
        f"wrote {CATALOG_PATH} ({len(catalog['operations'])} operations, "
        f"Keras {catalog['keras_version']})"
    )


if __name__ == "__main__":
    main()
