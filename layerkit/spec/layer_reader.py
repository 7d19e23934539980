"""Reading layer lists: each item a layer call, a ``shared:`` reuse or a ``repeat:``.

Takes the YAML node of a list of layers (the spec's ``layers:`` and ``augment:``, a block's or a
repeat's ``layers:``) and its path; gives the :data:`~layerkit.spec.document.Item` tuple, each
item with its own ``id`` and ``inputs`` wiring, a wrapper's inner layer read as a layer too.
Problems go to the shared :class:`~layerkit.spec.value_reader.ValueReader`.
"""

from __future__ import annotations

from ..catalog.arguments import LAYER_ARGUMENTS
from ..errors import Location
from .document import LAYER_KEYS, MAX_REPEAT, Item, LayerCall, Ref, Repeat, Shared
from .value_reader import ValueReader
from .yaml_source import Node, describe


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
            return LayerCall(node.value, {}, node.location, path)
        if node.is_mapping and "repeat" in node.value:
            return self.read_repeat(node, path)
        if node.is_mapping and len(node.value) == 1:
            ((name, args_node),) = node.value.items()
            location = node.key_location(name)
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
            item_id, inputs = self.read_wiring(args_node, f"{path}.{name}")
            if name == "shared":
                return self.read_shared(args_node, location, path, item_id, inputs)
            args = self.read_args(args_node, f"{path}.{name}")
            key_locations = dict(args_node.key_locations)
            return LayerCall(name, args, location, path, key_locations, item_id, inputs)
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

    def read_wiring(self, node: Node, path: str) -> tuple[str | None, tuple[Ref, ...] | None]:
        """The item's own ``id`` and the ``inputs`` it takes, from its mapping."""
        item_id = None
        id_node = node.value.get("id")
        if id_node is not None:
            if not isinstance(id_node.value, str):
                self.values.error(
                    f"expected a name, received {describe(id_node)}", id_node.location, f"{path}.id"
                )
            elif self.values.check_identifier(id_node.value, id_node.location, f"{path}.id"):
                item_id = id_node.value
        inputs = None
        if "inputs" in node.value:
            inputs = self.values.read_refs(node.value["inputs"], f"{path}.inputs")
        return item_id, inputs

    def read_shared(
        self,
        node: Node,
        location: Location,
        path: str,
        item_id: str | None,
        inputs: tuple[Ref, ...] | None,
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
        return Shared(Ref(target.value, target.location), location, path, item_id, inputs)

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
        item_id, inputs = self.read_wiring(node, path)
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
        return Repeat(times, layers, node.location, path, index, item_id, inputs)
