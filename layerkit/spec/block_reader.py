"""Reading ``blocks:``: named, parameterised lists of layers that a spec uses like layers.

Takes the YAML node of a file's ``blocks:`` mapping; gives each block as a
:class:`~layerkit.spec.document.BlockDef`: the parameters a use must give (``params:``), those it
may give (``defaults:``), the names its layers use for what feeds it (``inputs:``), its result
(``output:``) and its layers, read by :class:`~layerkit.spec.layer_reader.LayerReader`. What the
parameters and layers mean is checked when a block is used (:mod:`layerkit.spec.validation`).
"""

from __future__ import annotations

from ..errors import Location
from .document import BLOCK_FIELDS, IDENTIFIER, BlockDef, Ref
from .layer_reader import LayerReader
from .value_reader import ValueReader
from .yaml_source import Node, describe


def read_blocks(layers: LayerReader, node: Node | None) -> dict[str, BlockDef]:
    """Every well-formed block of ``blocks:``; a malformed one is reported and left out."""
    if node is None:
        return {}
    if not node.is_mapping:
        layers.values.error(
            f"expected a mapping of block names to blocks, received {describe(node)}",
            node.location,
            "blocks",
        )
        return {}
    blocks = {}
    for name, block_node in node.value.items():
        path = f"blocks.{name}"
        if "${" in name:
            layers.values.check_identifier(name, node.key_location(name), path)
            continue
        if not block_node.is_mapping:
            layers.values.error(
                f"expected a block with 'layers:', received {describe(block_node)}",
                block_node.location,
                path,
            )
            continue
        block = _read_block(layers, name, block_node, node.key_location(name), path)
        if block is not None:
            blocks[name] = block
    return blocks


def _read_block(
    layers: LayerReader, name: str, node: Node, location: Location, path: str
) -> BlockDef | None:
    values = layers.values
    values.check_keys(node, BLOCK_FIELDS, path, "block field")
    fields = node.value
    params = _read_params(values, fields.get("params"), path)
    defaults = _read_defaults(values, fields.get("defaults"), params, path)
    inputs: tuple[str, ...] = ("input",)
    if "inputs" in fields:
        inputs = _read_input_names(values, fields["inputs"], path) or inputs
    output: Ref | None = None
    if "output" in fields:
        refs = values.read_refs(fields["output"], f"{path}.output")
        output = refs[0] if refs else None
    layers_node = fields.get("layers")
    if layers_node is None:
        values.error("missing field 'layers'", location, path, "List the block's layers.")
        return None
    items = layers.read_items(layers_node, f"{path}.layers")
    return BlockDef(name, tuple(params), defaults, items, location, path, inputs, output,
                    node.plain())  # fmt: skip


def _read_params(values: ValueReader, node: Node | None, path: str) -> list[str]:
    """``params:``, the names a use of the block must give."""
    if node is None:
        return []
    if not node.is_sequence or not all(isinstance(item.value, str) for item in node.value):
        values.error(
            f"expected a list of parameter names, received {describe(node)}",
            node.location,
            f"{path}.params",
            "Write e.g. 'params: [filters]'; give optional parameters under 'defaults:'.",
        )
        return []
    return [item.value for item in node.value]


def _read_defaults(
    values: ValueReader, node: Node | None, params: list[str], path: str
) -> dict[str, Node]:
    """``defaults:``, the parameters a use may give, each with the value it has otherwise."""
    if node is None:
        return {}
    if not node.is_mapping:
        values.error(
            f"expected a mapping of parameter names to values, received {describe(node)}",
            node.location,
            f"{path}.defaults",
        )
        return {}
    defaults = dict(node.value)
    for param in params:
        if param in defaults:
            values.error(
                f"parameter '{param}' is both required (params) and optional (defaults)",
                node.key_location(param),
                f"{path}.defaults.{param}",
                "Remove it from 'params:' if it has a default.",
            )
    return defaults


def _read_input_names(values: ValueReader, node: Node, path: str) -> tuple[str, ...] | None:
    """``inputs:``, the names the block's layers use for what feeds the block."""
    if (
        not node.is_sequence
        or not all(
            isinstance(item.value, str) and IDENTIFIER.fullmatch(item.value) for item in node.value
        )
        or not node.value
    ):
        values.error(
            f"expected a list of input names, received {describe(node)}",
            node.location,
            f"{path}.inputs",
            "Write e.g. 'inputs: [x, skip]'; the block's layers refer to these names.",
        )
        return None
    return tuple(item.value for item in node.value)
