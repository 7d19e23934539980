"""The command line through click's CliRunner: output, exit codes, and no traceback for user errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from layerkit.cli import main

from .conftest import CIFAR, DATA, ROOT


@pytest.fixture(autouse=True)
def in_project_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def invoke(runner, *args):
    return runner.invoke(main, list(args), catch_exceptions=False)


# -- build ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_build_reference_spec_prints_the_golden_summary(runner):
    result = invoke(runner, "build", "specs/cifar.yaml")
    assert result.exit_code == 0
    assert result.stdout == (DATA / "cifar_summary.txt").read_text(encoding="utf-8")


@pytest.mark.slow
def test_build_json(runner):
    result = invoke(runner, "build", "specs/cifar.yaml", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["ok"] is True
    assert data["total_params"] == 2_494_982
    assert [row["params"] for row in data["layers"]][:3] == [896, 128, 9248]


@pytest.mark.slow
def test_changed_filter_count_exits_1_naming_the_row(runner, tmp_path):
    text = CIFAR.read_text(encoding="utf-8").replace("filters: 128", "filters: 96")
    spec = tmp_path / "cifar_96.yaml"
    spec.write_text(text, encoding="utf-8")
    result = invoke(runner, "build", str(spec), "--plain")
    assert result.exit_code == 1
    last = result.stdout.rstrip("\n").splitlines()[-1]
    assert last.startswith(
        "✗ 11 mismatches: row 13 conv2d_4 (expected as conv2d_23): output shape (None, 8, 8, 96), "
        "expected (None, 8, 8, 128); params 55,392, expected 73,856; row 14 "
    )
    assert "row 20 dense (expected as dense_6): params 1,573,888, expected 2,098,176" in last


def test_typo_exits_2_with_place_and_suggestion(runner, write_spec):
    spec = write_spec(
        "input: [32, 32, 3]\nlayers:\n  - flatten\n  - dense: {units: 10}\n  - softmaxx\n"
    )
    result = invoke(runner, "build", str(spec))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"{spec}:5:5: error: layers[2].softmaxx: unknown layer 'softmaxx'. Did you mean 'softmax'?\n"
    )


def test_several_problems_are_listed_then_counted(runner, write_spec):
    spec = write_spec("input: [3]\nlayers:\n  - dense: {unit: 3}\n  - flaten\n")
    result = invoke(runner, "validate", str(spec))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{spec}:3:13: error: layers[0].dense.unit: unknown argument 'unit' for Dense. "
        "Did you mean 'units'?",
        f"{spec}:4:5: error: layers[1].flaten: unknown layer 'flaten'. Did you mean 'flatten'?",
        "2 problems found.",
    ]


@pytest.mark.slow
def test_shape_error_from_keras_exits_2_without_traceback(runner, write_spec):
    spec = write_spec("input: [4, 4, 3]\nlayers:\n  - conv2d: {filters: 8, kernel_size: 7}\n")
    result = invoke(runner, "build", str(spec))
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"{spec}:3:5: error: layers[0].conv2d: Conv2D cannot take its input of shape "
        "(None, 4, 4, 3): Computed output size would be zero or negative."
    )
    assert "Traceback" not in result.output


def test_errors_as_json(runner, write_spec):
    spec = write_spec("input: [3]\nlayers:\n  - flaten\n")
    result = invoke(runner, "build", str(spec), "--json")
    assert result.exit_code == 2
    assert json.loads(result.stdout) == {
        "ok": False,
        "errors": [
            {
                "file": str(spec),
                "line": 3,
                "column": 5,
                "path": "layers[0].flaten",
                "message": "unknown layer 'flaten'",
                "fix": "Did you mean 'flatten'?",
            }
        ],
    }


def test_missing_spec_file(runner):
    result = invoke(runner, "build", "specs/nothere.yaml")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: cannot read spec 'specs/nothere.yaml': it does not exist. "
        "Pass the path of a .yaml spec file.\n"
    )


# -- --save --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_save_writes_a_loadable_model_and_never_overwrites(runner, tmp_path):
    import keras

    target = tmp_path / "cifar.keras"
    result = invoke(runner, "build", "specs/cifar.yaml", "--save", str(target))
    assert result.exit_code == 0
    assert result.stderr == f"saved the untrained model to {target}\n"
    assert keras.saving.load_model(target).count_params() == 2_494_982
    assert [path.name for path in tmp_path.iterdir()] == ["cifar.keras"]  # no temporary left

    before = target.read_bytes()
    result = invoke(runner, "build", "specs/cifar.yaml", "--save", str(target))
    assert result.exit_code == 2
    assert f"'{target}' already exists; pass --force to replace it" in result.stderr
    assert target.read_bytes() == before

    result = invoke(runner, "build", "specs/cifar.yaml", "--save", str(target), "--force")
    assert result.exit_code == 0


def test_save_needs_a_keras_suffix_and_an_existing_folder(runner, tmp_path):
    result = invoke(runner, "build", "specs/cifar.yaml", "--save", str(tmp_path / "m.h5"))
    assert result.exit_code == 2
    assert "does not end in .keras" in result.stderr
    result = invoke(runner, "build", "specs/cifar.yaml", "--save", str(tmp_path / "no/m.keras"))
    assert result.exit_code == 2
    assert "does not exist; create it first" in result.stderr
    # with --json the refusal is the JSON error object on stdout, like every other error
    (tmp_path / "m.keras").write_text("mine")
    result = invoke(
        runner, "build", "specs/cifar.yaml", "--json", "--save", str(tmp_path / "m.keras")
    )
    assert result.exit_code == 2 and result.stderr == ""
    (error,) = json.loads(result.stdout)["errors"]
    assert error["message"] == (
        f"--save: '{tmp_path / 'm.keras'}' already exists; pass --force to replace it, or choose "
        "another path."
    )


def test_a_spec_path_is_always_a_path(runner, tmp_path):
    """A folder or a mistyped path on the command line is not read as YAML text."""
    result = invoke(runner, "validate", "specs/cifar")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: cannot read spec 'specs/cifar': it does not exist. Did you mean 'specs/cifar.yaml'?\n"
    )
    result = invoke(runner, "validate", "examples")
    assert result.stderr == (
        "error: cannot read spec 'examples': it is a folder. Pass the path of a .yaml spec file.\n"
    )


# -- validate ------------------------------------------------------------------------------------


def test_validate_reference_spec(runner):
    result = invoke(runner, "validate", "specs/cifar.yaml")
    assert result.exit_code == 0
    assert result.stdout == "✓ specs/cifar.yaml: valid spec 'cifar10_cnn' (25 layers)\n"
    result = invoke(runner, "validate", "specs/cifar.yaml", "--json")
    assert json.loads(result.stdout) == {"ok": True, "file": "specs/cifar.yaml", "layers": 25}


@pytest.mark.parametrize(
    "args", [["--help"], ["validate", "specs/cifar.yaml"], ["build", "--help"], ["schema"]]
)
def test_help_and_validate_do_not_import_tensorflow(args):
    code = (
        "import sys\n"
        "from layerkit.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        "print([m for m in ('tensorflow', 'keras') if m in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.splitlines()[-1] == "[]"


def test_console_script_and_module_entry_points():
    result = subprocess.run(
        [sys.executable, "-m", "layerkit", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout == "layerkit, version 0.1.0\n"
