"""The spec as data: frozen dataclasses read from YAML, each node keeping its file:line:column.

``load_spec`` checks the spec's *structure* (fields, their kinds, the shape of layer items) and
reports every structural problem at once. What names mean (layers, blocks, arguments) is checked
by :mod:`layerkit.validation`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

from .errors import ErrorCollector, Location, SpecError, did_you_mean
from .registry import LAYER_ARGUMENTS
from .yaml_source import Node, describe, parse_yaml, read_source

SPEC_VERSION = 1
TOP_LEVEL_FIELDS = ("version", "name", "description", "input", "layers", "blocks", "expect")
EXPECT_FIELDS = ("total_params", "trainable_params", "non_trainable_params", "rows")
ROW_FIELDS = ("name", "type", "shape", "params")
BLOCK_FIELDS = ("params", "defaults", "layers", "description")
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
    """The model input: shape without the batch dimension (None for a free size) and dtype."""

    shape: tuple[int | None, ...]
    dtype: str
    name: str | None
    location: Location


@dataclass(frozen=True)
class LayerCall:
    """One use of a layer or block, as written: ``conv2d: {filters: 32}`` or a bare ``flatten``."""

    name: str
    args: dict[str, Node | LayerCall]  # a wrapper's nested layer is a LayerCall
    location: Location
    path: str
    key_locations: dict[str, Location] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Repeat:
    """``{repeat: N, layers: [...]}``: the inner layers, N times in a row."""

    times: Node
    layers: tuple[Item, ...]
    location: Location
    path: str


Item = Union[LayerCall, Repeat]  # noqa: UP007 -- a runtime alias used before 3.12's `type` statement


@dataclass(frozen=True)
class BlockDef:
    """A named, parameterised list of layers, used like a layer: ``conv_block: {filters: 32}``."""

    name: str
    params: tuple[str, ...]  # a use must give these
    defaults: dict[str, Node]  # a use may give these; otherwise these values
    layers: tuple[Item, ...]
    location: Location
    path: str

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
    input: InputSpec
    layers: tuple[Item, ...]
    blocks: dict[str, BlockDef]
    expect: Expect
    description: str | None
    file: str
    version: int = SPEC_VERSION


def load_spec(path_or_text: str | Path) -> Spec:
    """Read a spec from a file path or from YAML text.

    Args:
        path_or_text: a path to a ``.yaml`` file, or the YAML text itself.

    Returns:
        The :class:`Spec`, with every node's file:line:column kept.

    Raises:
        SpecError: the file cannot be read, or is not valid YAML.
        SpecErrors: every structural problem found (unknown fields, wrong kinds, malformed items).
    """
    text, file_name = read_source(path_or_text)
    root = parse_yaml(text, file_name)
    return _SpecReader(file_name).read(root)


def _default_name(file_name: str) -> str:
    return Path(file_name).stem if file_name != "<string>" else "model"


class _SpecReader:
    def __init__(self, file_name: str) -> None:
        self.file_name = file_name
        self.errors = ErrorCollector()

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
        input_spec = self.read_input(fields.get("input"), root)
        blocks = self.read_blocks(fields.get("blocks"))
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
        expect = self.read_expect(fields.get("expect"))
        self.errors.raise_if_any()
        return Spec(name, input_spec, layers, blocks, expect, description, self.file_name, version)

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

    def read_input(self, node: Node | None, root: Node) -> InputSpec:
        fallback = InputSpec((), "float32", None, root.location)
        if node is None:
            self.error(
                "missing field 'input'",
                root.location,
                "",
                "Add the input shape without the batch dimension, e.g. 'input: [32, 32, 3]'.",
            )
            return fallback
        dtype, name, shape_node = "float32", None, node
        if node.is_mapping:
            self.check_keys(node, INPUT_FIELDS, "input", "input field")
            shape_node = node.value.get("shape")
            if shape_node is None:
                self.error("missing field 'shape'", node.location, "input")
                return fallback
            dtype = self.read_dtype(node.value.get("dtype"))
            name = self.read_text(node.value.get("name"), "input.name")
        shape = self.read_shape(shape_node, "input" if shape_node is node else "input.shape")
        if shape is None:
            return fallback
        return InputSpec(shape, dtype, name, node.location)

    def read_dtype(self, node: Node | None) -> str:
        if node is None:
            return "float32"
        if node.value not in INPUT_DTYPES:
            hint = did_you_mean(str(node.value), INPUT_DTYPES) or (
                f"Use one of: {', '.join(INPUT_DTYPES)}."
            )
            self.error(f"unknown dtype '{node.value}'", node.location, "input.dtype", hint)
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
            args = self.read_args(args_node, f"{path}.{name}")
            return LayerCall(name, args, location, path, dict(args_node.key_locations))
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

    def read_args(self, node: Node, path: str) -> dict[str, Node | LayerCall]:
        args: dict[str, Node | LayerCall] = dict(node.value)
        for key in LAYER_ARGUMENTS & args.keys():
            # a wrapper's layer (Bidirectional's 'layer', RNN's 'cell') is itself a layer item
            child = args[key]
            if isinstance(child.value, str) or (child.is_mapping and "repeat" not in child.value):
                nested = self.read_item(child, f"{path}.{key}")
                if nested is not None:
                    args[key] = nested
        return args

    def read_repeat(self, node: Node, path: str) -> Repeat | None:
        self.check_keys(node, ("repeat", "layers"), path, "repeat field")
        times = node.value["repeat"]
        count = self.read_positive_int(times, f"{path}.repeat")
        if count is not None and count > MAX_REPEAT:
            self.error(
                f"repeat count {count} is more than the {MAX_REPEAT} allowed",
                times.location,
                f"{path}.repeat",
            )
        inner = node.value.get("layers")
        if inner is None:
            self.error(
                "missing field 'layers' for repeat",
                node.location,
                path,
                "Indent the repeated layers under 'layers:' beside 'repeat:'.",
            )
            return None
        return Repeat(times, self.read_items(inner, f"{path}.layers"), node.location, path)

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
        layers_node = fields.get("layers")
        if layers_node is None:
            self.error("missing field 'layers'", location, path, "List the block's layers.")
            return None
        layers = self.read_items(layers_node, f"{path}.layers")
        return BlockDef(name, tuple(params), defaults, layers, location, path)

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
