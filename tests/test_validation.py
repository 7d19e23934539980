"""validate: names, arguments, blocks and ${param} references, all without TensorFlow."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import yaml

from layerkit import SpecErrors, load_spec, validate

from .conftest import CIFAR, ROOT, SPECS


def problems(text: str) -> list[str]:
    with pytest.raises(SpecErrors) as caught:
        validate(load_spec(textwrap.dedent(text).lstrip("\n")))
    return [error.format() for error in caught.value.errors]


def test_reference_spec_expands_to_25_layers():
    plan = validate(load_spec(CIFAR))
    assert [layer.class_name for layer in plan.layers] == (
        ["Conv2D", "BatchNormalization"] * 2 + ["MaxPooling2D", "Dropout"]
    ) * 3 + ["Flatten", "Dense", "BatchNormalization", "Dropout", "Dense",
             "BatchNormalization", "Dense"]  # fmt: skip
    filters = [layer.args["filters"] for layer in plan.layers if layer.class_name == "Conv2D"]
    assert filters == [32, 32, 64, 64, 128, 128]
    rates = [layer.args["rate"] for layer in plan.layers if layer.class_name == "Dropout"]
    assert rates == [0.2, 0.3, 0.4, 0.5]
    conv = plan.layers[6]
    # the layer is written in the block; its filters value at the block's second use
    assert (conv.location.line, conv.location.column) == (20, 13)
    assert conv.arg_locations["filters"].line == 27
    assert conv.path == (
        "layers[1].conv_block → repeat 1/2 → blocks.conv_block.layers[0].layers[0].conv2d"
    )


@pytest.mark.parametrize(
    "written", ["Conv2D", "conv2d", "conv_2d", "Convolution2D", "convolution2d"]
)
def test_layer_names_in_any_spelling(written):
    plan = validate(
        load_spec(f"input: [8, 8, 3]\nlayers:\n  - {written}: {{filters: 2, kernel_size: 1}}\n")
    )
    assert plan.layers[0].class_name == "Conv2D"


@pytest.mark.parametrize(
    ("written", "class_name"),
    [("bn", "BatchNormalization"), ("fc", "Dense"), ("gap2d", "GlobalAveragePooling2D"),
     ("MaxPool2D", "MaxPooling2D"), ("max_pooling2d", "MaxPooling2D")],
)  # fmt: skip
def test_aliases(written, class_name):
    args = "{units: 2}" if class_name == "Dense" else "{}"
    plan = validate(load_spec(f"input: [8, 8, 3]\nlayers:\n  - {written}: {args}\n"))
    assert plan.layers[0].class_name == class_name


def test_typos_and_types_all_reported_with_places_and_suggestions():
    assert problems(
        """
        input: [32, 32, 3]
        layers:
          - conv2dd: {filters: 32, kernel_size: 3}
          - conv2d: {filtres: 32, kernel_size: 3}
          - conv2d: {filters: "32", kernel_size: 3}
          - conv2d: {kernel_size: 3}
          - dense: {units: 2.5, use_bias: yes}
          - dropout: {rate: high}
          - flaten
          - rescaling: {scale: 1e-3}
        """
    ) == [
        "<string>:3:5: error: layers[0].conv2dd: unknown layer 'conv2dd'. Did you mean 'conv2d'?",
        "<string>:4:14: error: layers[1].conv2d.filtres: unknown argument 'filtres' for Conv2D. "
        "Did you mean 'filters'?",
        "<string>:5:23: error: layers[2].conv2d.filters: argument 'filters' of Conv2D expects an "
        "integer, received the text '32'. Write the number without quotes.",
        "<string>:6:5: error: layers[3].conv2d: Conv2D needs argument 'filters'. "
        "Add 'filters: ...' to its arguments.",
        "<string>:7:20: error: layers[4].dense.units: argument 'units' of Dense expects an "
        "integer, received float 2.5. Write a whole number.",
        "<string>:8:21: error: layers[5].dropout.rate: argument 'rate' of Dropout expects a "
        "number, received the text 'high'. Write a number here.",
        "<string>:9:5: error: layers[6].flaten: unknown layer 'flaten'. Did you mean 'flatten'?",
        "<string>:10:24: error: layers[7].rescaling.scale: argument 'scale' of Rescaling expects "
        "a number, received the text '1e-3'. Write it as 1.0e-3: YAML reads a number with an "
        "exponent as text unless it has a decimal point and a signed exponent.",
    ]


def test_a_number_read_as_text_is_refused_where_an_argument_has_no_known_kind():
    """RandomZoom's factors take a number or a pair, so no kind is declared: '5e-2' reached Keras as
    text and failed only at build. Text that is not such a number still passes to Keras."""
    spec = """\
        input: [32, 32, 3]
        layers: [flatten]
        augment:
          - random_zoom: {height_factor: 5e-2}
          - random_rotation: {factor: 5.0e-2}
          - random_zoom: {height_factor: '5.0e-2'}
        """
    assert problems(spec) == [
        "<string>:4:34: error: augment[0].random_zoom.height_factor: argument 'height_factor' of "
        "RandomZoom received the text '5e-2', a number YAML reads as text. Write it as 5.0e-2: "
        "YAML reads a number with an exponent as text unless it has a decimal point and a signed "
        "exponent."
    ]


def test_refused_layers_say_why():
    assert problems("input: [3]\nlayers:\n  - lambda: {function: x}\n") == [
        "<string>:3:5: error: layers[0].lambda: unknown layer 'lambda'. Lambda cannot be used in "
        "a spec: it runs arbitrary Python code; register a custom layer from Python instead."
    ]


def test_unknown_layer_without_a_close_match():
    assert problems("input: [3]\nlayers:\n  - quantum_foam\n") == [
        "<string>:3:5: error: layers[0].quantum_foam: unknown layer 'quantum_foam'. Use a "
        "keras.layers class name (as Conv2D or conv2d), a block defined under 'blocks:', or "
        "register a custom layer with layerkit.register_layer."
    ]


BLOCK_SPEC = """
input: [8, 8, 3]
blocks:
  conv_bn:
    params: [filters]
    defaults: {kernel: 3}
    layers:
      - conv2d: {filters: "${filers}", kernel_size: "${kernel}"}
      - bn
layers:
  - conv_bn: {filters: 4}
  - conv_bn: {}
  - conv_bn: {filters: 8, kernl: 5}
  - conv_nb: {filters: 8}
"""


def test_block_errors_are_reported_once_each():
    assert problems(BLOCK_SPEC) == [
        "<string>:7:27: error: layers[0].conv_bn → blocks.conv_bn.layers[0].conv2d.filters: "
        "'filers' in '${filers}' is not a parameter of block 'conv_bn' nor a var. "
        "Did you mean 'filters'?",
        "<string>:11:5: error: layers[1].conv_bn: block 'conv_bn' needs parameter 'filters'. "
        "Add 'filters: ...' to this use of 'conv_bn' (defined at line 3).",
        "<string>:12:27: error: layers[2].conv_bn.kernl: unknown parameter 'kernl' for block "
        "'conv_bn'. Did you mean 'kernel'?",
        "<string>:13:5: error: layers[3].conv_nb: unknown layer 'conv_nb'. Did you mean 'conv_bn'?",
    ]


def test_block_parameters_substitute_typed_values_and_text():
    plan = validate(
        load_spec(
            textwrap.dedent(
                """
                input: [8, 8, 3]
                blocks:
                  stage:
                    params: [filters, name]
                    defaults: {kernel: [3, 1]}
                    layers:
                      - conv2d: {filters: "${filters}", kernel_size: "${kernel}", name: "${name}_conv"}
                layers:
                  - stage: {filters: 4, name: first}
                  - stage: {filters: 8, name: second, kernel: 5}
                """
            )
        )
    )
    assert [layer.args for layer in plan.layers] == [
        {"filters": 4, "kernel_size": [3, 1], "name": "first_conv"},
        {"filters": 8, "kernel_size": 5, "name": "second_conv"},
    ]
    # a substituted value is located where the use writes it
    assert plan.layers[1].arg_locations["filters"].line == 11


def test_reference_outside_any_scope():
    assert problems(
        """
        input: [3]
        blocks:
          b:
            params: [n]
            layers: [{dense: {units: "${n * 2}"}}]
        layers:
          - dense: {units: "${n}"}
          - b: {n: 3}
        """
    ) == [
        "<string>:7:20: error: layers[0].dense.units: 'n' in '${n}' is not a var (none is "
        "defined here). Define it under 'vars:', or as a parameter of the block this is in."
    ]


def test_block_that_uses_itself():
    assert problems(
        """
        input: [3]
        blocks:
          a: {layers: [b]}
          b: {layers: [flatten, a]}
        layers: [a]
        """
    ) == [
        "<string>:4:25: error: layers[0].a → blocks.a.layers[0].b → blocks.b.layers[1].a: "
        "block 'a' uses itself (a → b → a). Remove the use that closes the loop."
    ]


def test_block_named_like_a_layer():
    assert problems("input: [3]\nblocks:\n  dense: {layers: [flatten]}\nlayers: [flatten]\n") == [
        "<string>:3:3: error: blocks.dense: block name 'dense' is already the name of the layer "
        "Dense. Rename the block, e.g. to 'dense_block'."
    ]


def test_duplicate_layer_names_from_a_repeat():
    assert problems(
        """
        input: [3]
        layers:
          - repeat: 2
            layers: [{dense: {units: 2, name: head}}]
        """
    ) == [
        "<string>:4:39: error: repeat 2/2 → layers[0].layers[0].dense.name: layer name 'head' "
        "is used more than once (first at line 4). Layer names must be unique: build each from a "
        "block parameter or a repeat index (name: \"conv_${i}\"), or leave 'name' out."
    ]


def test_repeat_count_limit():
    assert problems("input: [3]\nlayers:\n  - repeat: 5000\n    layers: [flatten]\n") == [
        "<string>:3:13: error: layers[0].repeat: repeat count 5000 is more than the 1000 allowed"
    ]


def test_a_repeat_of_zero_leaves_its_layers_out():
    """repeat: 0, written or computed, is a stage switched off; below 0 is an error at the
    repeat, saying which var made it."""
    text = (
        "vars: {extra: 0}\ninput: [4]\nlayers:\n"
        "  - dense: {units: 8}\n"
        '  - repeat: "${extra}"\n    layers: [{dense: {units: 8}}]\n'
        "  - repeat: 0\n    layers: [{dense: {units: 8}}]\n"
        "  - dense: {units: 2}\n"
    )
    plan = validate(load_spec(text))
    assert [layer.class_name for layer in plan.layers] == ["Dense", "Dense"]
    assert [layer.class_name for layer in validate(load_spec(text, ["vars.extra=2"])).layers] == [
        "Dense", "Dense", "Dense", "Dense"]  # fmt: skip
    assert problems(text.replace("extra: 0", "extra: -1")) == [
        "<string>:5:13: error: layers[1].repeat: expected a repeat count from 0 to 1000, "
        "received int -1 (from '${extra}' with extra=-1). Make it a whole number from 0 to 1000, "
        'e.g. "${ceil(depth * 3)}".'
    ]


def test_nested_wrapper_layer_is_validated():
    assert problems(
        "input: [10, 8]\nlayers:\n  - bidirectional: {layer: {lstm: {unitz: 4}}}\n"
    ) == [
        "<string>:3:36: error: layers[0].bidirectional.layer.lstm.unitz: unknown argument "
        "'unitz' for LSTM. Did you mean 'units'?"
    ]


@pytest.mark.parametrize(
    ("path", "augment"),
    [
        (CIFAR, ["RandomTranslation", "RandomFlip"]),
        (SPECS / "cifar-fast.yaml", ["RandomPaddedCrop", "AlternatingFlip"]),  # layerkit's own
    ],
    ids=["cifar.yaml", "cifar-fast.yaml"],
)
def test_validate_does_not_import_tensorflow(path, augment):
    """Neither layerkit.validate nor `layerkit validate` imports a backend, though the shipped
    specs' augment: names layers (layerkit's own among them) and train: and data: are checked."""
    assert {"augment", "data", "train"} <= set(yaml.safe_load(path.read_text(encoding="utf-8")))
    code = (
        "import sys, layerkit\n"
        "from layerkit.cli import main\n"
        f"plan = layerkit.validate(layerkit.load_spec({str(path)!r}))\n"
        "print([layer.class_name for layer in plan.augment])\n"
        f"try:\n    main(['validate', {str(path)!r}])\nexcept SystemExit as end:\n"
        "    print('exit', end.code)\n"
        "print([m for m in ('tensorflow', 'keras', 'jax', 'torch') if m in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    planned, verdict, exit_line, heavy = result.stdout.splitlines()
    assert planned == str(augment)
    assert verdict.startswith(f"✓ {path}: valid spec")
    assert (exit_line, heavy) == ("exit 0", "[]")
