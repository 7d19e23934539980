"""The spec as data: the frozen dataclasses a spec is read into, and the fields it may have.

Takes nothing; gives the types every later stage reads (:class:`Spec` and its parts, each keeping
its file:line:column) and the names of the fields a spec, a block, an input, ``expect:`` and its
rows may hold (which :mod:`layerkit.spec.schema` shares). Reading YAML into these is
:func:`layerkit.spec.loader.load_spec`'s job; what names mean (layers, blocks, arguments) is
checked by :mod:`layerkit.spec.validation`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

from ..errors import Location
from .settings import DataSettings, TrainSettings
from .yaml_source import Node

if TYPE_CHECKING:
    from ..tuning.search_space import SearchSpace

SPEC_VERSION = 1
TOP_LEVEL_FIELDS = (
    "version", "name", "description", "include", "vars", "input", "inputs", "layers", "outputs",
    "blocks", "expect", "data", "augment", "train", "variants", "search",
)  # fmt: skip
INCLUDED_FIELDS = ("description", "include", "vars", "blocks")  # what an included file may hold
EXPECT_FIELDS = ("total_params", "trainable_params", "non_trainable_params", "rows")
ROW_FIELDS = ("name", "type", "shape", "params")
BLOCK_FIELDS = ("params", "defaults", "inputs", "layers", "output", "description")
# keys of an item's mapping that are layerkit's, not Keras arguments: its own name, what feeds it,
# and the condition that keeps it in
LAYER_KEYS = ("id", "inputs", "if")
VARIANT_FIELDS = ("description", "vars", "expect")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_INCLUDE_DEPTH = 16
INPUT_FIELDS = ("shape", "dtype", "name")
MAX_REPEAT = 1000
# the largest integer a layer argument or an input size may be: no size, count or seed needs more,
# and Keras fails or exhausts memory on larger ones
MAX_ARGUMENT_INT = 2**31 - 1
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
    ``input_names`` is set when ``inputs:`` is a mapping (``{query: a, value: b}``): the name each
    of ``inputs`` is passed under. ``condition`` is the ``if:`` node: false leaves the item out.
    ``name`` and ``id`` may hold ``${...}``, filled in where the item is used.
    """

    name: str
    args: dict[str, Node | LayerCall]  # a wrapper's nested layer is a LayerCall
    location: Location
    path: str
    key_locations: dict[str, Location] = field(default_factory=dict, compare=False)
    id: Node | None = None
    inputs: tuple[Ref, ...] | None = None
    input_names: tuple[str, ...] | None = None
    condition: Node | None = None


@dataclass(frozen=True)
class Shared:
    """``shared: {layer: ID}``: the layer of item ID, with its weights, applied again here."""

    target: Ref
    location: Location
    path: str
    id: Node | None = None
    inputs: tuple[Ref, ...] | None = None
    input_names: tuple[str, ...] | None = None
    condition: Node | None = None


@dataclass(frozen=True)
class Repeat:
    """``{repeat: N, layers: [...]}``: the inner layers, N times in a row; ``index`` names the
    iteration number (from 0) for ``${...}`` inside."""

    times: Node
    layers: tuple[Item, ...]
    location: Location
    path: str
    index: str | None = None
    id: Node | None = None
    inputs: tuple[Ref, ...] | None = None
    input_names: tuple[str, ...] | None = None
    condition: Node | None = None


@dataclass(frozen=True)
class Operation:
    """``op: {add: 3.0}``: a ``keras.ops`` function applied to the item's input(s).

    ``name`` is the function's name as written; ``argument`` the node written after it: None for
    no constant, a scalar or list for the parameter after the tensor inputs, a mapping for
    keyword arguments by name.
    """

    name: str
    argument: Node | None
    location: Location
    path: str
    key_locations: dict[str, Location] = field(default_factory=dict, compare=False)
    id: Node | None = None
    inputs: tuple[Ref, ...] | None = None
    input_names: tuple[str, ...] | None = None
    condition: Node | None = None


Item = Union[LayerCall, Shared, Repeat, Operation]  # noqa: UP007 -- a runtime alias (3.12's `type` is newer)


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
    document: dict[str, Any] = field(default_factory=dict, compare=False)  # as written

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
class Variant:
    """One entry of ``variants:``: a named set of var values with its own ``expect:``."""

    name: str
    vars: dict[str, Node]
    expect: Expect | None  # None: the spec's own expect: applies
    description: str | None
    location: Location


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
    variants: dict[str, Variant] = field(default_factory=dict)  # every variant the file declares
    variant: str | None = None  # the one this spec was loaded as (its vars and expect applied)
    search: SearchSpace | None = None  # what `layerkit tune` may vary (None: no search: section)

    @property
    def input(self) -> InputSpec:
        """The first (for most models, the only) input."""
        return self.inputs[0]
