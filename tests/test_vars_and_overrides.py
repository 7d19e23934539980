"""vars:, ${...} expressions in specs, and --set overrides (Python API and CLI)."""

from __future__ import annotations

import pytest

from layerkit import SpecError, SpecErrors, load_spec, validate
from layerkit.cli import main

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
            "Did you mean 'width'?",
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
            "received the text '1e-3'. Write it as 1.0e-3: YAML reads an exponent without a "
            "decimal point as text.",
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
        "else b' and the functions round, int, float, str, min, max, abs, ceil, floor, sqrt, "
        "make_divisible.",
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
        f"{spec}:3:3: error: --set vars.widht=2: vars has no key 'widht'. Did you mean 'width'?\n"
    )
    result = runner.invoke(main, ["validate", str(spec), "--set", "vars.width=2", "--json"])
    assert result.exit_code == 0


@pytest.mark.slow
def test_cli_build_with_set(runner, write_spec):
    import json

    spec = write_spec(WIDTH_SPEC)
    narrow = json.loads(
        runner.invoke(main, ["build", str(spec), "--json", "--set", "vars.width=0.5"]).stdout
    )
    wide = json.loads(runner.invoke(main, ["build", str(spec), "--json"]).stdout)
    assert narrow["layers"][0]["params"] == 3 * 3 * 3 * 16 + 16
    assert wide["layers"][0]["params"] == 3 * 3 * 3 * 32 + 32
