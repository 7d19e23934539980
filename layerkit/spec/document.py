"""The spec as data: frozen dataclasses read from YAML, each node keeping its file:line:column.

``load_spec`` checks the spec's *structure* (fields, their kinds, the shape of layer items) and
reports every structural problem at once. What names mean (layers, blocks, arguments) is checked
by :mod:`layerkit.spec.validation`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from ..catalog.layers import LAYER_ARGUMENTS
from ..errors import ErrorCollector, Location, SpecError, did_you_mean
from .overrides import apply_overrides
from .settings import DataSettings, TrainSettings
from .settings_reader import read_data, read_train
from .yaml_source import Node, describe, parse_yaml, read_source

SPEC_VERSION = 1
TOP_LEVEL_FIELDS = (
    "version", "name", "description", "include", "vars", "input", "inputs", "layers", "outputs",
    "blocks", "expect", "data", "augment", "train",
)  # fmt: skip
INCLUDED_FIELDS = ("description", "include", "vars", "blocks")  # what an included file may hold
EXPECT_FIELDS = ("total_params", "trainable_params", "non_trainable_params", "rows")
ROW_FIELDS = ("name", "type", "shape", "params")
BLOCK_FIELDS = ("params", "defaults", "inputs", "layers", "output", "description")
LAYER_KEYS = ("id", "inputs")  # keys of a layer's mapping that are layerkit's, not Keras arguments
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_INCLUDE_DEPTH = 16
INPUT_FIELDS = ("shape", "dtype", "name")
MAX_REPEAT = 1000
# keras.src.backend.common.dtypes.ALLOWED_DTYPES, so an input dtype is checked without Keras
INPUT_DTYPES = (
    "float32", "float16", "bfloat16", "float64", "int8", "int16", "int32", "int64",
    "uint8", "uint16", "uint32", "uint64", "bool", "string", "complex64", "complex128",
    "float8_e4m3fn", "float8_e5m2",
)  # fmt: skip


@dataclass(frozen=True)
class InputSpec:
    """One model input: its reference name, shape without the batch dimension (None for a free
    size) and dtype."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str
    location: Location


@dataclass(frozen=True)
class Ref:
    """A reference to another layer's output: an ``id``, an input's name, or -1 for the previous item."""

    target: str | int
    location: Location

    def __str__(self) -> str:
        return str(self.target)


@dataclass(frozen=True)
class LayerCall:
    """One use of a layer or block, as written: ``conv2d: {filters: 32}`` or a bare ``flatten``.

    ``id`` names its output for other items' ``inputs:``; ``inputs`` None means the previous item.
    """

    name: str
    args: dict[str, Node | LayerCall]  # a wrapper's nested layer is a LayerCall
    location: Location
    path: str
    key_locations: dict[str, Location] = field(default_factory=dict, compare=False)
    id: str | None = None
    inputs: tuple[Ref, ...] | None = None


@dataclass(frozen=True)
class Shared:
    """``shared: {layer: ID}``: the layer of item ID, with its weights, applied again here."""

    target: Ref
    location: Location
    path: str
    id: str | None = None
    inputs: tuple[Ref, ...] | None = None


@dataclass(frozen=True)
class Repeat:
    """``{repeat: N, layers: [...]}``: the inner layers, N times in a row; ``index`` names the
    iteration number (from 0) for ``${...}`` inside."""

    times: Node
    layers: tuple[Item, ...]
    location: Location
    path: str
    index: str | None = None
    id: str | None = None
    inputs: tuple[Ref, ...] | None = None


Item = Union[LayerCall, Shared, Repeat]  # noqa: UP007 -- a runtime alias (3.12's `type` is newer)


@dataclass(frozen=True)
class BlockDef:
    """A named, parameterised list of layers, used like a layer: ``conv_block: {filters: 32}``."""

    name: str
    params: tuple[str, ...]  # a use must give these
    defaults: dict[str, Node]  # a use may give these; otherwise these values
    layers: tuple[Item, ...]
    location: Location
    path: str
    inputs: tuple[str, ...] = ("input",)  # names the block's layers use for what feeds the block
    output: Ref | None = None  # the block's result; the last layer when None

    @property
    def param_names(self) -> list[str]:
        return [*self.params, *(name for name in self.defaults if name not in self.params)]


@dataclass(frozen=True)
class ExpectedRow:
    """What one row of the summary should show; None where the spec does not say."""

    index: int
    name: str | None
    type: str | None
    shape: tuple[int | None, ...] | None
    params: int | None
    location: Location


@dataclass(frozen=True)
class Expect:
    """Expected totals and, optionally, one expected row per layer in order."""

    total_params: int | None = None
    trainable_params: int | None = None
    non_trainable_params: int | None = None
    rows: tuple[ExpectedRow, ...] | None = None
    locations: dict[str, Location] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Spec:
    """A loaded spec. Build it into a model with :func:`layerkit.build`."""

    name: str
    inputs: tuple[InputSpec, ...]
    layers: tuple[Item, ...]
    blocks: dict[str, BlockDef]
    expect: Expect
    description: str | None
    file: str
    version: int = SPEC_VERSION
    vars: dict[str, Node] = field(default_factory=dict)
    outputs: tuple[Ref, ...] | None = None  # the last layer when None
    includes: tuple[str, ...] = ()  # every file included, directly or not
    train: TrainSettings = field(default_factory=TrainSettings)
    data: DataSettings = field(default_factory=DataSettings)
    augment: tuple[Item, ...] = ()  # training-time augmentation layers, never part of the model
    document: dict[str, Any] = field(default_factory=dict, compare=False)  # as read, overrides in

    @property
    def input(self) -> InputSpec:
        """The first (for most models, the only) input."""
        return self.inputs[0]


def load_spec(path_or_text: str | Path, overrides: Sequence[str] = ()) -> Spec:
    """Read a spec from a file path or from YAML text.

    Args:
        path_or_text: a path to a ``.yaml`` file, or the YAML text itself.
        overrides: ``"vars.width=0.5"``-style settings applied to the file before it is read, as
            the command line's ``--set`` does; each must name a key the spec has, with a value of
            the same type.

    Returns:
        The :class:`Spec`, with every node's file:line:column kept.

    Raises:
        SpecError: the file cannot be read, or is not valid YAML.
        SpecErrors: every structural problem found (unknown fields, wrong kinds, malformed items).
    """
    text, file_name = read_source(path_or_text)
    root = apply_overrides(parse_yaml(text, file_name), overrides)
    return _SpecReader(file_name).read(root)


def _default_name(file_name: str) -> str:
    return Path(file_name).stem if file_name != "<string>" else "model"


def _chain_name(file_name: str) -> str:
    return str(Path(file_name).resolve()) if file_name != "<string>" else file_name


def _display_path(path: str) -> str:
    """A path as messages show it: relative to the working folder when it is inside it."""
    if path == "<string>":
        return path
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _location_of(value: BlockDef | Node) -> Location:
    return value.location


@dataclass(frozen=True)
class _Library:
    """What an included file brings: its blocks and vars (its own includes' too)."""

    blocks: dict[str, BlockDef]
    vars: dict[str, Node]
    includes: tuple[str, ...]


class _SpecReader:
    def __init__(self, file_name: str, include_chain: tuple[str, ...] = ()) -> None:
        self.file_name = file_name
        self.errors = ErrorCollector()
        self.include_chain = include_chain or (_chain_name(file_name),)
        self.includes: list[str] = []

    def error(self, message: str, location: Location, path: str, fix: str | None = None) -> None:
        self.errors.add(SpecError(message, location, path, fix))

    def read(self, root: Node) -> Spec:
        if not root.is_mapping:
            raise SpecError(
                f"a spec must be a mapping of fields, received {describe(root)}",
                root.location,
                fix="Start the file with fields such as 'name:', 'input:' and 'layers:'.",
            )
        fields: dict[str, Node] = root.value
        self.check_keys(root, TOP_LEVEL_FIELDS, "", "spec field")
        version = self.read_version(fields.get("version"))
        name = self.read_text(fields.get("name"), "name") or _default_name(self.file_name)
        description = self.read_text(fields.get("description"), "description")
        blocks, variables = self.read_library(fields)
        inputs = self.read_inputs(fields, root)
        layers_node = fields.get("layers")
        if layers_node is None:
            self.error(
                "missing field 'layers'",
                root.location,
                "",
                "Add 'layers:' with the list of layers (see docs/spec.md).",
            )
            layers: tuple[Item, ...] = ()
        else:
            layers = self.read_items(layers_node, "layers")
        outputs = None
        if "outputs" in fields:
            outputs = self.read_refs(fields["outputs"], "outputs")
        expect = self.read_expect(fields.get("expect"))
        train = read_train(fields.get("train"), self.errors)
        data = read_data(fields.get("data"), self.errors)
        augment: tuple[Item, ...] = ()
        if "augment" in fields:
            augment = self.read_items(fields["augment"], "augment")
        self.errors.raise_if_any()
        return Spec(
            name, inputs, layers, blocks, expect, description, self.file_name, version,
            vars=variables, outputs=outputs, includes=tuple(self.includes), train=train,
            data=data, augment=augment, document=root.plain(),
        )  # fmt: skip

    def read_library(self, fields: dict[str, Node]) -> tuple[dict[str, BlockDef], dict[str, Node]]:
        """Blocks and vars of this file and of every file it includes, each name defined once."""
        blocks: dict[str, BlockDef] = {}
        variables: dict[str, Node] = {}
        if "include" in fields:
            for included in self.read_includes(fields["include"]):
                self.merge(blocks, included.blocks, "block")
                self.merge(variables, included.vars, "variable")
                self.includes += [*included.includes]
        self.merge(blocks, self.read_blocks(fields.get("blocks")), "block")
        self.merge(variables, self.read_vars(fields.get("vars")), "variable")
        return blocks, variables

    def merge(self, into: dict, new: dict, what: str) -> None:
        for key, value in new.items():
            if key in into:
                first = _location_of(into[key])
                self.error(
                    f"{what} '{key}' is defined twice (first at {first})",
                    _location_of(value),
                    f"{'blocks' if what == 'block' else 'vars'}.{key}",
                    f"Rename one of the two {what}s.",
                )
            else:
                into[key] = value

    def read_includes(self, node: Node) -> list[_Library]:
        entries = node.value if node.is_sequence else (node,)
        libraries = []
        for index, entry in enumerate(entries):
            path = f"include[{index}]" if node.is_sequence else "include"
            if not isinstance(entry.value, str) or not entry.value.strip():
                self.error(
                    f"expected the path of a YAML file, received {describe(entry)}",
                    entry.location,
                    path,
                    "Write e.g. 'include: blocks/resnet.yaml' (relative to this file).",
                )
                continue
            library = self.read_include(entry, path)
            if library is not None:
                libraries.append(library)
        return libraries

    def read_include(self, entry: Node, path: str) -> _Library | None:
        base = Path(self.file_name).parent if self.file_name != "<string>" else Path.cwd()
        target = (base / entry.value).resolve()
        chain = " → ".join([*map(_display_path, self.include_chain), _display_path(str(target))])
        if str(target) in self.include_chain:
            self.error(
                f"include cycle: {chain}",
                entry.location,
                path,
                "Remove the include that leads back to a file already being read.",
            )
            return None
        if len(self.include_chain) > MAX_INCLUDE_DEPTH:
            self.error(
                f"includes nest more than {MAX_INCLUDE_DEPTH} deep: {chain}", entry.location, path
            )
            return None
        if not target.is_file():
            siblings = (
                [p.name for p in target.parent.glob("*.y*ml")] if target.parent.is_dir() else []
            )
            hint = did_you_mean(target.name, siblings)
            self.error(
                f"included file '{entry.value}' not found (looked for {target})",
                entry.location,
                path,
                hint or "Give the path relative to the including file.",
            )
            return None
        try:
            text, file_name = read_source(Path(_display_path(str(target))))
            root = parse_yaml(text, file_name)
        except SpecError as error:
            self.errors.add(error)
            return None
        if not root.is_mapping:
            self.error(
                f"an included file must be a mapping with 'blocks:' or 'vars:', received "
                f"{describe(root)}",
                root.location,
                "",
            )
            return None
        reader = _SpecReader(file_name, (*self.include_chain, str(target)))
        reader.check_keys(root, INCLUDED_FIELDS, "", "included-file field")
        blocks, variables = reader.read_library(root.value)
        self.errors.extend(reader.errors.errors)
        return _Library(blocks, variables, (file_name, *reader.includes))

    # -- helpers -------------------------------------------------------------------------------

    def check_keys(self, node: Node, allowed: tuple[str, ...], path: str, what: str) -> None:
        for key in node.value:
            if key not in allowed:
                hint = did_you_mean(key, allowed) or f"Use one of: {', '.join(allowed)}."
                key_path = f"{path}.{key}" if path else key
                self.error(f"unknown {what} '{key}'", node.key_location(key), key_path, hint)

    def read_version(self, node: Node | None) -> int:
        if node is None:
            return SPEC_VERSION
        if node.value != SPEC_VERSION or isinstance(node.value, bool):
            self.error(
                f"unsupported spec version: expected {SPEC_VERSION}, received {describe(node)}",
                node.location,
                "version",
                f"Write 'version: {SPEC_VERSION}' or upgrade layerkit.",
            )
        return SPEC_VERSION

    def read_text(self, node: Node | None, path: str) -> str | None:
        if node is None:
            return None
        if not isinstance(node.value, str) or not node.value.strip():
            self.error(f"expected non-empty text, received {describe(node)}", node.location, path)
            return None
        return node.value

    def read_positive_int(self, node: Node, path: str, *, allow_zero: bool = False) -> int | None:
        value = node.value
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or value < (0 if allow_zero else 1)
        ):
            kind = "a non-negative integer" if allow_zero else "a positive integer"
            self.error(f"expected {kind}, received {describe(node)}", node.location, path)
            return None
        return value

    def read_shape(self, node: Node, path: str) -> tuple[int | None, ...] | None:
        if not node.is_sequence or not node.value:
            self.error(
                f"expected a shape such as [32, 32, 3], received {describe(node)}",
                node.location,
                path,
                "Write the shape as a list of sizes without the batch dimension; null for a free "
                "size.",
            )
            return None
        sizes: list[int | None] = []
        for index, item in enumerate(node.value):
            if item.value is None:
                sizes.append(None)
                continue
            size = self.read_positive_int(item, f"{path}[{index}]")
            if size is None:
                return None
            sizes.append(size)
        return tuple(sizes)

    # -- sections ------------------------------------------------------------------------------

    def read_inputs(self, fields: dict[str, Node], root: Node) -> tuple[InputSpec, ...]:
        if "input" in fields and "inputs" in fields:
            self.error(
                "a spec has either 'input' or 'inputs', not both",
                root.key_location("inputs"),
                "inputs",
                "Use 'input:' for one input, 'inputs:' (a mapping of names) for several.",
            )
        if "inputs" in fields:
            node = fields["inputs"]
            if not node.is_mapping or not node.value:
                self.error(
                    f"expected a mapping of input names to shapes, received {describe(node)}",
                    node.location,
                    "inputs",
                    "Write e.g. 'inputs: {image: [32, 32, 3], meta: [10]}'.",
                )
                return (InputSpec("input", (), "float32", node.location),)
            inputs = []
            for name, child in node.value.items():
                self.check_identifier(name, node.key_location(name), f"inputs.{name}")
                inputs.append(self.read_input(child, f"inputs.{name}", name))
            return tuple(inputs)
        if "input" not in fields:
            self.error(
                "missing field 'input'",
                root.location,
                "",
                "Add the input shape without the batch dimension, e.g. 'input: [32, 32, 3]'.",
            )
            return (InputSpec("input", (), "float32", root.location),)
        return (self.read_input(fields["input"], "input", "input"),)

    def read_input(self, node: Node, path: str, name: str) -> InputSpec:
        fallback = InputSpec(name, (), "float32", node.location)
        dtype, shape_node = "float32", node
        if node.is_mapping:
            self.check_keys(node, INPUT_FIELDS, path, "input field")
            shape_node = node.value.get("shape")
            if shape_node is None:
                self.error("missing field 'shape'", node.location, path)
                return fallback
            dtype = self.read_dtype(node.value.get("dtype"), f"{path}.dtype")
            name = self.read_text(node.value.get("name"), f"{path}.name") or name
        shape = self.read_shape(shape_node, path if shape_node is node else f"{path}.shape")
        if shape is None:
            return fallback
        return InputSpec(name, shape, dtype, node.location)

    def check_identifier(self, name: str, location: Location, path: str) -> bool:
        if IDENTIFIER.fullmatch(name):
            return True
        self.error(
            f"'{name}' is not a valid name: use letters, digits and '_', not starting with a digit",
            location,
            path,
        )
        return False

    def read_refs(self, node: Node, path: str) -> tuple[Ref, ...] | None:
        """``inputs:``/``outputs:``: one reference or a list; a reference is a name or -N."""
        entries = node.value if node.is_sequence else (node,)
        refs = []
        for index, entry in enumerate(entries):
            value = entry.value
            entry_path = f"{path}[{index}]" if node.is_sequence else path
            if (isinstance(value, str) and IDENTIFIER.fullmatch(value)) or (
                isinstance(value, int) and not isinstance(value, bool) and value < 0
            ):
                refs.append(Ref(value, entry.location))
            else:
                self.error(
                    f"expected a layer id, an input name or a negative offset such as -1, "
                    f"received {describe(entry)}",
                    entry.location,
                    entry_path,
                    "Give the layer you mean an 'id:' and refer to it by that id.",
                )
                return None
        if not refs:
            self.error("the list of references is empty", node.location, path)
            return None
        return tuple(refs)

    def read_vars(self, node: Node | None) -> dict[str, Node]:
        if node is None:
            return {}
        if not node.is_mapping:
            self.error(
                f"expected a mapping of variable names to values, received {describe(node)}",
                node.location,
                "vars",
                "Write e.g. 'vars: {width: 1.0, classes: 10}'.",
            )
            return {}
        for name in node.value:
            self.check_identifier(name, node.key_location(name), f"vars.{name}")
        return dict(node.value)

    def read_dtype(self, node: Node | None, path: str) -> str:
        if node is None:
            return "float32"
        if node.value not in INPUT_DTYPES:
            hint = did_you_mean(str(node.value), INPUT_DTYPES) or (
                f"Use one of: {', '.join(INPUT_DTYPES)}."
            )
            self.error(f"unknown dtype '{node.value}'", node.location, path, hint)
            return "float32"
        return node.value

    def read_items(self, node: Node, path: str) -> tuple[Item, ...]:
        if not node.is_sequence:
            self.error(
                f"expected a list of layers, received {describe(node)}",
                node.location,
                path,
                "Write each layer on its own '- ' line.",
            )
            return ()
        if not node.value:
            self.error(
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
                self.error(
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
        self.error(
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
                self.error(
                    f"expected a name, received {describe(id_node)}", id_node.location, f"{path}.id"
                )
            elif self.check_identifier(id_node.value, id_node.location, f"{path}.id"):
                item_id = id_node.value
        inputs = None
        if "inputs" in node.value:
            inputs = self.read_refs(node.value["inputs"], f"{path}.inputs")
        return item_id, inputs

    def read_shared(
        self,
        node: Node,
        location: Location,
        path: str,
        item_id: str | None,
        inputs: tuple[Ref, ...] | None,
    ) -> Shared | None:
        self.check_keys(node, ("layer", *LAYER_KEYS), f"{path}.shared", "shared field")
        target = node.value.get("layer")
        if target is None or not isinstance(target.value, str):
            self.error(
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
        self.check_keys(node, ("repeat", "index", "layers", *LAYER_KEYS), path, "repeat field")
        times = node.value["repeat"]
        if not (isinstance(times.value, str) and "${" in times.value):
            count = self.read_positive_int(times, f"{path}.repeat")
            if count is not None and count > MAX_REPEAT:
                self.error(
                    f"repeat count {count} is more than the {MAX_REPEAT} allowed",
                    times.location,
                    f"{path}.repeat",
                )
        index = None
        if "index" in node.value:
            index_node = node.value["index"]
            if isinstance(index_node.value, str) and self.check_identifier(
                index_node.value, index_node.location, f"{path}.index"
            ):
                index = index_node.value
        item_id, inputs = self.read_wiring(node, path)
        inner = node.value.get("layers")
        if inner is None:
            self.error(
                "missing field 'layers' for repeat",
                node.location,
                path,
                "Indent the repeated layers under 'layers:' beside 'repeat:'.",
            )
            return None
        layers = self.read_items(inner, f"{path}.layers")
        return Repeat(times, layers, node.location, path, index, item_id, inputs)

    def read_blocks(self, node: Node | None) -> dict[str, BlockDef]:
        if node is None:
            return {}
        if not node.is_mapping:
            self.error(
                f"expected a mapping of block names to blocks, received {describe(node)}",
                node.location,
                "blocks",
            )
            return {}
        blocks = {}
        for name, block_node in node.value.items():
            path = f"blocks.{name}"
            if not block_node.is_mapping:
                self.error(
                    f"expected a block with 'layers:', received {describe(block_node)}",
                    block_node.location,
                    path,
                )
                continue
            block = self.read_block(name, block_node, node.key_location(name), path)
            if block is not None:
                blocks[name] = block
        return blocks

    def read_block(self, name: str, node: Node, location: Location, path: str) -> BlockDef | None:
        self.check_keys(node, BLOCK_FIELDS, path, "block field")
        fields = node.value
        params: list[str] = []
        params_node = fields.get("params")
        if params_node is not None:
            if not params_node.is_sequence or not all(
                isinstance(item.value, str) for item in params_node.value
            ):
                self.error(
                    f"expected a list of parameter names, received {describe(params_node)}",
                    params_node.location,
                    f"{path}.params",
                    "Write e.g. 'params: [filters]'; give optional parameters under 'defaults:'.",
                )
            else:
                params = [item.value for item in params_node.value]
        defaults: dict[str, Node] = {}
        defaults_node = fields.get("defaults")
        if defaults_node is not None:
            if not defaults_node.is_mapping:
                self.error(
                    f"expected a mapping of parameter names to values, received "
                    f"{describe(defaults_node)}",
                    defaults_node.location,
                    f"{path}.defaults",
                )
            else:
                defaults = dict(defaults_node.value)
                for param in params:
                    if param in defaults:
                        self.error(
                            f"parameter '{param}' is both required (params) and optional "
                            "(defaults)",
                            defaults_node.key_location(param),
                            f"{path}.defaults.{param}",
                            "Remove it from 'params:' if it has a default.",
                        )
        inputs: tuple[str, ...] = ("input",)
        if "inputs" in fields:
            names_node = fields["inputs"]
            if (
                not names_node.is_sequence
                or not all(
                    isinstance(item.value, str) and IDENTIFIER.fullmatch(item.value)
                    for item in names_node.value
                )
                or not names_node.value
            ):
                self.error(
                    f"expected a list of input names, received {describe(names_node)}",
                    names_node.location,
                    f"{path}.inputs",
                    "Write e.g. 'inputs: [x, skip]'; the block's layers refer to these names.",
                )
            else:
                inputs = tuple(item.value for item in names_node.value)
        output = None
        if "output" in fields:
            refs = self.read_refs(fields["output"], f"{path}.output")
            output = refs[0] if refs else None
        layers_node = fields.get("layers")
        if layers_node is None:
            self.error("missing field 'layers'", location, path, "List the block's layers.")
            return None
        layers = self.read_items(layers_node, f"{path}.layers")
        return BlockDef(name, tuple(params), defaults, layers, location, path, inputs, output)

    def read_expect(self, node: Node | None) -> Expect:
        if node is None:
            return Expect()
        if not node.is_mapping:
            self.error(
                f"expected a mapping of expected counts, received {describe(node)}",
                node.location,
                "expect",
            )
            return Expect()
        self.check_keys(node, EXPECT_FIELDS, "expect", "expect field")
        totals: dict[str, int | None] = {}
        for key in EXPECT_FIELDS[:3]:
            value = node.value.get(key)
            totals[key] = (
                None
                if value is None
                else self.read_positive_int(value, f"expect.{key}", allow_zero=True)
            )
        rows = None
        rows_node = node.value.get("rows")
        if rows_node is not None:
            rows = self.read_rows(rows_node)
        return Expect(**totals, rows=rows, locations=dict(node.key_locations))

    def read_rows(self, node: Node) -> tuple[ExpectedRow, ...] | None:
        if not node.is_sequence:
            self.error(
                f"expected a list of rows, received {describe(node)}", node.location, "expect.rows"
            )
            return None
        rows = []
        for index, row_node in enumerate(node.value):
            path = f"expect.rows[{index}]"
            if not row_node.is_mapping:
                self.error(
                    f"expected a row such as {{shape: [32, 32, 32], params: 896}}, received "
                    f"{describe(row_node)}",
                    row_node.location,
                    path,
                )
                continue
            self.check_keys(row_node, ROW_FIELDS, path, "row field")
            fields = row_node.value
            shape = None
            if "shape" in fields:
                shape = self.read_shape(fields["shape"], f"{path}.shape")
            params = None
            if "params" in fields:
                params = self.read_positive_int(fields["params"], f"{path}.params", allow_zero=True)
            row_name = self.read_text(fields.get("name"), f"{path}.name")
            row_type = self.read_text(fields.get("type"), f"{path}.type")
            rows.append(ExpectedRow(index, row_name, row_type, shape, params, row_node.location))
        return tuple(rows)
