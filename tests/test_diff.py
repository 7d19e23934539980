"""layerkit diff: specs, printed summaries, .keras models, keras:NAME and run directories compared
layer by layer — aligned as sequences or, for graphs, by wiring — with the exit code saying
whether they are identical. Real specs, real Keras models, a real (tiny) training run."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from layerkit.cli import main

from .conftest import CIFAR, EXAMPLES, cifar_subset

ONE_CHANGE = EXAMPLES / "cifar_summary_one_change.txt"
# the README's and docs/cli.md's example, exactly as the command prints it
CIFAR_ONE_CHANGE = """\
A: {spec} (cifar10_cnn: spec, built; 25 layers)
B: {summary} (printed summary; 25 layers)
aligned as sequences; names are shown, not compared
   #  A layer                B layer                 Type                Output shape              Params
      … 6 identical layers …
~  7  conv2d_2               conv2d_21               Conv2D              (16, 16, 64→65)  18,496 → 18,785
~  8  batch_normalization_2  batch_normalization_21  BatchNormalization  (16, 16, 64→65)        256 → 260
~  9  conv2d_3               conv2d_22               Conv2D              (16, 16, 64)     36,928 → 37,504
      … 16 identical layers …
first difference: layer 7 conv2d_2 (Conv2D): shape (16, 16, 64) → (16, 16, 65), params 18,496 → 18,785
                              A          B  difference
Total params          2,494,982  2,495,851        +869
Trainable params      2,491,838  2,492,705        +867
Non-trainable params      3,144      3,146          +2
"""
NOTE_B = "note: B is a printed summary: it has no arguments to compare, only classes, shapes and params\n"

SMALL = """\
name: small
input: [16, 16, 3]
layers:
  - conv2d: {filters: 8, kernel_size: 3, padding: same, activation: relu}
  - batch_normalization
  - max_pooling2d: {pool_size: 2}
  - conv2d: {filters: 16, kernel_size: 3, padding: same, activation: relu}
  - global_average_pooling2d
  - dense: {units: 10, activation: softmax}
"""
# two branches from a stem, added: B puts a layer into the left branch, and its right branch
# takes the left one's output through a wider kernel
BRANCHES_A = """\
name: branches
input: [16, 16, 3]
layers:
  - conv2d: {filters: 8, kernel_size: 3, padding: same, id: stem}
  - conv2d: {filters: 8, kernel_size: 3, padding: same, id: left}
  - conv2d: {filters: 8, kernel_size: 1, id: right, inputs: stem}
  - add: {inputs: [left, right]}
  - global_average_pooling2d
  - dense: {units: 4}
"""
BRANCHES_B = """\
name: branches
input: [16, 16, 3]
layers:
  - conv2d: {filters: 8, kernel_size: 3, padding: same, id: stem}
  - conv2d: {filters: 8, kernel_size: 3, padding: same, id: left}
  - batch_normalization: {id: left_norm}
  - conv2d: {filters: 8, kernel_size: 3, padding: same, id: right, inputs: left}
  - add: {inputs: [left_norm, right]}
  - global_average_pooling2d
  - dense: {units: 4}
"""


def run_cli(runner, *args):
    return runner.invoke(main, [str(arg) for arg in args], catch_exceptions=False)


def diff_json(runner, *args) -> tuple[int, dict]:
    result = run_cli(runner, "diff", *args, "--json")
    return result.exit_code, json.loads(result.stdout)


# -- a spec against printed summaries ------------------------------------------------------------


def test_the_reference_spec_is_identical_to_its_published_summary(runner):
    result = run_cli(runner, "diff", CIFAR, EXAMPLES / "cifar_summary.txt")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "     … 25 identical layers …" in lines
    assert lines[-1] == "✓ identical: 25 layers, 2,494,982 params"
    assert result.stderr == NOTE_B


def test_one_changed_filter_count_shows_the_rows_it_changes(runner, monkeypatch):
    monkeypatch.chdir(CIFAR.parent.parent)  # the paths as the README gives them
    result = run_cli(runner, "diff", "specs/cifar.yaml", "examples/cifar_summary_one_change.txt")
    assert result.exit_code == 1
    expected = CIFAR_ONE_CHANGE.format(spec="specs/cifar.yaml",
                                       summary="examples/cifar_summary_one_change.txt")  # fmt: skip
    assert result.stdout == expected + "✗ 3 layers differ, 0 only in A, 0 only in B; params +869\n"
    assert result.stderr == NOTE_B
    assert max(len(line) for line in result.output.splitlines()) <= 110


def test_totals_that_differ_where_every_row_agrees_are_a_difference(runner, tmp_path):
    """A printout of the network with its first convolution frozen: no row shows it (no
    Trainable column), the totals do."""
    printout = (EXAMPLES / "cifar_summary.txt").read_text(encoding="utf-8")
    frozen = printout.replace("Trainable params: 2,491,838", "Trainable params: 2,490,942")
    frozen = frozen.replace("Non-trainable params: 3,144", "Non-trainable params: 4,040")
    (tmp_path / "frozen.txt").write_text(frozen, encoding="utf-8")
    result = run_cli(runner, "diff", CIFAR, tmp_path / "frozen.txt")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1] == (
        "✗ 0 layers differ, 0 only in A, 0 only in B; params ±0, trainable params -896"
    )


def test_json_has_sides_rows_first_difference_totals_and_identical(runner):
    code, report = diff_json(runner, CIFAR, ONE_CHANGE)
    assert code == 1
    assert set(report) >= {"sides", "rows", "first_difference", "totals", "identical"}
    assert report["identical"] is False and report["aligned_by"] == "sequence"
    assert report["sides"]["a"]["kind"] == "spec" and report["sides"]["b"]["kind"] == "summary"
    assert report["sides"]["b"]["arguments"] is False
    assert report["first_difference"] == (
        "layer 7 conv2d_2 (Conv2D): shape (16, 16, 64) → (16, 16, 65), params 18,496 → 18,785"
    )
    changed = [row for row in report["rows"] if row["status"] == "changed"]
    assert [(row["a"]["name"], row["b"]["name"]) for row in changed] == [
        ("conv2d_2", "conv2d_21"), ("batch_normalization_2", "batch_normalization_21"),
        ("conv2d_3", "conv2d_22"),
    ]  # fmt: skip
    assert changed[2]["changes"] == [{"what": "params", "a": 36928, "b": 37504}]
    assert report["counts"] == {"same": 22, "changed": 3, "only_a": 0, "only_b": 0}
    assert report["totals"]["difference"] == {
        "total_params": 869, "trainable_params": 867, "non_trainable_params": 2,
    }  # fmt: skip


# -- two specs -------------------------------------------------------------------------------------


def test_a_changed_argument_is_named(runner, write_spec):
    a = write_spec(SMALL, "a.yaml")
    b = write_spec(
        SMALL.replace("filters: 16, kernel_size: 3", "filters: 16, kernel_size: 5"), "b.yaml"
    )
    result = run_cli(runner, "diff", a, b)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[-1] == "✗ 1 layer differs, 0 only in A, 0 only in B; params +2,048"
    assert (
        "first difference: layer 4 conv2d_1 (Conv2D): kernel_size (3, 3) → (5, 5), params 1,168 → 3,216"
        in lines
    )
    assert result.stderr == ""  # both sides have their arguments


def test_set_applies_to_both_specs(runner, write_spec):
    with_classes = SMALL.replace("units: 10", "units: '${classes}'")
    a = write_spec(
        with_classes.replace("name: small", "name: small\nvars: {classes: 10}"), "a.yaml"
    )
    b = write_spec(with_classes.replace("name: small", "name: small\nvars: {classes: 5}"), "b.yaml")
    assert run_cli(runner, "diff", a, b).exit_code == 1
    result = run_cli(runner, "diff", a, b, "--set", "vars.classes=7")
    assert result.exit_code == 0, result.output


def test_an_inserted_layer_is_only_in_b_and_the_rest_stays_aligned(runner, write_spec):
    a = write_spec(SMALL, "a.yaml")
    inserted = SMALL.replace("  - max_pooling2d", "  - dropout: {rate: 0.1}\n  - max_pooling2d")
    b = write_spec(inserted, "b.yaml")
    code, report = diff_json(runner, a, b)
    assert code == 1
    statuses = [row["status"] for row in report["rows"]]
    assert statuses == ["same", "same", "only_b", "same", "same", "same", "same"]
    assert report["rows"][2]["b"]["type"] == "Dropout"
    assert report["first_difference"] == "layer 3 of B, dropout (Dropout), is only in B"
    result = run_cli(runner, "diff", a, b, "--plain")
    assert (
        result.stdout.splitlines()[-1] == "✗ 0 layers differ, 0 only in A, 1 only in B; params ±0"
    )


def test_a_graph_is_aligned_by_wiring(runner, write_spec):
    """The layer B inserts is only in B and shifts nothing: the add after it is the same, fed
    through it by the same layers; the right branch, fed by another layer, says so."""
    a, b = write_spec(BRANCHES_A, "a.yaml"), write_spec(BRANCHES_B, "b.yaml")
    code, report = diff_json(runner, a, b)
    assert code == 1
    assert report["aligned_by"] == "wiring"
    rows = [(row["status"], row["a"] and row["a"]["name"], row["b"] and row["b"]["name"])
            for row in report["rows"]]  # fmt: skip
    assert rows == [
        ("same", "conv2d", "conv2d"),
        ("same", "conv2d_1", "conv2d_1"),
        ("only_b", None, "batch_normalization"),
        ("changed", "conv2d_2", "conv2d_2"),
        ("same", "add", "add"),
        ("same", "global_average_pooling2d", "global_average_pooling2d"),
        ("same", "dense", "dense"),
    ]
    assert report["rows"][3]["changes"] == [
        {"what": "kernel_size", "a": [1, 1], "b": [3, 3]},
        {"what": "padding", "a": "valid", "b": "same"},
        {"what": "params", "a": 72, "b": 584},
        {"what": "inputs", "a": "conv2d", "b": "conv2d_1"},
    ]
    result = run_cli(runner, "diff", a, b, "--plain")
    assert (
        result.stdout.splitlines()[-1] == "✗ 1 layer differs, 0 only in A, 1 only in B; params +544"
    )
    assert (
        "first difference: layer 3 of B, batch_normalization (BatchNormalization), is only in B"
        in result.stdout
    )


# -- models, keras:NAME, runs ----------------------------------------------------------------------


@pytest.mark.slow
def test_a_keras_model_is_identical_to_the_spec_imported_from_it(runner, tmp_path):
    import keras

    layers = keras.layers
    inputs = keras.Input((16, 16, 3))
    stem = layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(inputs)
    left = layers.BatchNormalization(name="left_norm")(layers.Conv2D(8, 3, padding="same")(stem))
    right = layers.Conv2D(8, 1, name="right")(stem)
    joined = layers.GlobalAveragePooling2D()(layers.Add(name="join")([left, right]))
    model = keras.Model(inputs, layers.Dense(4, activation="softmax")(joined), name="tiny")
    model.save(tmp_path / "tiny.keras")
    assert (
        run_cli(runner, "import", tmp_path / "tiny.keras", "-o", tmp_path / "tiny.yaml").exit_code
        == 0
    )
    result = run_cli(runner, "diff", tmp_path / "tiny.keras", tmp_path / "tiny.yaml")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "✓ identical: 7 layers, 948 params"
    assert (
        result.stdout.splitlines()[0]
        == f"A: {tmp_path / 'tiny.keras'} (tiny: saved model; 7 layers)"
    )
    model.get_layer("stem").trainable = False  # the same network, its first layer frozen
    model.save(tmp_path / "frozen.keras")
    result = run_cli(runner, "diff", tmp_path / "frozen.keras", tmp_path / "tiny.yaml")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert "first difference: layer 1 stem (Conv2D): trainable params 0 → 224" in lines
    assert lines[-1] == "✗ 1 layer differs, 0 only in A, 0 only in B; params ±0"


def test_an_unknown_keras_application_is_one_error_line(runner):
    result = run_cli(runner, "diff", "keras:ResNet5O", CIFAR)
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: keras.applications has no model 'ResNet5O'. Did you mean"
    )
    assert len(result.stderr.splitlines()) == 1


RUN_SPEC = """\
name: tiny_run
input: [32, 32, 3]
layers:
  - conv2d: {filters: 4, kernel_size: 3, activation: relu}
  - global_average_pooling2d
  - dense: {units: 10, activation: softmax}
train:
  batch_size: 50
  epochs: 1
  validation_split: 20
"""


@pytest.mark.slow
def test_a_run_directory_is_compared_by_its_spec_or_its_best_model(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERKIT_CACHE", str(tmp_path / "cache"))
    archive = cifar_subset(tmp_path / "c100.tar", 10)
    (tmp_path / "tiny.yaml").write_text(RUN_SPEC)
    run = tmp_path / "runs" / "tiny_run" / "first"
    trained = run_cli(runner, "train", tmp_path / "tiny.yaml", "--data", archive, "--out", run)
    assert trained.exit_code == 0, trained.output
    result = run_cli(runner, "diff", run, tmp_path / "tiny.yaml")
    assert result.exit_code == 0, result.output
    assert "(tiny_run: run's spec.yaml, built; 3 layers)" in result.stdout.splitlines()[0]
    monkeypatch.chdir(tmp_path)
    result = run_cli(runner, "diff", "latest", "tiny.yaml")  # the newest run under ./runs
    assert result.exit_code == 0, result.output
    assert result.stderr == f"latest → {Path('runs', 'tiny_run', 'first')}\n"
    assert result.stdout.startswith(f"A: {Path('runs', 'tiny_run', 'first')} (tiny_run: ")
    shutil.copytree(run, tmp_path / "bare")
    (tmp_path / "bare" / "spec.yaml").unlink()
    wider = RUN_SPEC.replace("filters: 4", "filters: 5")
    (tmp_path / "wider.yaml").write_text(wider)
    code, report = diff_json(runner, tmp_path / "bare", tmp_path / "wider.yaml")
    assert code == 1
    assert report["sides"]["a"]["read_as"] == "run's best model"
    assert [row["status"] for row in report["rows"]] == ["changed", "changed", "changed"]
    assert report["rows"][0]["changes"][0] == {"what": "filters", "a": 4, "b": 5}


# -- bad sides -----------------------------------------------------------------------------------


def test_a_missing_side_is_named_with_what_is_accepted(runner, tmp_path):
    result = run_cli(runner, "diff", CIFAR, tmp_path / "nope.txt")
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: '{tmp_path / 'nope.txt'}' does not exist; give a spec (.yaml), a printed "
        "model.summary() (.txt), a .keras model, keras:NAME (e.g. keras:ResNet50) or a run "
        "directory\n"
    )


def test_a_folder_that_is_not_a_run_is_refused(runner, tmp_path):
    result = run_cli(runner, "diff", tmp_path, ONE_CHANGE)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: '{tmp_path}' is a directory but not a layerkit run")


def test_a_file_that_is_not_a_summary_is_refused_at_its_line(runner, tmp_path):
    (tmp_path / "notes.txt").write_text("just some notes\n")
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00garbage")
    result = run_cli(runner, "diff", tmp_path / "notes.txt", ONE_CHANGE)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{tmp_path / 'notes.txt'}:1:1: error: no header line")
    result = run_cli(runner, "diff", ONE_CHANGE, tmp_path / "binary.txt", "--json")
    assert result.exit_code == 2
    assert "is not UTF-8 text" in json.loads(result.stdout)["errors"][0]["message"]


def test_a_missing_plugin_is_one_error_line(runner):
    result = run_cli(runner, "diff", CIFAR, ONE_CHANGE, "--plugin", "my_layerz")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: plugin module 'my_layerz' not found")


# -- the terminal table ----------------------------------------------------------------------------


def test_a_narrow_terminal_wraps_the_table_and_keeps_every_column():
    from rich.console import Console

    from layerkit.console.diffing import print_rich
    from layerkit.diff import diff

    result = diff(str(CIFAR), str(ONE_CHANGE))
    buffer = io.StringIO()
    console = Console(file=buffer, width=60, force_terminal=True, color_system=None)
    print_rich(result, False, console)
    text = buffer.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 60
    header = next(line for line in text.splitlines() if "A layer" in line)
    for title in ("#", "A layer", "B layer", "Type", "Params"):
        assert title in header
    assert "shape" in text and "18,785" in text
