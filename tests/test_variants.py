"""variants: (issue 16, item 4) and ${} in input shapes and expect: values (item 3, read when the
spec is loaded): real small specs built by Keras with exact parameter counts, through load_spec
and through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from layerkit import SpecError, SpecErrors, build, load_spec, summarize
from layerkit.cli import main
from layerkit.runs.spec_yaml import dump_spec, resolved_document

from .conftest import cifar_subset

# A width ladder: conv2d 3x3 over 3 channels has 28 * width parameters, the dense head
# (width + 1) * 10; the input's size follows a var.
LADDER = """\
name: ladder
vars: {width: 8, size: 8}
input: ["${size}", "${size}", 3]
layers:
  - conv2d: {filters: "${width}", kernel_size: 3, padding: same}
  - global_average_pooling2d
  - dense: {units: 10}
expect:
  total_params: "${28 * width + (width + 1) * 10}"
variants:
  small: {description: half width, vars: {width: 4}, expect: {total_params: 162}}
  base: {vars: {width: 8}, expect: {total_params: 314}}
  wide:
    vars: {width: 16, size: 16}
    expect:
      total_params: 618
      rows: [{shape: [16, 16, 16], params: 448}, {shape: [16]}, {params: 170}]
"""
COUNTS = {"small": 162, "base": 314, "wide": 618}


@pytest.fixture
def ladder(write_spec) -> Path:
    return write_spec(LADDER, "ladder.yaml")


def invoke(runner, *args):
    return runner.invoke(main, [str(arg) for arg in args], catch_exceptions=False)


def errors_of(path_or_text, overrides=(), variant=None) -> list[str]:
    with pytest.raises((SpecError, SpecErrors)) as caught:
        load_spec(path_or_text, overrides, variant)
    error = caught.value
    return [e.format() for e in error.errors] if isinstance(error, SpecErrors) else [error.format()]


# -- load_spec ---------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", COUNTS)
def test_each_variant_builds_with_its_own_exact_counts(ladder, variant):
    spec = load_spec(ladder, variant=variant)
    model = build(spec)
    summary = summarize(model, spec)
    assert (model.count_params(), summary.ok) == (COUNTS[variant], True)
    assert (spec.name, model.name, spec.variant) == (f"ladder_{variant}",) * 2 + (variant,)
    size = 16 if variant == "wide" else 8
    assert spec.input.shape == (size, size, 3)


def test_without_a_variant_the_top_level_values_and_expect_apply(ladder):
    spec = load_spec(ladder)
    assert (spec.name, spec.variant, spec.input.shape) == ("ladder", None, (8, 8, 3))
    assert spec.expect.total_params == 314  # the ${} of expect:, over the vars
    assert summarize(build(spec), spec).ok
    assert {name: (v.description, v.expect.total_params) for name, v in spec.variants.items()} == {
        "small": ("half width", 162),
        "base": (None, 314),
        "wide": (None, 618),
    }
    assert [row.shape for row in spec.variants["wide"].expect.rows] == [(16, 16, 16), (16,), None]


def test_a_variant_without_expect_keeps_the_spec_s_which_follows_its_vars(write_spec):
    path = write_spec(LADDER.replace(", expect: {total_params: 162}", ""))
    spec = load_spec(path, variant="small")
    assert spec.variants["small"].expect is None
    assert spec.expect.total_params == 162  # 28 * 4 + 5 * 10, from the spec's own expect:
    assert summarize(build(spec), spec).ok


def test_set_of_a_var_wins_over_the_variant(ladder):
    spec = load_spec(ladder, ["vars.width=2"], "wide")
    assert spec.vars["width"].value == 2 and spec.input.shape == (16, 16, 3)
    summary = summarize(build(spec), spec)
    assert summary.total("total_params").actual == 2 * 28 + 3 * 10
    assert "total params 86, expected 618" in summary.problems
    # --set of expect: applies after the variant's too
    spec = load_spec(ladder, ["vars.width=2", "expect.total_params=86", "name=tiny"], "small")
    assert (spec.expect.total_params, spec.name) == (86, "tiny_small")
    assert summarize(build(spec), spec).ok


def test_set_of_a_variant_changes_it_before_it_is_chosen(ladder):
    overrides = ["variants.small.vars.width=5", "variants.small.expect.total_params=200"]
    spec = load_spec(ladder, overrides, "small")
    assert spec.vars["width"].value == 5
    assert summarize(build(spec), spec).total("total_params").actual == 200
    assert summarize(build(spec), spec).ok


def test_a_variant_may_set_a_var_of_an_included_file(write_spec):
    write_spec("vars: {classes: 10}\n", "common.yaml")
    path = write_spec(
        """
        include: common.yaml
        vars: {width: 8}
        input: [4]
        layers:
          - dense: {units: "${width}"}
          - dense: {units: "${classes}"}
        variants:
          five: {vars: {classes: 5, width: 2}, expect: {total_params: 25}}
        """
    )
    spec = load_spec(path, variant="five")
    assert {name: node.value for name, node in spec.vars.items()} == {"classes": 5, "width": 2}
    assert build(spec).count_params() == (4 + 1) * 2 + (2 + 1) * 5 == spec.expect.total_params
    # the run's spec.yaml holds the variant's values, its own vars, and no include
    document = resolved_document(spec)
    assert document["vars"] == {"classes": 5, "width": 2} and "include" not in document


def test_a_variant_run_s_spec_yaml_rebuilds_the_variant_exactly(ladder, tmp_path):
    spec = load_spec(ladder, ["vars.size=12"], "wide")
    document = resolved_document(spec)
    assert "variants" not in document and document["name"] == "ladder_wide"
    assert document["vars"] == {"width": 16, "size": 12}
    saved = tmp_path / "spec.yaml"
    saved.write_text(dump_spec(document, "# trained", str(saved)), encoding="utf-8")
    again = load_spec(saved)
    assert (again.name, again.variant, again.variants) == ("ladder_wide", None, {})
    assert again.expect.total_params == spec.expect.total_params == 618
    assert [(r.shape, r.params) for r in again.expect.rows] == [
        (r.shape, r.params) for r in spec.expect.rows
    ]
    assert again.input.shape == (12, 12, 3)
    first, second = build(spec), build(again)
    assert first.name == second.name == "ladder_wide"
    assert [w.shape for w in first.weights] == [w.shape for w in second.weights]


def test_an_unknown_variant_is_said_with_the_closest_name_and_the_list(ladder):
    assert errors_of(ladder, variant="wdie") == [
        f"{ladder}:10:1: error: --variant wdie: the spec has no variant 'wdie'. Did you mean "
        "'wide'? Its variants: small, base, wide."
    ]
    assert errors_of(ladder, variant="huge") == [
        f"{ladder}:10:1: error: --variant huge: the spec has no variant 'huge'. Its variants: "
        "small, base, wide."
    ]
    assert errors_of("input: [3]\nlayers: [flatten]\n", variant="b1") == [
        "<string>:1:1: error: --variant b1: the spec has no variants. Declare them under "
        "'variants:' (see docs/spec.md, \"Variants\"), or leave out --variant."
    ]


def test_a_variant_may_set_only_declared_vars(ladder):
    text = ladder.read_text().replace("vars: {width: 4}", "vars: {widht: 4, classes: 2}")
    expected = [
        "<string>:11:43: error: variants.small.vars.widht: 'widht' is not a var of this spec; a "
        "variant sets the values of declared vars. Did you mean 'width'?",
        "<string>:11:53: error: variants.small.vars.classes: 'classes' is not a var of this spec; a "
        "variant sets the values of declared vars. Declare it under 'vars:' first (the spec's "
        "vars: width, size).",
    ]
    assert errors_of(text) == expected  # said without --variant too
    assert errors_of(text, variant="small") == expected


def test_malformed_variants_are_each_said(write_spec):
    text = """\
vars: {width: 8}
input: [4]
layers: [flatten]
variants:
  2x: {vars: {width: 16}}
  b1: {vars: [16], expect: {total: 3}, notes: x}
  b2: 7
"""
    assert errors_of(text) == [
        "<string>:5:3: error: variants.2x: '2x' is not a variant name: use letters, digits and "
        "'_', not starting with a digit. Rename it, e.g. 'b1' or 'small' (the name is used by "
        "--variant and --set variants.NAME…, and joins the spec's name).",
        "<string>:6:14: error: variants.b1.vars: expected a mapping of var names to values, "
        "received a list. Write e.g. 'vars: {width: 0.5}'.",
        "<string>:6:29: error: variants.b1.expect.total: unknown expect field 'total'. Use one "
        "of: total_params, trainable_params, non_trainable_params, rows.",
        "<string>:6:40: error: variants.b1.notes: unknown variant field 'notes'. Use one of: "
        "description, vars, expect.",
        "<string>:7:7: error: variants.b2: expected a mapping with 'vars:' and 'expect:', "
        "received int 7. Write e.g. '{vars: {width: 0.5}, expect: {total_params: 1234}}'.",
    ]
    assert errors_of("input: [4]\nlayers: [flatten]\nvariants: []\n") == [
        "<string>:3:11: error: variants: expected a mapping of variant names to their vars and "
        "expect:, received a list. Write e.g. 'variants: {small: {vars: {width: 0.5}, expect: "
        "{total_params: 1234}}}'."
    ]


# -- ${} in input shapes and expect: ----------------------------------------------------------


def test_input_shapes_from_expressions_per_item_or_whole(write_spec):
    spec = load_spec(
        """
vars: {size: 12, shape: [5, 7]}
inputs:
  image: ["${size}", "${size // 2}", null]
  meta: {shape: "${shape + [2]}", dtype: int32}
layers:
  - global_average_pooling2d: {inputs: image}
"""
    )
    assert [i.shape for i in spec.inputs] == [(12, 6, None), (5, 7, 2)]


def test_wrong_values_from_expressions_are_said_at_the_expression(write_spec):
    text = """\
vars: {size: 16, bad: "${nope}"}
input: ["${size - 16}", "${bad}", "${size / 2}"]
layers: [flatten]
expect:
  total_params: "${-1}"
  rows: [{shape: "${[size, bad]}", params: "${size * 1.5}", name: "d${size}"}]
"""
    assert errors_of(text) == [
        "<string>:1:23: error: vars.bad: 'nope' in '${nope}' is not a var. Known names: size.",
        "<string>:2:9: error: input[0]: '${size - 16}' gives int 0; expected a positive integer "
        "(a size; null for a free one). Change the expression, or the value of 'size'.",
        "<string>:5:17: error: expect.total_params: '${-1}' gives int -1; expected a "
        "non-negative integer. Change the expression.",
        "<string>:6:44: error: expect.rows[0].params: '${size * 1.5}' gives float 24.0; "
        "expected a non-negative integer. Make it a whole number: divide with // or wrap it in "
        "int(...).",
    ]  # 'bad' is said once, where it is written, not at each use
    assert errors_of('vars: {s: [2, 0]}\ninput: "${s}"\nlayers: [flatten]\n') == [
        "<string>:2:8: error: input[1]: '${s}' gives int 0 as a size; expected a positive "
        "integer (a size; null for a free one). Change the expression, or the value of 's'."
    ]


def test_expect_from_expressions_checks_the_built_model(write_spec):
    text = LADDER.replace("(width + 1) * 10}", "(width + 1) * 10 + 1}")
    spec = load_spec(text)
    assert summarize(build(spec), spec).problems == ("total params 314, expected 315",)
    rows = load_spec(
        """
vars: {units: 6}
input: [4]
layers:
  - dense: {units: "${units}"}
expect:
  rows: [{shape: ["${units}"], params: "${5 * units}", name: "hidden_${units}"}]
"""
    )
    assert rows.expect.rows[0].name == "hidden_6"
    assert summarize(build(rows), rows).ok


# -- the command line --------------------------------------------------------------------------


def test_build_one_variant(runner, ladder):
    result = invoke(runner, "build", ladder, "--variant", "small", "--plain")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"Model: ladder_small ({ladder})"
    assert lines[-1] == "✓ ladder_small: its 1 expectation matches (1 total)"
    assert invoke(runner, "validate", ladder, "--variant", "wide").stdout == (
        f"✓ {ladder}: valid spec 'ladder_wide' (3 layers)\n"
    )


def test_all_variants_plain_and_json(runner, ladder):
    result = invoke(runner, "build", ladder, "--all-variants")
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == (
        f"Variants of ladder ({ladder})\n"
        "Variant  Description  Total params  Expected  Check\n"
        "---------------------------------------------------\n"
        "small    half width            162       162  ✓\n"
        "base                           314       314  ✓\n"
        "wide                           618       618  ✓\n"
        "\n"
        "✓ all 3 variants match their expectations\n"
    )
    document = json.loads(invoke(runner, "build", ladder, "--all-variants", "--json").stdout)
    assert (document["ok"], document["name"]) == (True, "ladder")
    data = document["variants"]
    assert [(d["variant"], d["name"], d["total_params"], d["ok"]) for d in data] == [
        ("small", "ladder_small", 162, True),
        ("base", "ladder_base", 314, True),
        ("wide", "ladder_wide", 618, True),
    ]
    assert data[0]["description"] == "half width" and data[2]["layers"][0]["params"] == 448


def test_all_variants_exits_1_naming_the_variant_that_differs(runner, write_spec):
    path = write_spec(LADDER.replace("total_params: 314", "total_params: 300"))
    result = invoke(runner, "build", path, "--all-variants", "--set", "vars.size=4")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-6:] == [  # --set vars.size=4 wins over wide's 16
        "base                           314       300  ✗",
        "wide                           618       618  ✗",
        "",
        "✗ base: total params 314, expected 300",
        "✗ wide: row 1 conv2d: output shape (None, 4, 4, 16), expected (None, 16, 16, 16)",
        "✗ 2 of 3 variants do not match",
    ]
    document = json.loads(invoke(runner, "build", path, "--all-variants", "--json").stdout)
    data = document["variants"]
    assert document["ok"] is False and [d["ok"] for d in data] == [True, False, True]
    assert data[1]["problems"] == ["total params 314, expected 300"]


def test_all_variants_table_on_a_terminal(ladder):
    from rich.console import Console

    from layerkit.console.variant_table import render_table
    from layerkit.model.render import theme
    from layerkit.model.variant_builds import build_variants

    spec, results = build_variants(ladder, ["variants.base.expect.total_params=1"])
    console = Console(theme=theme(), force_terminal=True, width=120, color_system=None)
    with console.capture() as captured:
        console.print(render_table(results, spec.name, spec.file))
    lines = [line.rstrip() for line in captured.get().splitlines()]
    assert lines[0] == f"Variants of ladder ({ladder})"
    assert [line.split() for line in lines[1:6]] == [
        [],
        ["Variant", "Description", "Total", "params", "Expected"],
        ["─" * len(lines[3].strip())],
        ["small", "half", "width", "162", "162", "✓"],
        ["base", "314", "1", "✗"],
    ]
    assert lines[-2:] == [
        "✗ base: total params 314, expected 1",
        "✗ 1 of 3 variants does not match",
    ]


def test_all_variants_refusals(runner, ladder, write_spec):
    result = invoke(runner, "build", ladder, "--all-variants", "--variant", "small")
    assert (result.exit_code, result.stderr) == (
        2,
        "error: --all-variants builds every variant, so it takes no --variant; build one "
        "variant with --variant NAME instead\n",
    )
    plain = write_spec("input: [3]\nlayers: [flatten]\n", "plain.yaml")
    result = invoke(runner, "build", plain, "--all-variants")
    assert (result.exit_code, result.stderr) == (
        2,
        f"{plain}:1:1: error: --all-variants: the spec has no variants. Declare them under "
        "'variants:' (see docs/spec.md, \"Variants\"), or leave out --all-variants.\n",
    )
    result = invoke(runner, "build", ladder, "--variant", "wdie")
    assert (result.exit_code, result.stdout) == (2, "")
    assert "--variant wdie: the spec has no variant 'wdie'. Did you mean 'wide'?" in result.stderr


def test_each_problem_of_an_invalid_variant_names_it(runner, write_spec):
    path = write_spec(LADDER.replace("vars: {width: 16, size: 16}", "vars: {width: 1.5, size: 16}"))
    result = invoke(runner, "build", path, "--all-variants")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"{path}:14:19: error: layers[0].conv2d.filters: in variant 'wide': argument 'filters' "
        "of Conv2D expects an integer, received float 1.5. Write a whole number.\n"
    )
    # a value only Keras refuses is said when the variant is built, naming it too
    path = write_spec(LADDER.replace("vars: {width: 16, size: 16}", "vars: {width: 0, size: 16}"))
    result = invoke(runner, "build", path, "--all-variants")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.startswith(
        f"{path}:14:19: error: layers[0].conv2d.filters: in variant 'wide': Keras"
    )


def test_graph_and_train_take_the_variant(runner, ladder, tmp_path):
    out = tmp_path / "wide.svg"
    result = invoke(runner, "graph", ladder, "--variant", "wide", "-o", out)
    assert result.exit_code == 0 and "ladder_wide" in out.read_text()
    run = tmp_path / "run"
    run.mkdir()
    result = invoke(runner, "train", "--resume", run, "--variant", "wide")
    assert result.exit_code == 2
    assert result.stderr.endswith("only --epochs may change (received --variant)\n")


# -- a trained variant: resume and evaluate keep it ------------------------------------------

TRAINED = """\
name: tiny
vars: {width: 4}
input: [32, 32, 3]
layers:
  - conv2d: {filters: "${width}", kernel_size: 3, strides: 2}
  - global_average_pooling2d
  - dense: {units: 10, activation: softmax}
variants:
  narrow: {vars: {width: 2}, expect: {total_params: 86}}
  wide: {vars: {width: 8}, expect: {total_params: 314}}
train: {batch_size: 64, epochs: 1, validation_split: 100, seed: 1}
"""


@pytest.mark.slow
def test_a_variant_run_resumes_and_evaluates_as_that_variant(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LAYERKIT_CACHE", str(tmp_path / "cache"))
    cifar_subset(tmp_path / "images.tar.gz", 20)
    Path("tiny.yaml").write_text(TRAINED, encoding="utf-8")
    for variant in ("wide", "narrow"):  # two variants never share a run folder
        result = invoke(runner, "train", "tiny.yaml", "--variant", variant, "--data",
                        "images.tar.gz")  # fmt: skip
        assert result.exit_code == 0, result.output
    wide, narrow = (next(Path("runs", f"tiny_{v}").iterdir()) for v in ("wide", "narrow"))
    text = (wide / "spec.yaml").read_text(encoding="utf-8")
    assert text.splitlines()[0] == "# trained from tiny.yaml --variant wide"
    saved = yaml.safe_load(text)
    assert (saved["name"], saved["vars"], "variants" in saved) == ("tiny_wide", {"width": 8}, False)
    result = invoke(runner, "train", "--resume", wide, "--epochs", "2")
    assert result.exit_code == 0, result.output
    assert ", epoch 2" in result.stderr  # the start line: resumed for its one epoch
    import keras

    for run, count in ((wide, 314), (narrow, 86)):
        model = keras.saving.load_model(run / "model_last.keras")
        assert (model.name, model.count_params()) == (f"tiny_{run.parent.name[5:]}", count)
        evaluated = invoke(runner, "evaluate", run, "--json")
        assert evaluated.exit_code == 0, evaluated.output
        assert json.loads(evaluated.stdout)["n"] == 100
