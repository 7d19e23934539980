"""Every command driven with hostile inputs: whatever fails, the user sees one line and exit code 2.

Each case is a real input that once made a command print a Python traceback (a YAML tag that
cannot be constructed, a number too long to convert, a division by zero in an expression, a
``.keras`` archive whose config names no real class, a 0-d ``.npz`` array, an output path in a
folder no file can be created in). Run as a real process, with a time limit and a memory
measure, the command must exit 2 with exactly one ``error:`` line on stderr (``file:line:col:
error:`` where the error has a place) and no traceback; where the failure was one layerkit did
not foresee (``… failed on …``), ``layerkit --debug`` shows the traceback instead.

Also: text from a spec or a file never reaches the terminal as control characters or rich markup.
"""

from __future__ import annotations

import io
import json
import os
import re
import resource
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from layerkit.cli import main

from .conftest import DATA, ROOT, cifar_files, machine_pace

TIME_LIMIT = 10  # seconds, for a command that does not import TensorFlow
KERAS_TIME_LIMIT = 60  # TensorFlow's import alone takes ~5 s, more on a busy machine
MEMORY_LIMIT = 1 << 30  # bytes of address space, for a command that does not import TensorFlow
PEAK_LIMIT_KB = 1_500_000  # peak resident memory of a command that imports TensorFlow (~0.7 GB)
ONE_ERROR = re.compile(r"(\S+:\d+:\d+: )?error: \S")

# runs the command line in a child process and leaves its peak resident memory (KB) in LK_PEAK:
# VmHWM, this process's own peak since it started. (getrusage's ru_maxrss would report pytest's
# peak instead: Linux keeps the largest resident size across fork and exec.)
CHILD = (
    "import os, sys\n"
    "from layerkit.cli import main\n"
    "try:\n"
    "    main(sys.argv[1:], prog_name='layerkit')\n"
    "finally:\n"
    "    status = open('/proc/self/status').read().split('VmHWM:')[1]\n"
    "    open(os.environ['LK_PEAK'], 'w').write(status.split()[0])\n"
)


def run_layerkit(folder: Path, *args: str, keras: bool = False) -> subprocess.CompletedProcess:
    """``layerkit ARGS`` run in ``folder``, bounded in time and memory (the address space of a
    command without TensorFlow is capped; a TensorFlow command's peak is measured)."""
    env = {**os.environ, "LK_PEAK": str(folder / "peak.txt"), "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(folder)])}  # fmt: skip
    env.pop("LAYERKIT_DEBUG", None)

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    limit = (KERAS_TIME_LIMIT if keras else TIME_LIMIT) * machine_pace()  # on a slower machine
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", CHILD, *args], cwd=folder, env=env, capture_output=True,
        text=True, errors="replace", timeout=limit, preexec_fn=None if keras else cap,
    )  # fmt: skip
    took = time.monotonic() - started
    assert took < limit
    if keras:
        assert int((folder / "peak.txt").read_text()) < PEAK_LIMIT_KB
    return result


def assert_one_line_error(result: subprocess.CompletedProcess) -> str:
    """Exit 2, nothing on stdout, one error line on stderr, no traceback; gives the line."""
    everything = result.stdout + result.stderr
    assert "Traceback" not in everything, everything
    assert result.returncode == 2, everything
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and ONE_ERROR.match(lines[0]), result.stderr
    return lines[0]


def assert_handled(folder: Path, *args: str, keras: bool = False) -> str:
    """The hostile input gives one error line; if layerkit did not foresee the failure, the
    line says what failed and on what, and --debug shows the traceback."""
    line = assert_one_line_error(run_layerkit(folder, *args, keras=keras))
    command = args[0]
    unforeseen = re.match(rf"error: {command} failed on (.+?): (\w+)", line)
    if unforeseen:
        assert line.endswith(
            f"rerun with 'layerkit --debug {command} …' for the traceback and report it"
        )
        debugged = run_layerkit(folder, "--debug", *args, keras=keras)
        assert debugged.returncode == 1  # Python's own exit code for an uncaught exception
        assert "Traceback (most recent call last)" in debugged.stderr
        assert re.search(rf"^[\w.]*{unforeseen.group(2)}\b", debugged.stderr, re.M)
    return line


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


LAYERS = "input: [3]\nlayers:\n  - dense: {units: %s}\n"
HOSTILE_SPECS = {
    "a tag that cannot be constructed": LAYERS % "!!int abc",
    "a merge of a tagged scalar": "input: [3]\nlayers:\n  - flatten\n<<: !!tag x\n",
    "an integer of 5,000 digits": LAYERS % ("9" * 5000),
    "a division by zero in an expression": LAYERS % '"${make_divisible(10, 0)}"',
}


@pytest.mark.parametrize("text", HOSTILE_SPECS.values(), ids=list(HOSTILE_SPECS))
def test_validate_hostile_specs(tmp_path, text):
    write(tmp_path, "spec.yaml", text)
    assert_handled(tmp_path, "validate", "spec.yaml")


def test_validate_a_binary_file_and_a_folder(tmp_path):
    (tmp_path / "binary.yaml").write_bytes(bytes(range(256)) * 4)
    assert_handled(tmp_path, "validate", "binary.yaml")
    (tmp_path / "folder.yaml").mkdir()
    assert_handled(tmp_path, "validate", "folder.yaml")


def test_graph_hostile_spec_and_unwritable_output(tmp_path):
    write(tmp_path, "spec.yaml", HOSTILE_SPECS["a division by zero in an expression"])
    assert_handled(tmp_path, "graph", "spec.yaml", "-o", "spec.svg")
    write(tmp_path, "fine.yaml", LAYERS % 4)
    # /proc is a folder, but no file can be created in it
    assert_handled(tmp_path, "graph", "fine.yaml", "-o", "/proc/layerkit-graph.svg")
    assert not (tmp_path / "spec.svg").exists()


def test_schema_and_new_into_a_folder_that_takes_no_files(tmp_path):
    assert_handled(tmp_path, "schema", "-o", "/proc/layerkit-schema.json")
    assert_handled(tmp_path, "new", "mymodel", "-o", "/proc/layerkit-new.yaml")


def test_import_a_summary_with_a_5000_digit_count_and_an_unwritable_output(tmp_path):
    printed = (DATA / "cifar_keras2_summary.txt").read_text(encoding="utf-8")
    (tmp_path / "summary.txt").write_text(printed.replace("896", "9" * 5000, 1), encoding="utf-8")
    assert_handled(tmp_path, "import", "summary.txt", "-o", "spec.yaml")
    (tmp_path / "fine.txt").write_text(printed, encoding="utf-8")
    assert_handled(tmp_path, "import", "fine.txt", "-o", "/proc/layerkit-import.yaml")
    assert not (tmp_path / "spec.yaml").exists()


@pytest.mark.slow  # may load TensorFlow before the data is read
def test_train_on_a_0d_npz(tmp_path):
    write(tmp_path, "tiny.yaml", """
        name: tiny
        input: [4, 4, 3]
        layers:
          - flatten
          - dense: {units: 2, activation: softmax}
    """)  # fmt: skip
    np.savez(tmp_path / "zero_d.npz", x_train=np.array(3.0), y_train=np.array(1))
    args = ("train", "tiny.yaml", "--data", "zero_d.npz", "--epochs", "1")
    line = assert_handled(tmp_path, *args, keras=True)
    assert "tiny.yaml" in line or "zero_d.npz" in line
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.keras"))


def keras_archive_naming_no_class(path: Path) -> Path:
    """A well-formed .keras zip whose config names a class Keras cannot find."""
    with zipfile.ZipFile(path, "w") as archive:
        config = {"class_name": "Sequential", "config": {"layers": [
            {"class_name": "Dense", "config": {"units": "x"}}]}}  # fmt: skip
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.0.0"}))
        archive.writestr("model.weights.h5", b"not hdf5")
    return path


@pytest.mark.slow
def test_build_a_4000_digit_layer_size(tmp_path):
    write(tmp_path, "spec.yaml", LAYERS % ("9" * 4000))
    assert_handled(tmp_path, "build", "spec.yaml", keras=True)


@pytest.mark.slow
def test_evaluate_and_predict_a_keras_file_with_a_garbage_config(tmp_path):
    keras_archive_naming_no_class(tmp_path / "broken.keras")
    _, image = cifar_files(1)[0]
    (tmp_path / "cat.jpg").write_bytes(image)
    np.savez(tmp_path / "data.npz", x_train=np.zeros((4, 4, 4, 3), "uint8"),
             y_train=np.array([0, 1, 0, 1]))  # fmt: skip
    assert_handled(tmp_path, "evaluate", "broken.keras", "--data", "data.npz", keras=True)
    assert_handled(tmp_path, "predict", "broken.keras", "cat.jpg", keras=True)


# -- the one error path itself ---------------------------------------------------------------


def test_unforeseen_error_with_json_is_the_json_error_object(tmp_path):
    write(tmp_path, "spec.yaml", HOSTILE_SPECS["a division by zero in an expression"])
    result = run_layerkit(tmp_path, "validate", "spec.yaml", "--json")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (error,) = json.loads(result.stdout)["errors"]
    assert set(error) == {"file", "line", "column", "path", "message", "fix"}
    assert error["message"]


def test_a_failure_deep_inside_a_stage_is_one_line_and_debug_shows_it(runner, tmp_path,
                                                                       monkeypatch):  # fmt: skip
    """The wrapper proven with a stage made to fail as a library might, deep inside."""
    from layerkit.spec import validation

    def fails(*args, **kwargs):
        raise KeyError("a\nmultiline\x1b[31m key")

    monkeypatch.setattr(validation, "validate", fails)
    spec = write(tmp_path, "spec.yaml", "input: [3]\nlayers:\n  - dense: {units: 2}\n")
    result = runner.invoke(main, ["validate", str(spec)], color=True)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: validate failed on {spec}: KeyError: 'a\\nmultiline\\x1b[31m key'; check that "
        "it is the file you meant, whole and readable, or rerun with 'layerkit --debug validate "
        "…' for the traceback and report it\n"
    )
    result = runner.invoke(main, ["validate", str(spec), "--json"])
    (error,) = json.loads(result.stdout)["errors"]
    assert error["message"].startswith(f"validate failed on {spec}: KeyError: ")
    assert result.stderr == ""
    result = runner.invoke(main, ["--debug", "validate", str(spec)])
    assert isinstance(result.exception, KeyError)  # the traceback goes through
    monkeypatch.setenv("LAYERKIT_DEBUG", "1")
    result = runner.invoke(main, ["validate", str(spec)])
    assert isinstance(result.exception, KeyError)


def test_ctrl_c_is_one_line_and_exit_130(tmp_path):
    write(tmp_path, "slow_plugin.py", """
        import sys, time
        print("ready", file=sys.stderr, flush=True)
        time.sleep(30)
    """)  # fmt: skip
    write(tmp_path, "spec.yaml", "input: [3]\nlayers:\n  - dense: {units: 2}\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)])}
    child = subprocess.Popen(
        [sys.executable, "-m", "layerkit", "validate", "spec.yaml", "--plugin", "slow_plugin"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stderr.readline() == "ready\n"
    child.send_signal(signal.SIGINT)
    stdout, stderr = child.communicate(timeout=TIME_LIMIT)
    assert (child.returncode, stdout, stderr) == (
        130, "", "interrupted: validate stopped before it finished\n"
    )  # fmt: skip


def test_usage_errors_stay_clicks(runner):
    result = runner.invoke(main, ["validate"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: Missing argument 'SPEC'. (usage: ")


# -- terminal safety -------------------------------------------------------------------------

CRAFTED = "x\x1b[2K\r✓ valid spec"


def test_a_crafted_spec_name_is_shown_escaped(runner, tmp_path):
    spec = write(tmp_path, "spec.yaml", 'name: "x\\e[2K\\r✓ valid spec"\ninput: [3]\n'
                 "layers:\n  - dense: {units: 2}\n")  # fmt: skip
    result = runner.invoke(main, ["validate", str(spec)], color=True)  # as on a terminal
    assert "\x1b" not in result.output and "\r" not in result.output
    assert result.exit_code == 2  # no run folder can be named so: refused at its line, escaped
    assert result.stderr.startswith(f"{spec}:1:7: error: name: 'x\\x1b[2K\\r")
    assert result.stderr.count("\n") == 1


def test_a_crafted_layer_name_cannot_make_a_failing_validate_look_valid(runner, tmp_path):
    spec = write(tmp_path, "spec.yaml", 'input: [3]\nlayers:\n  - "x\\e[2K\\r✓ valid spec": {}\n')
    result = runner.invoke(main, ["validate", str(spec)], color=True)
    assert result.exit_code == 2
    assert "\x1b" not in result.output and "\r" not in result.output
    assert result.stderr.startswith(f"{spec}:3:5: error: layers[0].x\\x1b[2K\\r✓ valid spec: ")
    assert result.stderr.count("\n") == 1


def test_names_from_files_are_neither_control_characters_nor_markup():
    from rich.console import Console

    from layerkit.model.render import render_evaluation, render_predictions

    hostile = "[bold]cat\x1b]0;owned\x07\u202e"
    shown = "[bold]cat\\x1b]0;owned\\x07\\u202e"
    screen = io.StringIO()
    console = Console(file=screen, width=200, color_system=None, force_terminal=True)
    console.print(render_predictions([{"file": hostile, "top": [
        {"class": hostile, "probability": 0.5}]}], plain=True))  # fmt: skip
    console.print(
        render_evaluation(
            {
                "n": 1,
                "data": hostile,
                "tta": None,
                "accuracy": 1.0,
                "top5_accuracy": 1.0,
                "loss": 0.0,
                "class_names": [hostile],
                "confusion": [[1]],
                "per_class": {hostile: 1.0},
            },
            plain=True,
        )
    )
    text = screen.getvalue()
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert text.count(shown) == 4  # file, class, data and class again: every one, literally


def test_safe_text_leaves_normal_text_alone():
    from layerkit.safe_text import safe_text

    normal = "conv2d_1 (Conv2D) é ✓ 中文 C:\\models\\a.keras [x] 'q' \"d\""
    assert safe_text(normal) == normal
    assert safe_text("a\tb\nc\x00d\x9be\u2066f") == "a\\tb\\nc\\x00d\\x9be\\u2066f"


def test_training_progress_shows_the_run_folder_escaped():
    """`--out` is the user's text too: the line a run starts with shows it escaped."""
    from layerkit.training.progress import start_line

    facts = {"spec": "net", "device": "CPU (2 cores)", "backend": "tensorflow",
             "train_images": 500, "validation_images": 100, "classes": 10, "skipped_images": 0,
             "batch_size": 32, "first_epoch": 1, "epochs": 2, "augment": False,
             "dropout_until": None, "dropout_layers": 0, "schedule_epochs": None,
             "run": f"runs/{CRAFTED}"}  # fmt: skip
    line = start_line(facts)
    assert "\x1b" not in line and "\r" not in line
    assert line.endswith("→ runs/x\\x1b[2K\\r✓ valid spec")


# -- a file that appears while a command works is not replaced --------------------------------


def test_build_save_keeps_a_file_created_while_the_model_was_built(runner, tmp_path, monkeypatch):
    """--save was free when checked; a file created there during the build is left whole."""
    import layerkit.model.compiler as compiler

    spec = write(tmp_path, "spec.yaml", "input: [4]\nlayers:\n  - dense: {units: 2}\n")
    target = tmp_path / "model.keras"
    build = compiler.build

    def slow_build(*args, **kwargs):
        target.write_text("someone else's file")
        return build(*args, **kwargs)

    monkeypatch.setattr(compiler, "build", slow_build)
    result = runner.invoke(main, ["build", str(spec), "--save", str(target)])
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: --save: '{target}' was created by something else while this command ran; it "
        "is left as it is. Pass --force to replace it, or choose another path.\n"
    )
    assert target.read_text() == "someone else's file"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.keras", "spec.yaml"]
    monkeypatch.setattr(compiler, "build", build)
    forced = runner.invoke(main, ["build", str(spec), "--save", str(target), "--force"])
    assert forced.exit_code == 0, forced.output
    assert target.read_bytes()[:2] == b"PK"  # --force replaced it with the model


def test_graph_output_keeps_a_file_created_while_it_was_drawn(runner, tmp_path, monkeypatch):
    import layerkit.model.diagram as diagram

    spec = write(tmp_path, "spec.yaml", "input: [4]\nlayers:\n  - dense: {units: 2}\n")
    target = tmp_path / "net.svg"
    render = diagram.render_svg

    def slow_render(*args, **kwargs):
        target.write_text("mine")
        return render(*args, **kwargs)

    monkeypatch.setattr(diagram, "render_svg", slow_render)
    result = runner.invoke(main, ["graph", str(spec), "-o", str(target)])
    assert result.exit_code == 2
    assert "was created by something else while this command ran" in result.stderr
    assert target.read_text() == "mine"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["net.svg", "spec.yaml"]


def test_a_truncated_or_unloadable_keras_file_is_said_so(tmp_path):
    """Keras says "File not found" of a truncated .keras file and raises a TypeError holding the
    whole config for one it cannot rebuild: both are one line that says what the file is."""
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.save(tmp_path / "whole.keras")
    whole = (tmp_path / "whole.keras").read_bytes()
    (tmp_path / "half.keras").write_bytes(whole[: len(whole) // 2])
    keras_archive_naming_no_class(tmp_path / "garbage.keras")
    np.savez(tmp_path / "d.npz", x_train=np.zeros((2, 4), "float32"), y_train=np.array([0, 1]))
    from click.testing import CliRunner

    runner = CliRunner()
    half = runner.invoke(main, ["evaluate", str(tmp_path / "half.keras"), "--data",
                                str(tmp_path / "d.npz")])  # fmt: skip
    assert half.exit_code == 2
    assert half.stderr == (
        f"error: cannot load model '{tmp_path / 'half.keras'}': it is not a whole Keras model "
        "file (a .keras file is a zip archive; this one is truncated, or something else); save "
        "the model again\n"
    )
    garbage = runner.invoke(main, ["predict", str(tmp_path / "garbage.keras"), str(tmp_path)])
    assert garbage.exit_code == 2
    assert garbage.stderr.startswith(
        f"error: cannot load model '{tmp_path / 'garbage.keras'}': Keras could not rebuild it "
        "(TypeError: "
    )
    assert garbage.stderr.endswith(
        "); check that it is a model saved by Keras 3 whose layers are Keras's or layerkit's\n"
    )
    assert garbage.stderr.count("\n") == 1 and len(garbage.stderr) < 600
