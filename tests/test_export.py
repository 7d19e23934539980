"""``layerkit export``: a model trained once on real CIFAR-10 images exported to a SavedModel,
ONNX and TFLite; each artifact checked by layerkit in its own runtime, and loaded again here, on
its own, to agree with ``layerkit predict``; each artifact's NAME.preprocessing.json; refusals
(an existing file, a missing converter, a layer a converter lacks), each one ``error:`` line with
exit 2."""

from __future__ import annotations

import json
import re
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from layerkit.cli import main

from .conftest import cifar_subset

SPEC = """\
name: tiny
input: [28, 28, 3]
layers:
  - conv2d: {filters: 8, kernel_size: 3, padding: same, activation: relu}
  - global_average_pooling2d
  - dense: {units: 10}
train:
  batch_size: 50
  epochs: 1
  validation_split: 40
"""
IMAGES = 40  # the run's validation split, every image of which the check runs
LABELS = {"savedmodel": "SavedModel", "onnx": "ONNX", "tflite": "TFLite"}
ARTIFACTS = {"savedmodel": "savedmodel", "onnx": "model.onnx", "tflite": "model.tflite"}
TOLERANCES = {"savedmodel": "1e-04", "onnx": "1e-04", "tflite": "1e-03"}


# docs/cli.md's example (numbers that vary by machine as N; see test_the_documented_example)
DOC_EXAMPLE = """\
$ layerkit export runs/tiny --format onnx
exporting runs/tiny/model_best.keras (the run's best model) to ONNX
checking it on 40 images of data/c200.tar (validation split)
built in: x * 1/255 (the scaling it was trained with); it takes float32 pixels 0-255 of shape \
(None, 28, 28, 3) and gives probabilities (a softmax added: the model ends in logits)
wrote runs/tiny/export/model.onnx.preprocessing.json: input, scaling, class names, output
✓ exported runs/tiny/export/model.onnx (ONNX, 3.8 KB): 40 real images, top-1 agrees on 40/40, \
max |Δp| 2.2e-08 ≤ 1e-04
"""


def run_cli(runner, *args):
    return runner.invoke(main, [str(arg) for arg in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A one-epoch run of a model ending in logits on 200 real 32x32 images resized to 28x28,
    and a folder of the images."""
    from click.testing import CliRunner

    root = tmp_path_factory.mktemp("export")
    archive = cifar_subset(root / "c200.tar", 20)
    with tarfile.open(archive) as tar:
        tar.extractall(root / "folder", filter="data")
    (root / "tiny.yaml").write_text(SPEC)
    result = CliRunner().invoke(
        main,
        ["train", str(root / "tiny.yaml"), "--data", str(archive), "--resize", "--out",
         str(root / "run")],
        env={"LAYERKIT_CACHE": str(root / "cache")},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture(scope="module")
def exported(workspace):
    """Each format exported once, by the command as a user types it."""
    from click.testing import CliRunner

    runner = CliRunner()
    return {
        name: run_cli(runner, "export", workspace / "run", "--format", name)
        for name in ("savedmodel", "onnx", "tflite")
    }


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("LAYERKIT_CACHE", str(tmp_path_factory.getbasetemp() / "export-cache"))


def load_artifact(path: Path, name: str):
    """The artifact loaded by its own runtime, as a deployer would, with no layerkit code."""
    if name == "savedmodel":
        import tensorflow as tf

        serve = tf.saved_model.load(str(path)).signatures["serving_default"]
        return lambda x: next(iter(serve(images=tf.constant(x)).values())).numpy()
    if name == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return lambda x: session.run(None, {session.get_inputs()[0].name: x})[0]
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()

    def predict(x):
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])

    return predict


@pytest.mark.slow
@pytest.mark.parametrize("name", ["savedmodel", "onnx", "tflite"])
def test_each_format_is_exported_and_agrees_on_real_images(workspace, exported, name):
    result = exported[name]
    assert result.exit_code == 0, result.output
    path = workspace / "run" / "export" / ARTIFACTS[name]
    assert path.exists()
    line = re.fullmatch(
        rf"✓ exported {re.escape(str(path))} \({LABELS[name]}, [\d.]+ [KM]B\): (\d+) real images, "
        rf"top-1 agrees on (\d+)/(\d+), max \|Δp\| (\S+) ≤ {TOLERANCES[name]}\n",
        result.stdout,
    )
    assert line, result.stdout
    assert int(line[1]) == int(line[2]) == int(line[3]) == IMAGES
    assert float(line[4]) <= float(TOLERANCES[name])
    assert f"exporting {workspace / 'run' / 'model_best.keras'} (the run's best model)" in (
        result.stderr
    )
    assert "a softmax added: the model ends in logits" in result.stderr
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporaries


@pytest.mark.slow
@pytest.mark.parametrize("name", ["savedmodel", "onnx", "tflite"])
def test_the_artifact_alone_gives_what_predict_gives(runner, workspace, exported, name):
    """Raw pixels in, as a deployer has them: the scaling is inside the artifact."""
    from PIL import Image

    image = workspace / "folder" / "train" / "ship" / "0003.jpg"
    pixels = np.asarray(Image.open(image).convert("RGB").resize((28, 28), Image.BILINEAR))
    got = load_artifact(workspace / "run" / "export" / ARTIFACTS[name], name)(
        pixels[None].astype("float32")
    )[0]
    result = run_cli(runner, "predict", workspace / "run", image, "--resize", "--top", "10",
                     "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    # one object {"predictions": [...]} (issue 18), a list before it
    top = (report if isinstance(report, list) else report["predictions"])[0]["top"]
    names = json.loads((workspace / "run" / "environment.json").read_text())["class_names"]
    assert names[int(got.argmax())] == top[0]["class"]
    for entry in top:
        assert got[names.index(entry["class"])] == pytest.approx(entry["probability"], abs=1e-4)
    assert got.sum() == pytest.approx(1.0, abs=1e-5)  # probabilities, though the model gives logits


@pytest.mark.slow
def test_preprocessing_json_says_what_the_model_takes_and_gives(workspace, exported):
    described = json.loads(
        (workspace / "run" / "export" / "model.onnx.preprocessing.json").read_text()
    )
    assert described["input"]["shape"] == [None, 28, 28, 3]
    assert described["input"]["dtype"] == "float32"
    assert described["input"]["value_range"] == [0, 255]
    assert described["built_in"]["scaling"] == "x * 1/255"
    assert described["built_in"]["scale"] == pytest.approx(1 / 255)
    assert described["resize"]["to"] == [28, 28] and not described["resize"]["built_in"]
    assert described["output"] == {
        "shape": [None, 10],
        "meaning": "probabilities",
        "softmax_added": True,
        "note": "the model ends in logits; a softmax was added on export",
    }
    assert described["class_names"][:3] == ["airplane", "automobile", "bird"]


@pytest.mark.slow
def test_an_existing_artifact_is_kept_without_force(runner, workspace, exported):
    path = workspace / "run" / "export" / "model.onnx"
    before = path.read_bytes()
    result = run_cli(runner, "export", workspace / "run", "--format", "onnx")
    assert result.exit_code == 2
    assert (
        result.stderr == f"error: '{path}' exists; pass --force to replace it, or -o another path\n"
    )
    assert path.read_bytes() == before
    result = run_cli(runner, "export", workspace / "run", "--format", "onnx", "--force",
                     "--no-check")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("; not checked (--no-check)\n")
    assert (
        "model.onnx.preprocessing.json: it says the same" in result.stderr
    )  # the same model, the same text


@pytest.mark.slow
def test_json_and_the_last_model(runner, workspace):
    result = run_cli(runner, "export", workspace / "run", "--format", "tflite", "--model",
                     "last", "--images", "8", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    path = workspace / "run" / "export" / "model_last.tflite"
    assert report["path"] == str(path) and path.is_file()
    assert report["model"] == str(workspace / "run" / "model_last.keras")
    assert report["format"] == "tflite" and report["ok"] is True
    assert report["check"]["images"] == report["check"]["agree"] == 8
    assert report["check"]["tolerance"] == 1e-3
    assert report["built_in"] == {"scaling": "x * 1/255", "softmax_added": True}


@pytest.mark.slow
def test_latest_names_the_latest_run(runner, workspace, tmp_path, monkeypatch):
    import shutil

    shutil.copytree(workspace / "run", tmp_path / "runs" / "tiny" / "20261201-120000",
                    ignore=shutil.ignore_patterns("export"))  # fmt: skip
    monkeypatch.chdir(tmp_path)
    result = run_cli(runner, "export", "latest", "--format", "onnx", "--no-check")
    assert result.exit_code == 0, result.output
    run = Path("runs", "tiny", "20261201-120000")
    assert result.stderr.startswith(f"latest → {run}\n")
    assert result.stdout.startswith(f"✓ exported {run / 'export' / 'model.onnx'} (ONNX, ")


@pytest.mark.slow
def test_a_keras_file_is_checked_on_images_given(runner, workspace, tmp_path):
    model = tmp_path / "tiny.keras"
    model.write_bytes((workspace / "run" / "model_best.keras").read_bytes())
    result = run_cli(runner, "export", model, "--format", "onnx")
    assert result.exit_code == 2
    assert result.stderr.endswith(
        "error: checking the export needs real images: give --data IMAGES (a folder or a "
        "dataset), or --no-check to skip the check\n"
    )
    assert not (tmp_path / "tiny.onnx").exists()
    folder = workspace / "folder" / "train" / "cat"
    result = run_cli(runner, "export", model, "--format", "onnx", "--data", folder, "--resize")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"✓ exported {tmp_path / 'tiny.onnx'} (ONNX, ")
    assert ": 20 real images, top-1 agrees on 20/20, max |Δp| " in result.stdout
    assert (tmp_path / "tiny.onnx.preprocessing.json").is_file()
    # a .keras file outside its run does not say how its inputs were scaled: 1/255 is assumed
    assert "built in: x * 1/255 (assumed, as predict assumes it: a .keras file outside its run" \
        in result.stderr  # fmt: skip
    described = json.loads((tmp_path / "tiny.onnx.preprocessing.json").read_text())
    assert described["built_in"]["assumed"] is True and described["class_names"] is None
    assert (
        "tiny.onnx.preprocessing.json: input, scaling, no class names (none known), output"
        in result.stderr
    )


@pytest.mark.slow
def test_disagreement_exits_1_and_keeps_the_file(runner, workspace, tmp_path, monkeypatch):
    """A tolerance no artifact can meet (below zero): the artifact is written, the line says so."""
    from dataclasses import replace

    from layerkit.export import formats

    monkeypatch.setitem(formats.FORMATS, "onnx", replace(formats.FORMATS["onnx"], tolerance=-1.0))
    path = tmp_path / "model.onnx"
    result = run_cli(runner, "export", workspace / "run", "--format", "onnx", "-o", path)
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith(f"✗ exported {path} (ONNX, ")
    assert "the exported model disagrees with the Keras model" in result.stdout
    assert path.is_file()


@pytest.mark.slow
def test_a_missing_converter_is_one_line(runner, workspace, tmp_path, monkeypatch):
    """Python's own way of saying a package is absent: ``sys.modules[name] = None``."""
    monkeypatch.setitem(sys.modules, "tf2onnx", None)
    result = run_cli(runner, "export", workspace / "run", "--format", "onnx", "-o",
                     tmp_path / "m.onnx")  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr == (
        "error: exporting to onnx needs tf2onnx and onnxruntime: pip install 'layerkit[export]'\n"
    )
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    result = run_cli(runner, "export", workspace / "run", "--format", "tflite")
    assert result.stderr == (
        "error: exporting to tflite needs ai-edge-litert: pip install 'layerkit[export]'\n"
    )
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_a_layer_the_converter_lacks_is_named_and_nothing_is_left(runner, tmp_path):
    import keras

    inputs = keras.Input((28, 28, 3))
    x = keras.layers.Resizing(16, 16, interpolation="lanczos5", name="lanczos")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x)).save(tmp_path / "m.keras")
    (tmp_path / "m.tflite").write_bytes(b"an earlier export")
    result = run_cli(runner, "export", tmp_path / "m.keras", "--format", "tflite", "--no-check",
                     "--force")  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.endswith(
        "error: the layer 'lanczos' (Resizing) does not convert to TFLite: the TFLite converter "
        "has no operation ScaleAndTranslate; export to another format, or use another layer (or "
        "layer setting) in the spec\n"
    )
    # nothing half-written, and the earlier export is left as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras", "m.tflite"]
    assert (tmp_path / "m.tflite").read_bytes() == b"an earlier export"


@pytest.mark.slow
def test_a_saved_model_folder_is_replaced_whole_with_force(runner, workspace, tmp_path):
    folder = tmp_path / "served"
    args = ("export", workspace / "run", "--format", "savedmodel", "-o", folder, "--no-check")
    assert run_cli(runner, *args).exit_code == 0
    (folder / "stale.txt").write_text("from before")
    result = run_cli(runner, *args)
    assert result.exit_code == 2 and "exists; pass --force" in result.stderr
    assert (folder / "stale.txt").is_file()
    result = run_cli(runner, *args, "--force")
    assert result.exit_code == 0, result.output
    assert (folder / "saved_model.pb").is_file() and not (folder / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["served", "served.preprocessing.json"]


@pytest.mark.slow
def test_force_never_replaces_a_folder_that_is_not_an_earlier_export(runner, workspace, tmp_path):
    """--force replaces an earlier SavedModel, never the run being exported or a folder of
    something else (it once did: -o RUN --force left the run a SavedModel)."""
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("mine")
    run = workspace / "run"
    before = sorted(p.name for p in run.iterdir())
    for target in (precious, run):
        result = run_cli(runner, "export", run, "--format", "savedmodel", "-o", target,
                         "--force", "--no-check")  # fmt: skip
        assert result.exit_code == 2
        assert result.stderr == (
            f"error: '{target}' is a folder that holds no SavedModel (no saved_model.pb): --force "
            "replaces only an earlier export; -o a new folder name\n"
        )
    assert (precious / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in run.iterdir()) == before


@pytest.mark.slow  # imports TensorFlow and tf2onnx: 13 s on its own
def test_refusals_before_any_work(runner, tmp_path):
    result = run_cli(runner, "export", tmp_path, "--format", "coreml")
    assert result.exit_code == 2 and "'coreml' is not one of 'savedmodel', 'onnx', 'tflite'" in (
        result.stderr
    )
    text = tmp_path / "notes.txt"
    text.write_text("not a model")
    result = run_cli(runner, "export", text, "--format", "onnx")
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: '{text}' is neither a run directory nor a .keras model file; give a run "
        "(layerkit runs lists them; latest is the newest) or a .keras file\n"
    )
    result = run_cli(runner, "export", text, "--format", "onnx", "--no-check", "--data", tmp_path)
    assert result.exit_code == 2
    assert result.stderr == (
        "error: --data gives the images the check runs on, and --no-check skips the check; "
        "drop one\n"
    )


@pytest.mark.slow
def test_the_python_api(workspace, tmp_path):
    from layerkit.export.exporter import check_images, export_model, open_for_export

    trained, taken = open_for_export(workspace / "run", "best", True)
    assert taken == workspace / "run" / "model_best.keras"
    images = check_images(trained, None, 16)
    assert images.pixels.shape == (16, 28, 28, 3) and images.pixels.dtype == np.uint8
    report = export_model(trained, tmp_path / "m.onnx", "onnx", images=images)
    assert report.ok and report.check.agree == report.check.images == 16
    assert report.check.max_difference <= 1e-4
    assert report.as_dict()["preprocessing"] == str(tmp_path / "m.onnx.preprocessing.json")


def masked(text: str) -> str:
    """Text with what varies from machine to machine (a file's size, a float's last digits) as N."""
    text = re.sub(r"\d+\.\d [KM]B", "N KB", text)
    return re.sub(r"\|Δp\| \S+ ", "|Δp| N ", text)


@pytest.mark.slow
def test_the_documented_example(runner, workspace, tmp_path, monkeypatch):
    import shutil

    shutil.copytree(
        workspace / "run", tmp_path / "runs" / "tiny", ignore=shutil.ignore_patterns("export")
    )
    monkeypatch.chdir(tmp_path)
    command, expected = DOC_EXAMPLE.split("\n", 1)
    result = run_cli(runner, *command.split()[2:])
    assert result.exit_code == 0, result.output
    shown = result.output.replace(str(workspace / "c200.tar"), "data/c200.tar")
    assert masked(shown) == masked(expected)


def test_a_near_tie_passes_and_a_real_disagreement_does_not():
    from layerkit.export.check import compare

    keras_p = np.array([[0.50, 0.49995, 0.00005], [0.7, 0.2, 0.1]], "float32")
    tie = np.array([[0.49996, 0.50, 0.00004], [0.7, 0.2, 0.1]], "float32")
    agreement = compare(keras_p, tie, 1e-4, "two rows")
    assert (agreement.agree, agreement.near_ties, agreement.ok) == (1, 1, True)
    wrong = np.array([[0.5, 0.49995, 0.00005], [0.2, 0.7, 0.1]], "float32")
    agreement = compare(keras_p, wrong, 1e-4, "two rows")
    assert (agreement.agree, agreement.near_ties, agreement.ok) == (1, 0, False)
    assert agreement.max_difference == pytest.approx(0.5)


def test_a_keras_file_is_exported_beside_itself_under_its_own_name(tmp_path):
    """net.keras -> net_savedmodel/ and model.keras -> model_savedmodel/ alike; a run's models
    go to RUN/export/savedmodel/ (its best) and model_last_savedmodel/ (its last)."""
    from layerkit.export.exporter import default_output
    from layerkit.export.formats import FORMATS
    from layerkit.spec.settings import Normalize
    from layerkit.training.evaluate import Trained

    trained = Trained(model=None, normalize=Normalize(), class_names=None)  # the model is not read
    for stem in ("net", "model"):
        given = tmp_path / f"{stem}.keras"
        assert default_output(trained, given, given, FORMATS["savedmodel"]) == (
            tmp_path / f"{stem}_savedmodel"
        )
        assert default_output(trained, given, given, FORMATS["onnx"]) == tmp_path / f"{stem}.onnx"
    from layerkit.runs.directory import RunDir

    run = tmp_path / "run"
    of_run = Trained(model=None, normalize=Normalize(), class_names=None, run=RunDir(run))
    for taken, form, name in [("model_best.keras", "savedmodel", "savedmodel"),
                              ("model_last.keras", "savedmodel", "model_last_savedmodel"),
                              ("model_best.keras", "onnx", "model.onnx"),
                              ("model_last.keras", "tflite", "model_last.tflite")]:  # fmt: skip
        assert default_output(of_run, run / taken, run, FORMATS[form]) == run / "export" / name


@pytest.mark.slow
def test_artifacts_of_two_models_share_a_folder_each_with_its_description(runner, workspace,
                                                                          tmp_path):  # fmt: skip
    """Two models exported into one folder keep a description each, and replacing one with
    --force leaves the other's alone (one preprocessing.json per folder once had --force
    rewrite the first model's description with the second's)."""
    bare = tmp_path / "bare.keras"  # outside its run: its scaling is assumed
    bare.write_bytes((workspace / "run" / "model_best.keras").read_bytes())
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    run = run_cli(runner, "export", workspace / "run", "--format", "onnx", "-o",
                  deploy / "run.onnx", "--no-check")  # fmt: skip
    assert run.exit_code == 0, run.output
    described = (deploy / "run.onnx.preprocessing.json").read_text()
    other = run_cli(runner, "export", bare, "--format", "onnx", "-o", deploy / "bare.onnx",
                    "--no-check")  # fmt: skip
    assert other.exit_code == 0, other.output
    again = run_cli(runner, "export", bare, "--format", "onnx", "-o", deploy / "bare.onnx",
                    "--no-check", "--force")  # fmt: skip
    assert again.exit_code == 0, again.output
    assert (deploy / "run.onnx.preprocessing.json").read_text() == described
    assert json.loads(described)["built_in"]["assumed"] is False
    assert json.loads((deploy / "bare.onnx.preprocessing.json").read_text())["built_in"]["assumed"]
    assert sorted(p.name for p in deploy.iterdir()) == [
        "bare.onnx", "bare.onnx.preprocessing.json", "run.onnx", "run.onnx.preprocessing.json",
    ]  # fmt: skip


# A process that starts an export's staging and is SIGKILLed where it says: half-way through
# writing (KILL_WRITING), or (KILL_REPLACING) between moving the earlier SavedModel aside and
# putting the new one in its place.
KILLED_EXPORT = """\
import os, signal, sys
from pathlib import Path
from layerkit.export.formats import FORMATS
from layerkit.export.staging import staged

path, format, where = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
if where == "replacing":
    rename, seen = os.rename, []
    def dying_rename(source, target):
        seen.append(target)
        if len(seen) == 2:  # the earlier artifact is aside, the new one not yet in its place
            os.kill(os.getpid(), signal.SIGKILL)
        rename(source, target)
    os.rename = dying_rename
with staged(path, FORMATS[format], replace=True) as temporary:
    if FORMATS[format].suffix:
        temporary.write_bytes(b"half an artifact")
    else:
        (temporary / "saved_model.pb").write_bytes(b"half an artifact")
    if where == "writing":
        os.kill(os.getpid(), signal.SIGKILL)
"""


def killed_export(path: Path, format: str, where: str) -> None:
    import subprocess

    done = subprocess.run([sys.executable, "-c", KILLED_EXPORT, str(path), format, where],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == -9, done.stderr


@pytest.mark.parametrize(("format", "name"), [("onnx", "m.onnx"), ("savedmodel", "served")])
def test_what_a_killed_export_left_is_cleared_by_the_next(runner, workspace, tmp_path, format,
                                                          name):  # fmt: skip
    """SIGKILL leaves the half-written temporary beside the destination (nothing runs to delete
    it); the next export to that destination removes it, says so, and writes the artifact."""
    target = tmp_path / name
    killed_export(target, format, "writing")
    (leftover,) = tmp_path.iterdir()
    assert leftover.name.startswith(f".{name}.tmp-")
    result = run_cli(runner, "export", workspace / "run", "--format", format, "-o", target,
                     "--no-check")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"note: removed {leftover}, left by an export (pid " in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [name, f"{name}.preprocessing.json"]


def test_a_saved_model_moved_aside_by_a_killed_export_is_put_back(runner, workspace, tmp_path):
    """Killed between moving the earlier SavedModel aside and renaming the new one into place:
    the earlier one is the only copy, so the next export puts it back rather than delete it, and
    without --force keeps it."""
    folder = tmp_path / "served"
    args = ("export", workspace / "run", "--format", "savedmodel", "-o", folder, "--no-check")
    assert run_cli(runner, *args).exit_code == 0
    (folder / "mine.txt").write_text("the earlier export's")
    killed_export(folder, "savedmodel", "replacing")
    assert not folder.exists()
    result = run_cli(runner, *args)
    assert result.exit_code == 2
    assert f"note: put {folder} back: an export (pid " in result.stderr
    assert "exists; pass --force" in result.stderr
    assert (folder / "mine.txt").read_text() == "the earlier export's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["served", "served.preprocessing.json"]


def test_a_live_exports_temporary_is_left_alone(tmp_path):
    """Another export writing to the same destination now (here, this process) keeps its
    temporary; so does anything named otherwise."""
    from layerkit.export.formats import FORMATS
    from layerkit.export.staging import clear_leftovers, staged

    target = tmp_path / "m.onnx"
    (tmp_path / ".m.onnx.tmp-abcdefgh.onnx").write_bytes(b"named otherwise")
    with staged(target, FORMATS["onnx"], replace=False) as temporary:
        temporary.write_bytes(b"being written")
        assert clear_leftovers(target) == []
        assert temporary.read_bytes() == b"being written"
    assert target.read_bytes() == b"being written"
    assert (tmp_path / ".m.onnx.tmp-abcdefgh.onnx").is_file()
