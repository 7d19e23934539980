"""layerkit import's honest output: the spec is built before it is written, and not written (exit 1,
one line saying why and how to go on) when it would not build, unless --partial; the closing line
counts the rows inferred, assumed and left to fill in; --json says the same for scripts."""

from __future__ import annotations

import json
import re

import keras
import pytest

from layerkit.cli import main
from layerkit.importer import ImportReport
from layerkit.importer.build_check import check_buildable

from .conftest import DATA, EXAMPLES

pytestmark = pytest.mark.slow  # every import now builds its spec with Keras
REFERENCE = DATA / "cifar_keras2_summary.txt"
PLACEHOLDERS = (
    "placeholders to check (not in the summary): conv2d_19 (kernel_size (square assumed), "
    "activation); conv2d_20 (kernel_size (square assumed), activation); dropout_11 (rate); "
    "conv2d_21 (kernel_size (square assumed), activation); conv2d_22 (kernel_size (square "
    "assumed), activation); dropout_12 (rate); conv2d_23 (kernel_size (square assumed), "
    "activation); conv2d_24 (kernel_size (square assumed), activation); dropout_13 (rate); "
    "dense_6 (activation); dropout_14 (rate); dense_7 (activation); dense_8 (activation)\n"
)
NOTES = [
    "the summary has no input row: the input shape [32, 32, 3] was worked out from the first "
    "layer; check it, or give --input",
    "dense_8: the last layer has no activation in the summary: layerkit train will treat its "
    "outputs as logits; add activation: softmax if the model had one",
]


def warped(tmp_path):
    """The reference printout with its Flatten row turned into a type layerkit does not know."""
    text = REFERENCE.read_text().replace("flatten_4 (Flatten)    ", "warp_4 (WarpDrive)     ")
    printed = tmp_path / "odd.txt"
    printed.write_text(text, encoding="utf-8")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row.startswith("warp_4"))
    entry = f"warp_4 (WarpDrive) at line {line}: layerkit does not know the type 'WarpDrive'"
    return printed, entry


def test_a_spec_that_builds_is_written_and_the_closing_line_counts_its_rows(runner, tmp_path):
    target = tmp_path / "cifar.yaml"
    result = runner.invoke(main, ["import", str(REFERENCE), "-o", str(target)])
    assert result.exit_code == 0
    assert result.stderr == (  # what was written and what to check: messages
        f"wrote {target}: 25 layers; check it with: layerkit build {target}\n"
        + PLACEHOLDERS
        + "".join(f"check: {note}\n" for note in NOTES)
    )
    assert result.stdout == (  # the result
        "25 rows: 12 inferred, 13 assumed (not in the summary), 0 to fill in; it builds, every "
        "row and total as expected ✓\n"
    )
    assert target.read_text().startswith("# Imported by `layerkit import` from ")


def test_with_json_the_counts_path_and_notes_are_one_object(runner, tmp_path):
    target = tmp_path / "cifar.yaml"
    result = runner.invoke(main, ["import", str(REFERENCE), "-o", str(target), "--json"])
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report == {
        "ok": True, "output": str(target), "written": True, "built": True, "problem": None,
        "layers": 25, "rows": {"inferred": 12, "assumed": 13, "to_fill_in": 0},
        "placeholders": PLACEHOLDERS.removeprefix(
            "placeholders to check (not in the summary): ").removesuffix("\n").split("; "),
        "notes": NOTES, "not_imported": [],
    }  # fmt: skip
    assert target.is_file()


def test_a_row_not_imported_stops_the_write_with_one_line(runner, tmp_path):
    printed, entry = warped(tmp_path)
    target = tmp_path / "odd.yaml"
    result = runner.invoke(main, ["import", str(printed), "-o", str(target)])
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"error: {target} not written: the imported spec would not build: 1 row could not be "
        f"imported: {entry}. Rerun with --partial to write it anyway, with that row marked NOT "
        "IMPORTED for you to fill in\n"
    )
    assert list(tmp_path.iterdir()) == [printed]  # no spec, no temporary left behind


def test_a_failed_import_never_touches_an_existing_spec_even_with_force(runner, tmp_path):
    printed, _ = warped(tmp_path)
    target = tmp_path / "mine.yaml"
    target.write_text("precious", encoding="utf-8")
    result = runner.invoke(main, ["import", str(printed), "-o", str(target), "--force"])
    assert result.exit_code == 1
    assert target.read_text() == "precious"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mine.yaml", "odd.txt"]
    replaced = runner.invoke(main, ["import", str(REFERENCE), "-o", str(target), "--force"])
    assert replaced.exit_code == 0 and "total_params: 2494982" in target.read_text()


def test_partial_writes_the_marked_spec_and_says_so(runner, tmp_path):
    printed, entry = warped(tmp_path)
    target = tmp_path / "odd.yaml"
    result = runner.invoke(main, ["import", str(printed), "-o", str(target), "--partial"])
    assert result.exit_code == 0
    assert result.stderr.startswith(f"wrote {target}: ")
    assert result.stderr.endswith(f"\nnot imported (marked in the spec): {entry}\n")
    assert result.stdout.splitlines()[-1] == (
        "25 rows: 11 inferred, 13 assumed (not in the summary), 1 to fill in; written with "
        "--partial: it does not build yet"
    )
    assert "  - not_imported_WarpDrive  # NOT IMPORTED: " in target.read_text()
    as_json = runner.invoke(main, ["import", str(printed), "-o", str(target), "--json",
                                   "--partial", "--force"])  # fmt: skip
    report = json.loads(as_json.stdout)
    assert (as_json.exit_code, report["ok"], report["written"], report["rows"]) == (
        0, False, True, {"inferred": 11, "assumed": 13, "to_fill_in": 1}
    )  # fmt: skip
    refused = runner.invoke(main, ["import", str(printed), "-o", str(tmp_path / "n.yaml"),
                                   "--json"])  # fmt: skip
    report = json.loads(refused.stdout)
    assert (refused.exit_code, report["written"], report["problem"]) == (
        1, False, f"1 row could not be imported: {entry}"
    )  # fmt: skip
    assert not (tmp_path / "n.yaml").exists()


def _report(text: str) -> ImportReport:
    return ImportReport(text, 2, [], [], [])


GOOD = """\
version: 1
name: tiny
input: [8]
layers:
  - dense: {units: 4}
  - dense: {units: 2}
expect:
  total_params: 46
"""


def test_the_check_judges_validity_keras_and_the_expectations():
    good = check_buildable(_report(GOOD))
    assert (good.problem, good.built) == (None, True)
    invalid = check_buildable(_report(GOOD.replace("units: 4", "units: 4, id: café")))
    assert (invalid.problem, invalid.built) == (
        "it is not a valid spec: line 5 of the spec, layers[0].dense.id: 'café' is not a valid "
        "name: use letters, digits and '_', not starting with a digit", False,
    )  # fmt: skip
    two = check_buildable(_report(GOOD.replace("units", "unit")))
    assert two.problem.startswith(
        "it is not a valid spec: line 5 of the spec, layers[0].dense.unit: unknown argument "
    ) and two.problem.endswith(" (and 1 more problem)")
    keras_says = check_buildable(_report(GOOD.replace("[8]", "[4, 4, 3]").replace(
        "dense: {units: 4}", "conv2d: {filters: 4, kernel_size: 9}")))  # fmt: skip
    assert keras_says.problem.startswith(
        "Keras cannot build it: line 5 of the spec, layers[0].conv2d: Conv2D cannot take its input of shape "
    )
    mismatch = check_buildable(_report(GOOD.replace("46", "47")))
    assert (mismatch.problem, mismatch.built) == (
        "it builds, but not as imported: total params 46, expected 47", True
    )  # fmt: skip


def test_a_spec_that_would_not_build_for_another_reason_is_refused_too(
    runner, tmp_path, monkeypatch
):
    """An importer slip (here: counts that do not add up) is caught by building, not written."""
    import layerkit.importer as importer

    monkeypatch.setattr(importer, "import_summary", lambda path, shape: _report(
        GOOD.replace("46", "47")))  # fmt: skip
    target = tmp_path / "slip.yaml"
    result = runner.invoke(main, ["import", str(REFERENCE), "-o", str(target)])
    assert (result.exit_code, result.stderr) == (
        1,
        f"error: {target} not written: the imported spec would not build: it builds, but not as "
        "imported: total params 46, expected 47. Rerun with --partial to write it anyway, and fix "
        "it by hand (layerkit build names the problem at its line); please report it\n",
    )
    partial = runner.invoke(main, ["import", str(REFERENCE), "-o", str(target), "--partial"])
    assert partial.exit_code == 0
    assert partial.stderr.startswith(f"wrote {target}: ")
    assert partial.stderr.endswith(
        "\nwritten with --partial: it builds, but not as imported: total params 46, expected 47\n"
    )
    assert target.read_text() == GOOD.replace("46", "47")


def test_a_model_import_counts_rows_read_from_the_model_and_notes_logits(runner, tmp_path):
    inputs = keras.Input((6,))
    # named, since Keras numbers unnamed layers across the whole test process
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, name="logits")(hidden), name="scores")
    model.save(tmp_path / "scores.keras")
    target = tmp_path / "scores.yaml"
    result = runner.invoke(main, ["import", str(tmp_path / "scores.keras"), "-o", str(target)])
    assert result.exit_code == 0
    assert result.stderr.splitlines()[1:] == [  # after the "wrote" line
        "check: logits: the last layer has no activation: layerkit train will treat its outputs "
        "as logits",
    ]
    assert result.stdout == (
        "2 rows: 2 read from the model, 0 assumed, 0 to fill in; it builds, every row and total "
        "as expected ✓\n"
    )
    assert "  - dense: {units: 3}\n" in target.read_text()  # as the model has it: no comment


@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
def test_a_model_ending_in_probabilities_has_no_logits_note(activation, runner, tmp_path):
    inputs = keras.Input((6,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation=activation)(inputs))
    model.save(tmp_path / "probs.keras")
    result = runner.invoke(
        main, ["import", str(tmp_path / "probs.keras"), "-o", str(tmp_path / "p.yaml")]
    )
    assert result.exit_code == 0 and "logits" not in result.output


def test_a_long_name_is_cut_to_what_a_spec_name_may_be(runner, tmp_path):
    printed = tmp_path / f"{'q' * 150}.txt"
    printed.write_bytes(REFERENCE.read_bytes())
    target = tmp_path / "long.yaml"
    result = runner.invoke(main, ["import", str(printed), "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert re.search(r"^name: (q+)$", target.read_text(), re.MULTILINE)[1] == "q" * 100


def test_a_write_that_fails_midway_leaves_the_old_spec_whole(runner, tmp_path, monkeypatch):
    """The spec is written to a temporary beside it and renamed: a disk that fills up while it is
    written leaves the old file as it was, and no temporary behind."""
    import layerkit.console.targets as targets

    def full_disk(descriptor):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(targets.os, "fsync", full_disk)
    target = tmp_path / "mine.yaml"
    target.write_text("precious", encoding="utf-8")
    result = runner.invoke(main, ["import", str(REFERENCE), "-o", str(target), "--force"])
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: --output: cannot write '{target}': No space left on device; any file there is "
        "left as it was\n"
    )
    assert target.read_text() == "precious"
    assert [path.name for path in tmp_path.iterdir()] == ["mine.yaml"]


def test_the_documented_custom_layer_printout_is_refused_then_written_partially(
    runner, tmp_path, monkeypatch
):
    """examples/errors/custom_layer_summary.txt, printed by Keras 3 for a model with a custom
    ChannelShuffle layer (docs/cli.md shows this session)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").symlink_to(EXAMPLES)
    printed = "examples/errors/custom_layer_summary.txt"
    refused = runner.invoke(main, ["import", printed, "-o", "shuffle.yaml"])
    assert (refused.exit_code, refused.output) == (
        1,
        "error: shuffle.yaml not written: the imported spec would not build: 1 row could not be "
        "imported: channel_shuffle (ChannelShuffle) at line 7: layerkit does not know the type "
        "'ChannelShuffle'. Rerun with --partial to write it anyway, with that row marked NOT "
        "IMPORTED for you to fill in\n",
    )
    assert not (tmp_path / "shuffle.yaml").exists()
    partial = runner.invoke(main, ["import", printed, "-o", "shuffle.yaml", "--partial"])
    assert partial.exit_code == 0
    assert partial.output.splitlines()[-2:] == [
        "not imported (marked in the spec): channel_shuffle (ChannelShuffle) at line 7: layerkit "
        "does not know the type 'ChannelShuffle'",
        "4 rows: 1 inferred, 2 assumed (not in the summary), 1 to fill in; written with "
        "--partial: it does not build yet",
    ]
    built = runner.invoke(main, ["build", "shuffle.yaml"])
    assert built.exit_code == 2 and "unknown layer 'not_imported_ChannelShuffle'" in built.stderr
