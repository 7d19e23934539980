"""vars:, ${...} expressions in specs, and --set overrides (Python API and CLI)."""

from __future__ import annotations

import json

import pytest

from layerkit import SpecError, SpecErrors, load_spec, validate
from layerkit.cli import main
from layerkit.errors import Location

WIDTH_SPEC = """\
name: scalable
vars:
  width: 1.0
  classes: 10
  stem: ${round(32 * width)}
input: [32, 32, 3]
blocks:
  stage:
    params: [filters]
    defaults: {expand: "${filters * 2}"}
    layers:
      - conv2d: {filters: "${expand}", kernel_size: 1, name: "expand_${filters}"}
      - conv2d: {filters: "${filters}", kernel_size: 3, padding: same}
layers:
  - conv2d: {filters: "${stem}", kernel_size: 3}
  - repeat: 2
    index: i
    layers:
      - stage: {filters: "${make_divisible(16 * width * (i + 1), 8)}"}
  - gap2d
  - dense: {units: "${classes}"}
"""


def filters_of(plan) -> list[int]:
    return [node.args["filters"] for node in plan.layers if node.class_name == "Conv2D"]


def test_vars_expressions_defaults_and_repeat_index():
    plan = validate(load_spec(WIDTH_SPEC))
    assert filters_of(plan) == [32, 32, 16, 64, 32]
    names = [node.args.get("name") for node in plan.layers if node.class_name == "Conv2D"]
    assert names == [None, "expand_16", None, "expand_32", None]
    assert plan.layers[-1].args == {"units": 10}


def test_overrides_change_the_model():
    plan = validate(load_spec(WIDTH_SPEC, ["vars.width=0.5", "vars.classes=100"]))
    assert filters_of(plan) == [16, 16, 8, 32, 16]
    assert plan.layers[-1].args == {"units": 100}


def test_override_of_a_layer_argument_by_path():
    plan = validate(load_spec(WIDTH_SPEC, ["layers[0].conv2d.kernel_size=5"]))
    assert plan.layers[0].args["kernel_size"] == 5


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "vars.widht=0.5",
            "<string>:3:3: error: --set vars.widht=0.5: vars has no key 'widht'. "
            "Did you mean 'width'? To add 'widht', write --set +vars.widht=0.5",
        ),
        (
            "train.epochs=3",
            "<string>:1:1: error: --set train.epochs=3: the spec has no key 'train'. Keys under "
            "the spec: name, vars, input, blocks, layers. To add 'train', write --set "
            "+train.epochs=3",
        ),
        (
            # '+' cannot make a list, so it is not suggested
            "extra[0]=1",
            "<string>:1:1: error: --set extra[0]=1: the spec has no key 'extra'. Keys under the "
            "spec: name, vars, input, blocks, layers.",
        ),
        (
            "vars.width=wide",
            "<string>:3:10: error: --set vars.width=wide: expected a number like the spec's 1.0, "
            "received the text 'wide'. Give a number.",
        ),
        (
            "vars.classes=2.5",
            "<string>:4:12: error: --set vars.classes=2.5: expected an integer like the spec's 10, "
            "received float 2.5. Give an integer.",
        ),
        (
            "vars.width=1e-3",
            "<string>:3:10: error: --set vars.width=1e-3: expected a number like the spec's 1.0, "
            "received the text '1e-3'. Write it as 1.0e-3: YAML reads a number with an "
            "exponent as text unless it has a decimal point and a signed exponent.",
        ),
        (
            "layers.x=3",
            "<string>:15:3: error: --set layers.x=3: layers is not a mapping. Index it: layers[0]…",
        ),
        (
            "layers[7].x=3",
            "<string>:15:3: error: --set layers[7].x=3: layers has 4 items, no [7]. Use an index "
            "from 0 to 3.",
        ),
        (
            "vars",
            "error: '--set vars' is not of the form KEY=VALUE. Write e.g. --set vars.width=0.5",
        ),
        (
            "vars.width=[1, 2]",
            "error: --set vars.width takes a single value (a number, text, true/false or null), "
            "received a list",
        ),
    ],
)
def test_bad_overrides(override, message):
    with pytest.raises(SpecError) as caught:
        load_spec(WIDTH_SPEC, [override])
    assert caught.value.format() == message


def test_override_value_errors_point_at_the_command_line():
    with pytest.raises(SpecErrors) as caught:
        validate(load_spec(WIDTH_SPEC, ["vars.classes=-3", "vars.stem=stem"]))
    # the value came from --set, so that is where the error points (-3 units is Keras's to refuse)
    assert [error.format() for error in caught.value.errors] == [
        "--set vars.stem=stem:1:11: error: layers[0].conv2d.filters: argument 'filters' of Conv2D "
        "expects an integer, received the text 'stem'. Write an integer here."
    ]


def test_plus_adds_keys_the_spec_lacks():
    sets = [
        "+train.epochs=3",
        "+vars.note=x",
        "+data.source=cifar10",
        "+layers[0].conv2d.strides=2",
    ]
    spec = load_spec(WIDTH_SPEC, sets)
    assert spec.train.epochs == 3
    assert spec.data.source == "cifar10"
    assert spec.vars["note"].value == "x"
    # an added value is written on the command line: that is its place
    assert spec.train.locations["epochs"] == Location("--set +train.epochs=3", 1, 15)
    assert spec.data.locations["source"] == Location("--set +data.source=cifar10", 1, 14)
    assert spec.document["train"] == {"epochs": 3}
    assert validate(spec).layers[0].args["strides"] == 2


def test_plus_fills_an_empty_section_and_a_later_set_changes_the_added_key():
    spec = load_spec("train:\ninput: [4]\nlayers: [flatten]\n", ["+train.epochs=3"])
    assert spec.train.epochs == 3
    spec = load_spec(WIDTH_SPEC, ["+train.epochs=3", "train.epochs=5"])
    assert spec.train.epochs == 5


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "+vars.width=2",
            "<string>:3:3: error: --set +vars.width=2: vars already has a key 'width'. Drop the "
            "'+' to change it: --set vars.width=2",
        ),
        (
            "+layers[0].conv2d.kernel_size=5",
            "<string>:15:34: error: --set +layers[0].conv2d.kernel_size=5: layers[0].conv2d "
            "already has a key 'kernel_size'. Drop the '+' to change it: --set "
            "layers[0].conv2d.kernel_size=5",
        ),
        (
            "+vars.sizes[0]=1",
            "error: --set +vars.sizes[0]=1: '+' adds keys to mappings, not items to lists. Write "
            "the item in the spec, or add a key: --set +section.key=value.",
        ),
        (
            "+extra[0].x=1",
            "error: --set +extra[0].x=1: extra is not in the spec, and '+' adds keys to mappings, "
            "not items to lists. Write extra in the spec first.",
        ),
        (
            "+layers[7].x=3",
            "<string>:15:3: error: --set +layers[7].x=3: layers has 4 items, no [7]. Use an index "
            "from 0 to 3.",
        ),
        (
            "+layers.x=3",
            "<string>:15:3: error: --set +layers.x=3: layers is not a mapping. Index it: "
            "layers[0]…",
        ),
        (
            "+train.metrics=[accuracy]",
            "error: --set +train.metrics takes a single value (a number, text, true/false or "
            "null), received a list",
        ),
        (
            "+vars.note=!!python/object x",
            "error: --set +vars.note: YAML tag '!!python/object' is not allowed: a spec holds "
            "only plain data (text, numbers, booleans, null, lists and mappings). Remove the tag, "
            "or quote the value if it is meant as text.",
        ),
    ],
)
def test_bad_plus_overrides(override, message):
    with pytest.raises(SpecError) as caught:
        load_spec(WIDTH_SPEC, [override])
    assert caught.value.format() == message


def test_a_key_added_twice_points_at_the_first_addition():
    with pytest.raises(SpecError) as caught:
        load_spec(WIDTH_SPEC, ["+train.epochs=3", "+train.epochs=5"])
    assert caught.value.format() == (
        "--set +train.epochs=3:1:8: error: --set +train.epochs=5: train already has a key "
        "'epochs'. Drop the '+' to change it: --set train.epochs=5"
    )


def test_added_keys_are_checked_by_validation_at_their_place_on_the_command_line():
    with pytest.raises(SpecErrors) as caught:
        load_spec(WIDTH_SPEC, ["+train.epoch=3", "+data.source=7"])
    assert [error.format() for error in caught.value.errors] == [
        "--set +data.source=7:1:14: error: data.source: expected a dataset name or a path, "
        "received int 7",
        "--set +train.epoch=3:1:8: error: train.epoch: unknown train setting 'epoch'. Did you "
        "mean 'epochs'?",
    ]
    with pytest.raises(SpecErrors) as caught:
        validate(load_spec(WIDTH_SPEC, ["+layers[0].conv2d.strdes=2"]))
    assert [error.format() for error in caught.value.errors] == [
        "--set +layers[0].conv2d.strdes=2:1:19: error: layers[0].conv2d.strdes: unknown "
        "argument 'strdes' for Conv2D. Did you mean 'strides'?",
    ]


def test_expression_errors_in_specs():
    with pytest.raises(SpecErrors) as caught:
        validate(
            load_spec(
                "vars: {width: 1.0}\ninput: [4]\nlayers:\n"
                '  - dense: {units: "${round(8 * widht)}"}\n'
                '  - dense: {units: "${width.real}"}\n'
                '  - dense: {units: "${8 / 0}"}\n'
            )
        )
    assert [error.format() for error in caught.value.errors] == [
        "<string>:4:20: error: layers[0].dense.units: 'widht' in '${round(8 * widht)}' is not a "
        "var. Did you mean 'width'?",
        "<string>:5:20: error: layers[1].dense.units: in '${width.real}': 'width.real' is not "
        "allowed in an expression. Use numbers, text, names, arithmetic, comparisons, 'a if c "
        "else b', indexing (xs[i], xs[a:b]) and the functions round, int, float, str, min, max, "
        "abs, ceil, floor, sqrt, make_divisible, len, sum.",
        "<string>:6:20: error: layers[2].dense.units: in '${8 / 0}': division by zero in '8 / 0'",
    ]


def test_wrong_variable_type_reaches_the_layer_check():
    with pytest.raises(SpecErrors) as caught:
        validate(
            load_spec('vars: {units: many}\ninput: [4]\nlayers:\n  - dense: {units: "${units}"}\n')
        )
    assert [error.format() for error in caught.value.errors] == [
        "<string>:1:15: error: layers[0].dense.units: argument 'units' of Dense expects an "
        "integer, received the text 'many'. Write an integer here."
    ]


def test_cli_set_is_applied_by_validate_and_build(runner, write_spec):
    spec = write_spec(WIDTH_SPEC)
    result = runner.invoke(main, ["validate", str(spec), "--set", "vars.widht=2"])
    assert result.exit_code == 2
    assert result.stderr == (
        f"{spec}:3:3: error: --set vars.widht=2: vars has no key 'widht'. Did you mean 'width'? "
        "To add 'widht', write --set +vars.widht=2\n"
    )
    result = runner.invoke(main, ["validate", str(spec), "--set", "vars.width=2", "--json"])
    assert result.exit_code == 0


def test_cli_set_plus_adds_a_key_for_validate(runner, write_spec):
    spec = write_spec(WIDTH_SPEC)
    result = runner.invoke(main, ["validate", str(spec), "--set", "+train.epochs=3"])
    assert (result.exit_code, result.stdout) == (0, f"✓ {spec}: valid spec 'scalable' (7 layers)\n")
    result = runner.invoke(main, ["validate", str(spec), "--set", "train.epochs=3"])
    assert result.exit_code == 2
    assert result.stderr == (
        f"{spec}:1:1: error: --set train.epochs=3: the spec has no key 'train'. Keys under the "
        "spec: name, vars, input, blocks, layers. To add 'train', write --set +train.epochs=3\n"
    )
    result = runner.invoke(main, ["validate", str(spec), "--set", "+train.epochs=many"])
    assert result.exit_code == 2
    assert result.stderr == (
        "--set +train.epochs=many:1:15: error: train.epochs: expected an integer of at least 1, "
        "received the text 'many'\n"
    )
    result = runner.invoke(main, ["validate", str(spec), "--set", "+train.epoch=3", "--json"])
    assert result.exit_code == 2
    assert json.loads(result.stdout)["errors"] == [
        {
            "file": "--set +train.epoch=3",
            "line": 1,
            "column": 8,
            "path": "train.epoch",
            "message": "unknown train setting 'epoch'",
            "fix": "Did you mean 'epochs'?",
        }
    ]


@pytest.mark.slow
def test_cli_build_with_set_plus_adds_a_layer_argument(runner, write_spec):
    spec = write_spec(WIDTH_SPEC)
    args = ["build", str(spec), "--json", "--set", "+layers[0].conv2d.use_bias=false"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["layers"][0]["params"] == 3 * 3 * 3 * 32


@pytest.mark.slow
def test_cli_build_with_set(runner, write_spec):
    spec = write_spec(WIDTH_SPEC)
    narrow = json.loads(
        runner.invoke(main, ["build", str(spec), "--json", "--set", "vars.width=0.5"]).stdout
    )
    wide = json.loads(runner.invoke(main, ["build", str(spec), "--json"]).stdout)
    assert narrow["layers"][0]["params"] == 3 * 3 * 3 * 16 + 16
    assert wide["layers"][0]["params"] == 3 * 3 * 3 * 32 + 32
