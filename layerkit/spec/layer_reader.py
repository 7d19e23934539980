"""Reading layer lists: each item a layer call, a ``shared:`` reuse or a ``repeat:``.

Takes the YAML node of a list of layers (the spec's ``layers:`` and ``augment:``, a block's or a
repeat's ``layers:``) and its path; gives the :data:`~layerkit.spec.document.Item` tuple, each
item with its own ``id`` and ``inputs`` wiring, a wrapper's inner layer read as a layer too.
Problems go to the shared :class:`~layerkit.spec.value_reader.ValueReader`.
"""

from __future__ import annotations

from typing import NamedTuple

from ..catalog.arguments import LAYER_ARGUMENTS
from ..errors import Location
from .document import LAYER_KEYS, MAX_REPEAT, Item, LayerCall, Operation, Ref, Repeat, Shared
from .value_reader import ValueReader
from .yaml_source import Node, describe


class Wiring(NamedTuple):
    """What an item's mapping says besides its arguments, in the order the items take it."""

    id: Node | None
    inputs: tuple[Ref, ...] | None
    input_names: tuple[str, ...] | None
    condition: Node | None


class LayerReader:
    """Reads layer items, recording problems through ``values``."""

    def __init__(self, values: ValueReader) -> None:
        self.values = values

    def read_items(self, node: Node, path: str) -> tuple[Item, ...]:
        if not node.is_sequence:
            self.values.error(
                f"expected a list of layers, received {describe(node)}",
                node.location,
                path,
                "Write each layer on its own '- ' line.",
            )
            return ()
        if not node.value:
            self.values.error(
                "the list of layers is empty", node.location, path, "Add at least one layer."
            )
        items = []
        for index, child in enumerate(node.value):
            item = self.read_item(child, f"{path}[{index}]")
            if item is not None:
                items.append(item)
        return tuple(items)

    def read_item(self, node: Node, path: str) -> Item | None:
        if isinstance(node.value, str):
            if node.value == "op":
                return self.read_operation(Node(None, node.location), node.location, path)
            return LayerCall(node.value, {}, node.location, path)
        if node.is_mapping and "repeat" in node.value:
            return self.read_repeat(node, path)
        if node.is_mapping and len(node.value) == 1:
            ((name, args_node),) = node.value.items()
            location = node.key_location(name)
            if name == "op":
                return self.read_operation(args_node, location, path)
            if args_node.value is None:
                return LayerCall(name, {}, location, path)
            if not args_node.is_mapping:
                self.values.error(
                    f"the arguments of '{name}' must be a mapping, received {describe(args_node)}",
                    args_node.location,
                    f"{path}.{name}",
                    f"Write them as '{name}: {{argument: value, ...}}'.",
                )
                return None
            wiring = self.read_wiring(args_node, f"{path}.{name}")
            if name == "shared":
                return self.read_shared(args_node, location, path, wiring)
            args = self.read_args(args_node, f"{path}.{name}")
            key_locations = _key_locations(args_node)
            return LayerCall(name, args, location, path, key_locations, *wiring)
        received = describe(node)
        if node.is_mapping:
            keys = ", ".join(node.value)
            received = f"a mapping with {len(node.value)} keys ({keys})"
        self.values.error(
            f"expected a layer ('flatten' or 'conv2d: {{...}}') or a repeat, received {received}",
            node.location,
            path,
            "Give each layer its own '- ' item, with its arguments indented under its name.",
        )
        return None

    def read_wiring(self, node: Node, path: str) -> Wiring:
        """The item's own ``id``, the ``inputs`` it takes (with their names when ``inputs:`` is a
        mapping) and its ``if:`` condition, from its mapping."""
        item_id = node.value.get("id")
        if item_id is not None and not self.values.check_name(item_id, f"{path}.id", "an id"):
            item_id = None
        inputs, names = None, None
        if "inputs" in node.value:
            inputs_node = node.value["inputs"]
            if inputs_node.is_mapping:
                inputs, names = self.read_named_inputs(inputs_node, f"{path}.inputs")
            else:
                inputs = self.values.read_refs(inputs_node, f"{path}.inputs")
        return Wiring(item_id, inputs, names, node.value.get("if"))

    def read_named_inputs(
        self, node: Node, path: str
    ) -> tuple[tuple[Ref, ...] | None, tuple[str, ...] | None]:
        """``inputs: {query: a, value: b}``: one reference per parameter name of the call."""
        if not node.value:
            self.values.error(
                "the mapping of named inputs is empty",
                node.location,
                path,
                "Write e.g. 'inputs: {query: x, value: y}', or leave 'inputs' out.",
            )
            return None, None
        refs, names = [], []
        for name, ref_node in node.value.items():
            if not self.values.check_identifier(name, node.key_location(name), f"{path}.{name}"):
                return None, None
            if ref_node.is_sequence or ref_node.is_mapping:
                self.values.error(
                    f"named input '{name}' takes one reference, received {describe(ref_node)}",
                    ref_node.location,
                    f"{path}.{name}",
                    "Give one layer id, input name or offset such as -1 per name.",
                )
                return None, None
            ref = self.values.read_refs(ref_node, f"{path}.{name}")
            if ref is None:
                return None, None
            refs.append(ref[0])
            names.append(name)
        return tuple(refs), tuple(names)

    def read_shared(
        self, node: Node, location: Location, path: str, wiring: Wiring
    ) -> Shared | None:
        self.values.check_keys(node, ("layer", *LAYER_KEYS), f"{path}.shared", "shared field")
        target = node.value.get("layer")
        if target is None or not isinstance(target.value, str):
            self.values.error(
                "'shared' needs 'layer:', the id of the layer whose weights to apply again",
                node.location,
                f"{path}.shared",
                "Write e.g. 'shared: {layer: encoder, inputs: [other]}'.",
            )
            return None
        return Shared(Ref(target.value, target.location), location, path, *wiring)

    def read_args(self, node: Node, path: str) -> dict[str, Node | LayerCall]:
        args: dict[str, Node | LayerCall] = {
            key: value for key, value in node.value.items() if key not in LAYER_KEYS
        }
        for key in LAYER_ARGUMENTS & args.keys():
            # a wrapper's layer (Bidirectional's 'layer', RNN's 'cell') is itself a layer item
            child = args[key]
            if isinstance(child.value, str) or (child.is_mapping and "repeat" not in child.value):
                nested = self.read_item(child, f"{path}.{key}")
                if isinstance(nested, LayerCall):
                    args[key] = nested
        return args

    def read_repeat(self, node: Node, path: str) -> Repeat | None:
        self.values.check_keys(
            node, ("repeat", "index", "layers", *LAYER_KEYS), path, "repeat field"
        )
        times = node.value["repeat"]
        if not (isinstance(times.value, str) and "${" in times.value):
            count = self.values.read_positive_int(times, f"{path}.repeat", allow_zero=True)
            if count is not None and count > MAX_REPEAT:
                self.values.error(
                    f"repeat count {count} is more than the {MAX_REPEAT} allowed",
                    times.location,
                    f"{path}.repeat",
                )
        index = None
        if "index" in node.value:
            index_node = node.value["index"]
            if isinstance(index_node.value, str) and self.values.check_identifier(
                index_node.value, index_node.location, f"{path}.index"
            ):
                index = index_node.value
        wiring = self.read_wiring(node, path)
        inner = node.value.get("layers")
        if inner is None:
            self.values.error(
                "missing field 'layers' for repeat",
                node.location,
                path,
                "Indent the repeated layers under 'layers:' beside 'repeat:'.",
            )
            return None
        layers = self.read_items(inner, f"{path}.layers")
        return Repeat(times, layers, node.location, path, index, *wiring)

    def read_operation(self, node: Node, location: Location, path: str) -> Operation | None:
        """``op: {add: 3.0}``: one keras.ops function's name, its constant, and the item's wiring."""
        names = [key for key in node.value if key not in LAYER_KEYS] if node.is_mapping else []
        if len(names) != 1:
            received = describe(node)
            if node.is_mapping:
                received = f"{len(names)} names ({', '.join(names)})" if names else "none"
            self.values.error(
                f"'op' takes the name of one keras.ops function, received {received}",
                node.location,
                f"{path}.op",
                "Write e.g. 'op: {add: 3.0}' (a function and its constant), or "
                "'op: {multiply: null, inputs: [a, b]}' for two tensors.",
            )
            return None
        (name,) = names
        wiring = self.read_wiring(node, f"{path}.op")
        return Operation(name, node.value[name], location, path, _key_locations(node), *wiring)


def _key_locations(node: Node) -> dict[str, Location]:
    """Where each key of an item's mapping is written, and each name of ``inputs:`` as a mapping
    (as ``inputs.NAME``), so messages about a name point at it."""
    locations = dict(node.key_locations)
    inputs = node.value.get("inputs")
    if inputs is not None and inputs.is_mapping:
        locations.update({f"inputs.{key}": at for key, at in inputs.key_locations.items()})
    return locations
