"""load_spec: the spec's structure, with every structural problem reported at once."""

from __future__ import annotations

import re

import pytest

from layerkit import SpecErrors, load_spec
from layerkit.spec.document import LayerCall, Repeat

from .conftest import CIFAR, DATA


def messages(text: str) -> list[str]:
    with pytest.raises(SpecErrors) as caught:
        load_spec(text)
    return [error.format() for error in caught.value.errors]


def test_reference_spec_structure():
    spec = load_spec(CIFAR)
    assert spec.name == "cifar10_cnn"
    assert spec.input.shape == (32, 32, 3)
    assert spec.input.dtype == "float32"
    assert list(spec.blocks) == ["conv_block"]
    block = spec.blocks["conv_block"]
    assert block.params == ("filters", "dropout")
    assert isinstance(block.layers[0], Repeat)
    assert [item.name for item in spec.layers] == [
        "conv_block", "conv_block", "conv_block", "flatten", "dense",
        "batch_normalization", "dropout", "dense", "batch_normalization", "dense",
    ]  # fmt: skip
    assert (spec.expect.total_params, spec.expect.trainable_params) == (2_494_982, 2_491_838)
    assert spec.expect.non_trainable_params == 3_144
    assert len(spec.expect.rows) == 25
    assert spec.expect.rows[6].name == "conv2d_21"
    assert spec.expect.rows[6].shape == (16, 16, 64)
    assert spec.expect.rows[6].params == 18_496


def test_bare_names_and_null_arguments_are_layers_without_arguments():
    spec = load_spec("input: [4]\nlayers:\n  - flatten\n  - dense: {units: 2}\n  - softmax:\n")
    assert spec.layers[0] == LayerCall("flatten", {}, spec.layers[0].location, "layers[0]")
    assert spec.layers[2].args == {}
    assert spec.name == "model"  # text without a name gets a default one


def test_name_defaults_to_file_stem(write_spec):
    spec = load_spec(write_spec("input: [4]\nlayers: [flatten]\n", "tiny_net.yaml"))
    assert spec.name == "tiny_net"
    assert spec.file.endswith("tiny_net.yaml")


def test_input_as_mapping_with_dtype_and_free_sizes():
    spec = load_spec("input: {shape: [null, 8], dtype: int32, name: tokens}\nlayers: [flatten]\n")
    assert spec.input.shape == (None, 8)
    assert (spec.input.dtype, spec.input.name) == ("int32", "tokens")


def test_every_structural_problem_at_once():
    text = (
        "nmae: x\n"  # 1
        "input: [32, 0, 3]\n"  # 2
        "layers:\n"  # 3
        "  - {dense: {units: 3}, flatten: null}\n"  # 4
        "  - dense: 10\n"  # 5
        "  - repeat: -1\n"  # 6
        "    layers: [flatten]\n"  # 7
        "expect:\n"  # 8
        "  total_parms: 3\n"  # 9
        "  rows:\n"  # 10
        "    - {shape: [3], params: -1}\n"  # 11
    )
    assert messages(text) == [
        "<string>:1:1: error: nmae: unknown spec field 'nmae'. Did you mean 'name'?",
        "<string>:2:13: error: input[1]: expected a positive integer, received int 0",
        "<string>:4:5: error: layers[0]: expected a layer ('flatten' or 'conv2d: {...}') or a "
        "repeat, received a mapping with 2 keys (dense, flatten). Give each layer its own '- ' "
        "item, with its arguments indented under its name.",
        "<string>:5:12: error: layers[1].dense: the arguments of 'dense' must be a mapping, "
        "received int 10. Write them as 'dense: {argument: value, ...}'.",
        "<string>:6:13: error: layers[2].repeat: expected a non-negative integer, received int -1",
        "<string>:9:3: error: expect.total_parms: unknown expect field 'total_parms'. "
        "Did you mean 'total_params'?",
        "<string>:11:28: error: expect.rows[0].params: expected a non-negative integer, "
        "received int -1",
    ]


def test_missing_input_and_layers():
    assert messages("name: empty\n") == [
        "<string>:1:1: error: missing field 'input'. Add the input shape without the batch "
        "dimension, e.g. 'input: [32, 32, 3]'.",
        "<string>:1:1: error: missing field 'layers'. Add 'layers:' with the list of layers "
        "(see docs/spec.md).",
    ]


def test_spec_must_be_a_mapping():
    with pytest.raises(Exception) as caught:
        load_spec("- flatten\n- dense\n")
    assert str(caught.value) == (
        "<string>:1:1: error: a spec must be a mapping of fields, received a list. "
        "Start the file with fields such as 'name:', 'input:' and 'layers:'."
    )


def test_unsupported_version():
    assert messages("version: 2\ninput: [3]\nlayers: [flatten]\n") == [
        "<string>:1:10: error: version: unsupported spec version: expected 1, received int 2. "
        "Write 'version: 1' or upgrade layerkit."
    ]


def test_block_structure_errors():
    text = (
        "input: [3]\n"
        "blocks:\n"
        "  b:\n"
        "    params: filters\n"
        "    defaults: {x: 1}\n"
        "    layer: [flatten]\n"
        "layers: [flatten]\n"
    )
    assert messages(text) == [
        "<string>:3:3: error: blocks.b: missing field 'layers'. List the block's layers.",
        "<string>:4:13: error: blocks.b.params: expected a list of parameter names, received "
        "the text 'filters'. Write e.g. 'params: [filters]'; give optional parameters under "
        "'defaults:'.",
        "<string>:6:5: error: blocks.b.layer: unknown block field 'layer'. Did you mean 'layers'?",
    ]


def test_wrapper_layer_argument_is_read_as_a_nested_layer():
    spec = load_spec("input: [10, 8]\nlayers:\n  - bidirectional: {layer: {lstm: {units: 4}}}\n")
    nested = spec.layers[0].args["layer"]
    assert isinstance(nested, LayerCall)
    assert nested.name == "lstm"
    assert nested.path == "layers[0].bidirectional.layer"


def test_reference_spec_expectations_are_the_published_summary():
    """expect: in specs/cifar.yaml is the published Keras-2 printout kept in tests/data, row by row."""
    text = (DATA / "cifar_keras2_summary.txt").read_text(encoding="utf-8")
    published = [
        (tuple(int(size) for size in shape.split(", ")), int(params))
        for shape, params in re.findall(r"\(None, ([\d, ]+)\)\s+(\d+)\s*$", text, re.MULTILINE)
    ]
    totals = [int(n.replace(",", "")) for n in re.findall(r"params: ([\d,]+)", text)]
    spec = load_spec(CIFAR)
    assert [(row.shape, row.params) for row in spec.expect.rows] == published
    assert len(published) == 25
    expect = spec.expect
    assert totals == [expect.total_params, expect.trainable_params, expect.non_trainable_params]
    names = re.findall(r"^(\w+?_\d+)", text, re.MULTILINE)
    assert [row.name for row in spec.expect.rows] == names


def test_unknown_input_dtype():
    assert messages("input: {shape: [4], dtype: float33}\nlayers: [flatten]\n") == [
        "<string>:1:28: error: input.dtype: unknown dtype 'float33'. Did you mean 'float32'?"
    ]
