"""``op:`` plan nodes applied as real ``keras.ops`` calls.

Takes a plan node with ``operation=True`` (the function's catalog name and its constant
arguments by parameter name) and the tensors that feed it; gives the output tensor, named as
the plan names the node, so that the functional model holds the op as a node of its own (as
``keras.applications`` models hold ``x + 3.0``) and ``model.summary()`` shows it as a row. The
function is looked up only by its fixed name in the operations catalog, as an attribute of
``keras.ops``; nothing from the spec is evaluated. The size estimate uses the same call on
symbolic tensors (``keras.KerasTensor``) to learn an op's output shape without any data.
"""

from __future__ import annotations

from typing import Any

from ..catalog.operations import default_operations
from ..spec.plan import ResolvedLayer


def keras_function(node: ResolvedLayer) -> Any:
    """The ``keras.ops`` function of an op node, by the catalog's name for it.

    Raises:
        ValueError: the name is not one of the catalog's (a plan made in Python by hand).
    """
    try:
        default_operations().info(node.class_name)
    except KeyError:
        raise ValueError(
            f"'{node.class_name}' is not an op of layerkit's catalog of keras.ops"
        ) from None
    import keras

    return getattr(keras.ops, node.class_name)


def call_operation(node: ResolvedLayer, feeds: list[Any], name: str | None = None) -> Any:
    """Apply the op to ``feeds``: positionally into its first parameters, as one list into a
    list-taking op's first (``concatenate``), or by name when the node has ``input_names``.
    The Keras operation made for the call is given ``name`` (Keras would number it per process).
    """
    function = keras_function(node)
    args = {key: _constant(value) for key, value in node.args.items()}
    if default_operations().info(node.class_name).list_input:
        output = function(list(feeds), **args)
    elif node.input_names is not None:
        output = function(**dict(zip(node.input_names, feeds, strict=True)), **args)
    else:
        output = function(*feeds, **args)
    history = getattr(output, "_keras_history", None)
    if name is not None and history is not None and not any(output is feed for feed in feeds):
        history.operation.name = name
    return output


def _constant(value: Any) -> Any:
    # YAML gives lists; Keras ops take tuples for axes and shapes (a list may mean a tensor)
    if isinstance(value, list):
        return tuple(_constant(item) for item in value)
    return value


def symbolic_output(node: ResolvedLayer, shapes: list[Any], dtypes: list[str | None]) -> Any:
    """The op's output for inputs of these shapes (batch first) and dtypes, worked out on
    symbolic tensors: a ``keras.KerasTensor`` with its shape and dtype, no data computed."""
    import keras

    feeds = [
        keras.KerasTensor(tuple(shape), dtype=dtype or "float32")
        for shape, dtype in zip(shapes, dtypes, strict=True)
    ]
    return call_operation(node, feeds)
