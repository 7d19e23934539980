"""``load_spec``: YAML text (a file or a string), ``--set`` overrides and a variant's name in, a
:class:`Spec` out.

Reads the spec's top-level fields (version, name, inputs, layers, outputs) itself and hands each
section to its reader: ``include:``/``blocks:``/``vars:`` to :mod:`.includes`, layer lists to
:mod:`.layer_reader`, ``expect:`` to :mod:`.expect_reader`, ``train:``/``data:`` to
:mod:`.settings_reader`, ``variants:`` to :mod:`.variants` (which also applies the chosen one).
``${...}`` in input shapes and ``expect:`` values is evaluated here, over the vars as chosen
(:mod:`.load_time_values`). Only the spec's *structure* (fields, their kinds, the shape of layer
items) is checked here, every problem reported at once as :class:`~layerkit.errors.SpecErrors`;
what names mean is checked by :mod:`layerkit.spec.validation`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from ..errors import SpecError, did_you_mean
from ..tuning.search_space import read_search
from .data_settings_reader import read_data
from .document import (
    INPUT_DTYPES,
    INPUT_FIELDS,
    SPEC_VERSION,
    TOP_LEVEL_FIELDS,
    InputSpec,
    Item,
    Spec,
)
from .expect_reader import read_expect
from .includes import LibraryReader
from .layer_reader import LayerReader
from .load_time_values import LoadTimeValues, shared_problems
from .overrides import apply_overrides
from .settings import misplaced
from .settings_reader import read_train
from .spec_file import read_source
from .value_reader import ValueReader
from .variants import apply_variant, included_values, read_variants, split_overrides
from .yaml_source import Node, describe, parse_yaml

MAX_NAME_LENGTH = 100
# a spec's name is its run folder's name: no path separators, nothing a file system refuses
# (Windows' too), no control characters
_UNSAFE = re.compile(r'[/\\<>:"|?*\x00-\x1f\x7f-\x9f\ud800-\udfff]')


def load_spec(
    path_or_text: str | Path, overrides: Sequence[str] = (), variant: str | None = None
) -> Spec:
    """Read a spec from a file path or from YAML text.

    Args:
        path_or_text: a path to a ``.yaml`` file, or the YAML text itself.
        overrides: ``"vars.width=0.5"``-style settings applied to the file before it is read, as
            the command line's ``--set`` does; each must name a key the spec has, with a value of
            the same type, or add one it lacks with a leading ``+`` (``"+train.epochs=3"``).
        variant: the name of one of the spec's ``variants:``: its vars replace the top-level
            values, its ``expect:`` (if any) the spec's, and the spec is named
            ``<name>_<variant>``. Overrides of ``variants.…`` apply before it, all others after
            it (``"vars.width=2"`` wins over the variant's width).

    Returns:
        The :class:`Spec`, with every node's file:line:column kept.

    Raises:
        SpecError: the file cannot be read, or is not valid YAML, or has no variant ``variant``.
        SpecErrors: every structural problem found (unknown fields, wrong kinds, malformed items).
    """
    text, file_name = read_source(path_or_text)
    root = parse_yaml(text, file_name)
    before, after = split_overrides(overrides)
    root = apply_overrides(root, before)
    if variant is not None:
        root = apply_variant(root, variant)
    return _read_spec(apply_overrides(root, after), file_name, variant)


def _default_name(file_name: str) -> str:
    return Path(file_name).stem if file_name != "<string>" else "model"


def _read_spec(root: Node, file_name: str, variant: str | None) -> Spec:
    if not root.is_mapping:
        raise SpecError(
            f"a spec must be a mapping of fields, received {describe(root)}",
            root.location,
            fix="Start the file with fields such as 'name:', 'input:' and 'layers:'.",
        )
    fields: dict[str, Node] = root.value
    values = ValueReader()
    layer_reader = LayerReader(values)
    library = LibraryReader(file_name, values)
    values.check_keys(root, TOP_LEVEL_FIELDS, "", "spec field", lambda key: misplaced(key, ""))
    version = _read_version(values, fields.get("version"))
    name = _read_name(values, fields.get("name")) or _default_name(file_name)
    description = values.read_text(fields.get("description"), "description")
    blocks, variables = library.read(fields)
    variables = included_values(variables, root, variant)
    problems = shared_problems(values)
    early = LoadTimeValues(values, variables, problems)
    inputs = _read_inputs(values, fields, root, early)
    layers_node = fields.get("layers")
    if layers_node is None:
        values.error(
            "missing field 'layers'",
            root.location,
            "",
            "Add 'layers:' with the list of layers (see docs/spec.md).",
        )
        layers: tuple[Item, ...] = ()
    else:
        layers = layer_reader.read_items(layers_node, "layers")
    outputs = None
    if "outputs" in fields:
        outputs = values.read_refs(fields["outputs"], "outputs")
    expect = read_expect(values, fields.get("expect"), early, _expect_path(root, variant))
    chosen = None if variant is None else (variant, expect)
    variants = read_variants(values, fields.get("variants"), variables, problems, chosen)
    document = root.plain()
    if variant is not None:  # a run's spec.yaml is this variant alone, under its own name
        name = _variant_name(values, name, variant, root)
        document["name"] = name
        document.pop("variants", None)
    train = read_train(fields.get("train"), values.errors)
    data = read_data(fields.get("data"), values.errors)
    augment: tuple[Item, ...] = ()
    if "augment" in fields:
        augment = layer_reader.read_items(fields["augment"], "augment")
    search = read_search(fields.get("search"), values, variables, root)
    values.errors.raise_if_any()
    return Spec(
        name, inputs, layers, blocks, expect, description, file_name, version,
        vars=variables, outputs=outputs, includes=tuple(library.includes), train=train,
        data=data, augment=augment, document=document, variants=variants, variant=variant,
        search=search,
    )  # fmt: skip


def _expect_path(root: Node, variant: str | None) -> str:
    """Where the spec's ``expect:`` is written: the chosen variant's, unless ``--set`` changed it."""
    if variant is None:
        return "expect"
    entry = root.value["variants"].value[variant]
    written = entry.value.get("expect") if entry.is_mapping else None
    chosen = written is not None and root.value.get("expect") is written
    return f"variants.{variant}.expect" if chosen else "expect"


def _variant_name(values: ValueReader, name: str, variant: str, root: Node) -> str:
    """``<name>_<variant>``: the model's and the run folder's name of a spec loaded as a variant."""
    joined = f"{name}_{variant}"
    problem = name_problem(joined)
    if problem is not None:
        values.error(
            f"'{joined}', the spec's name with its variant's, cannot name the run folder: {problem}",
            root.value["variants"].key_location(variant),
            f"variants.{variant}",
            "Shorten the spec's name or the variant's.",
        )
    return joined


def _read_name(values: ValueReader, node: Node | None) -> str | None:
    """``name:``, which names the run folder ``runs/<name>/``: one safe file name."""
    name = values.read_text(node, "name")
    problem = None if node is None or name is None else name_problem(name)
    if problem is None:
        return name
    shown = _UNSAFE.sub(lambda match: ascii(match.group())[1:-1], name)
    shown = shown if len(shown) <= 40 else f"{shown[:37]}..."
    values.error(
        f"'{shown}' cannot name the run folder runs/<name>/: {problem}",
        node.location,
        "name",
        "Use letters, digits, '-', '_' and '.' (e.g. 'cifar_v2').",
    )
    return None


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be one folder's name on every system, or None."""
    if len(name) > MAX_NAME_LENGTH:
        return f"it is {len(name):,} characters long, more than {MAX_NAME_LENGTH}"
    if name in (".", ".."):
        return "'.' and '..' name folders that are already there"
    unsafe = _UNSAFE.search(name)
    if unsafe is not None:
        return f"it holds {unsafe.group()!a}"
    if name != name.strip():
        return "it starts or ends with a space"
    return None


def _read_version(values: ValueReader, node: Node | None) -> int:
    if node is None:
        return SPEC_VERSION
    if node.value != SPEC_VERSION or isinstance(node.value, bool):
        values.error(
            f"unsupported spec version: expected {SPEC_VERSION}, received {describe(node)}",
            node.location,
            "version",
            f"Write 'version: {SPEC_VERSION}' or upgrade layerkit.",
        )
    return SPEC_VERSION


def _read_inputs(
    values: ValueReader, fields: dict[str, Node], root: Node, early: LoadTimeValues
) -> tuple[InputSpec, ...]:
    """``input:`` (one input) or ``inputs:`` (a mapping of names), exactly one of them."""
    if "input" in fields and "inputs" in fields:
        values.error(
            "a spec has either 'input' or 'inputs', not both",
            root.key_location("inputs"),
            "inputs",
            "Use 'input:' for one input, 'inputs:' (a mapping of names) for several.",
        )
    if "inputs" in fields:
        node = fields["inputs"]
        if not node.is_mapping or not node.value:
            values.error(
                f"expected a mapping of input names to shapes, received {describe(node)}",
                node.location,
                "inputs",
                "Write e.g. 'inputs: {image: [32, 32, 3], meta: [10]}'.",
            )
            return (InputSpec("input", (), "float32", node.location),)
        inputs = []
        for name, child in node.value.items():
            values.check_identifier(name, node.key_location(name), f"inputs.{name}")
            inputs.append(_read_input(values, child, f"inputs.{name}", name, early))
        return tuple(inputs)
    if "input" not in fields:
        values.error(
            "missing field 'input'",
            root.location,
            "",
            "Add the input shape without the batch dimension, e.g. 'input: [32, 32, 3]'.",
        )
        return (InputSpec("input", (), "float32", root.location),)
    return (_read_input(values, fields["input"], "input", "input", early),)


def _read_input(
    values: ValueReader, node: Node, path: str, name: str, early: LoadTimeValues
) -> InputSpec:
    """One input: a shape, or a mapping with ``shape:`` and optionally ``dtype:`` and ``name:``."""
    fallback = InputSpec(name, (), "float32", node.location)
    dtype, shape_node = "float32", node
    if node.is_mapping:
        values.check_keys(node, INPUT_FIELDS, path, "input field")
        shape_node = node.value.get("shape")
        if shape_node is None:
            values.error("missing field 'shape'", node.location, path)
            return fallback
        dtype = _read_dtype(values, node.value.get("dtype"), f"{path}.dtype")
        name = values.read_text(node.value.get("name"), f"{path}.name") or name
    shape_path = path if shape_node is node else f"{path}.shape"
    resolved = early.shape(shape_node, shape_path)
    shape = None if resolved is None else values.read_shape(resolved, shape_path)
    if shape is None:
        return fallback
    return InputSpec(name, shape, dtype, node.location)


def _read_dtype(values: ValueReader, node: Node | None, path: str) -> str:
    if node is None:
        return "float32"
    if node.value not in INPUT_DTYPES:
        hint = did_you_mean(str(node.value), INPUT_DTYPES) or (
            f"Use one of: {', '.join(INPUT_DTYPES)}."
        )
        values.error(f"unknown dtype '{node.value}'", node.location, path, hint)
        return "float32"
    return node.value
