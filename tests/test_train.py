"""layerkit train, evaluate and predict on a few hundred real CIFAR-10 images."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import time

import numpy as np
import pytest

from layerkit.cli import main

from .conftest import ROOT, cifar_subset

pytestmark = pytest.mark.slow

SPEC = """\
name: tiny_cnn
input: [32, 32, 3]
layers:
  - conv2d: {filters: 16, kernel_size: 3, padding: same, use_bias: false}
  - batch_normalization
  - relu
  - max_pooling2d
  - conv2d: {filters: 32, kernel_size: 3, padding: same, use_bias: false}
  - batch_normalization
  - relu
  - global_average_pooling2d
  - dense: {units: 10, activation: softmax}
augment:
  - random_flip: {mode: horizontal}
  - random_translation: {height_factor: 0.1, width_factor: 0.1}
train:
  optimizer: {adam: {learning_rate: 0.01}}
  metrics: [accuracy, top5]
  batch_size: 32
  epochs: 8
  validation_split: 100
  seed: 1
"""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A spec and 60 real CIFAR-10 images per class (the committed sample), in a fresh folder."""
    root = tmp_path_factory.mktemp("train")
    cifar_subset(root / "cifar600.tar.gz", 60)
    (root / "tiny.yaml").write_text(SPEC, encoding="utf-8")
    return root


@pytest.fixture(autouse=True)
def in_workspace(workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    monkeypatch.setenv("LAYERKIT_CACHE", str(workspace / "cache"))


def run_cli(runner, *args):
    return runner.invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def trained(workspace):
    """One full 8-epoch run, shared by the tests that read it."""
    from click.testing import CliRunner

    cwd = os.getcwd()
    os.chdir(workspace)
    os.environ["LAYERKIT_CACHE"] = str(workspace / "cache")
    try:
        result = CliRunner().invoke(
            main, ["train", "tiny.yaml", "--data", "cifar600.tar.gz", "--out", "full"]
        )
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    return workspace / "full", result


def history(run):
    lines = (run / "history.csv").read_text().splitlines()
    header = lines[0].split(",")
    return [dict(zip(header, map(float, line.split(",")), strict=True)) for line in lines[1:]]


def test_training_learns_and_writes_the_run(trained):
    run, result = trained
    assert result.stderr.splitlines()[0].startswith(
        "training tiny_cnn on CPU (2 cores), backend tensorflow: 500 training and 100 validation "
        "images (10 classes), batch 32, epochs 1–8, augmented → full"
    )
    rows = history(run)
    assert [row["epoch"] for row in rows] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert rows[-1]["loss"] < 0.85 * rows[0]["loss"]
    # chance is 0.10; 500 images and 8 epochs are enough to be well clear of it
    assert max(row["accuracy"] for row in rows) >= 0.3
    assert max(row["val_accuracy"] for row in rows) >= 0.15
    for name in ("spec.yaml", "environment.json", "metrics.json", "state.json", "curves.png",
                 "model_best.keras", "model_last.keras", "checkpoints/epoch-0008.keras"):  # fmt: skip
        assert (run / name).is_file(), name
    assert list((run / "tensorboard").rglob("events.out.tfevents.*"))
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["epochs"] == 8
    assert metrics["best"]["val_accuracy"] == max(row["val_accuracy"] for row in rows)
    assert (run / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert not (run / "lock").exists()


def test_saved_models_are_the_spec_without_augmentation(trained):
    import keras

    from layerkit import build, load_spec

    run, _ = trained
    expected = build(load_spec("tiny.yaml")).count_params()
    for path in (run / "model_best.keras", run / "model_last.keras"):
        model = keras.saving.load_model(path)
        assert model.count_params() == expected == 16 * 27 + 64 + 32 * 144 + 128 + 330
        assert not [layer for layer in model.layers if type(layer).__name__.startswith("Random")]


def test_evaluate_the_run_agrees_with_training(runner, trained):
    run, _ = trained
    result = run_cli(runner, "evaluate", str(run), "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["n"] == 100
    best = json.loads((run / "metrics.json").read_text())["best"]
    assert data["accuracy"] == pytest.approx(best["val_accuracy"], abs=1e-6)
    assert data["loss"] == pytest.approx(best["val_loss"], rel=1e-3)
    assert set(data["per_class"]) == {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                                      "horse", "ship", "truck"}  # fmt: skip
    assert sum(map(sum, data["confusion"])) == 100
    assert (run / "confusion.png").is_file()
    flipped = json.loads(run_cli(runner, "evaluate", str(run), "--json", "--tta", "flip").stdout)
    assert flipped["tta"] == "flip" and flipped["n"] == 100


def test_predict_images(runner, trained, workspace):
    run, _ = trained
    folder = workspace / "some"
    folder.mkdir(exist_ok=True)
    with tarfile.open(workspace / "cifar600.tar.gz") as archive:
        for member in [m for m in archive.getmembers() if m.isfile()][:3]:
            (folder / member.name.replace("/", "_")).write_bytes(archive.extractfile(member).read())
    by_file = json.loads(
        run_cli(runner, "predict", str(run / "model_last.keras"), str(folder), "--json").stdout
    )["predictions"]
    assert by_file[0]["top"][0]["class"] in {"airplane", "automobile", "bird", "cat", "deer", "dog",
                                             "frog", "horse", "ship", "truck"}  # fmt: skip
    result = run_cli(runner, "predict", str(run), str(folder), "--json", "--top", "2")
    assert result.exit_code == 0
    predictions = json.loads(result.stdout)["predictions"]
    assert [p["file"].rsplit("/", 1)[1] for p in predictions] == sorted(
        p.name for p in folder.iterdir()
    )
    for prediction in predictions:
        probabilities = [top["probability"] for top in prediction["top"]]
        assert (
            len(probabilities) == 2
            and probabilities[0] >= probabilities[1]
            and sum(probabilities) <= 1
        )


def test_resumed_run_matches_an_uninterrupted_one(runner):
    assert (
        run_cli(
            runner,
            "train",
            "tiny.yaml",
            "--data",
            "cifar600.tar.gz",
            "--out",
            "part",
            "--epochs",
            "3",
        ).exit_code
        == 0
    )
    result = run_cli(runner, "train", "--resume", "part", "--epochs", "8")
    assert result.exit_code == 0, result.output
    assert "epochs 4–8" in result.stderr
    from pathlib import Path

    rows = history(Path("part"))
    assert [row["epoch"] for row in rows] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert len(list(Path("part/checkpoints").glob("*.keras"))) == 1
    # the new target is kept: a further resume without --epochs knows the run is complete
    again = run_cli(runner, "train", "--resume", "part")
    assert again.exit_code == 2
    assert again.stderr == (
        "error: the run has already finished 8 epochs; resume with --epochs N above 8 to train on\n"
    )
    refused = run_cli(runner, "train", "--resume", "part", "--batch-size", "8", "--precision",
                      "float32", "--resize")  # fmt: skip
    assert refused.exit_code == 2
    assert refused.stderr == (
        "error: a resumed run keeps its spec, data, batch size, augmentation, precision and "
        "strategy; only --epochs may change (received --batch-size, --precision, --resize)\n"
    )
    # a refused --epochs is not written down: the run still knows its 8
    fewer = run_cli(runner, "train", "--resume", "part", "--epochs", "5")
    assert "the run has already finished 8 epochs; resume with --epochs N above 8" in fewer.stderr
    assert "epochs: 8" in Path("part/spec.yaml").read_text()
    assert json.loads(Path("part/setup.json").read_text())["schedule_epochs"] == 3


def test_json_lines_for_scripts(runner, workspace):
    """train --json: a start object, one object per epoch (history.csv's row), an end object;
    nothing else on stdout. Errors are objects too, spec errors with their line."""
    result = run_cli(runner, "train", "tiny.yaml", "--data", "cifar600.tar.gz", "--out", "jsonl",
                     "--epochs", "2", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [record["event"] for record in records] == ["start", "epoch", "epoch", "end"]
    start, first, second, end = records
    assert start == {"event": "start", "spec": "tiny_cnn", "run": "jsonl", "device": "CPU "
                     f"({os.cpu_count()} cores)", "backend": "tensorflow", "train_images": 500,
                     "validation_images": 100, "classes": 10, "skipped_images": 0,
                     "batch_size": 32, "first_epoch": 1, "epochs": 2, "augment": True,
                     "dropout_until": None, "dropout_layers": 0, "schedule_epochs": None,
                     "loss": "categorical_crossentropy", "from_logits": False}  # fmt: skip
    for record, row in zip((first, second), history(workspace / "jsonl"), strict=True):
        assert {key: record[key] for key in row} == pytest.approx(row, rel=1e-6)
        assert record["epochs"] == 2
    metrics = json.loads((workspace / "jsonl" / "metrics.json").read_text())
    assert end == {"event": "end", "status": "finished", "epochs_done": 2, "run": "jsonl",
                   "best_epoch": metrics["best_epoch"], "best": metrics["best"],
                   "reason": None}  # fmt: skip
    # docs/training.md shows such a run: the same events, each with the same keys
    text = (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
    shown = text.split("```json lines\n", 1)[1].split("```", 1)[0]
    documented = [json.loads(line) for line in shown.splitlines()]
    assert [list(record) for record in documented] == [list(record) for record in records]
    assert list(documented[-1]["best"]) == list(end["best"])
    refused = run_cli(runner, "train", "--resume", "jsonl", "--json")
    assert refused.exit_code == 2
    assert json.loads(refused.stdout)["errors"][0]["message"] == (
        "the run has already finished 2 epochs; resume with --epochs N above 2 to train on"
    )
    (workspace / "typo.yaml").write_text(SPEC.replace("batch_size: 32", "batch_sise: 32"))
    refused = run_cli(runner, "train", "typo.yaml", "--data", "cifar600.tar.gz", "--json")
    assert refused.exit_code == 2
    (error,) = json.loads(refused.stdout)["errors"]
    assert (error["file"], error["line"], error["path"]) == ("typo.yaml", 19, "train.batch_sise")


def test_train_reads_the_spec_once(runner, monkeypatch):
    """The command reads and validates the spec before TensorFlow loads, and trains that plan:
    the file is read once (a spec changed meanwhile cannot split a run in two)."""
    from pathlib import Path

    reads = []
    path_open = Path.open  # read_text and read_bytes open through it too

    def counted(path, *args, **kwargs):
        if path.name == "tiny.yaml":
            reads.append(path)
        return path_open(path, *args, **kwargs)

    monkeypatch.setattr(Path, "open", counted)
    result = run_cli(runner, "train", "tiny.yaml", "--data", "cifar600.tar.gz", "--out", "once",
                     "--epochs", "1", "--plain")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(reads) == 1


def test_ctrl_c_keeps_finished_epochs_and_resumes(workspace):
    env = dict(os.environ, LAYERKIT_CACHE=str(workspace / "cache"), TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, "-m", "layerkit", "train", "tiny.yaml", "--data", "cifar600.tar.gz",
               "--out", "stopped", "--epochs", "40"]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=workspace, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    state = workspace / "stopped" / "state.json"
    deadline = time.time() + 240
    while time.time() < deadline and not (
        state.is_file() and json.loads(state.read_text())["epoch"] >= 2
    ):
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "continue with: layerkit train --resume stopped" in err
    done = json.loads(state.read_text())["epoch"]
    assert done >= 2
    assert (
        json.loads((workspace / "stopped" / "metrics.json").read_text())["status"] == "interrupted"
    )
    resumed = subprocess.run([sys.executable, "-m", "layerkit", "train", "--resume", "stopped", "--epochs", str(done + 1)],
                             cwd=workspace, env=env, capture_output=True, text=True)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    rows = history(workspace / "stopped")
    assert [row["epoch"] for row in rows] == list(range(1, done + 2))


def test_train_errors(runner, workspace, trained):  # "full" is the trained run
    result = run_cli(runner, "train", "tiny.yaml")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: no training data: give --data PATH")
    (workspace / "wide.yaml").write_text(SPEC.replace("units: 10", "units: 7"), encoding="utf-8")
    result = run_cli(runner, "train", "wide.yaml", "--data", "cifar600.tar.gz", "--out", "wide")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "wide.yaml:12:5: error: layers[8].dense: the model ends in 7 outputs but the data has 10 classes"
    )
    result = run_cli(runner, "train", "tiny.yaml", "--data", "cifar600.tar.gz", "--out", "full")
    assert "already exists and is not empty" in result.stderr
    bad = workspace / "bad_recipe.yaml"
    bad.write_text(
        SPEC.replace("{adam: {learning_rate: 0.01}}", "{adamm: {learning_rate: 0.01}}"),
        encoding="utf-8",
    )
    result = run_cli(runner, "train", str(bad.name), "--data", "cifar600.tar.gz", "--out", "bad")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "bad_recipe.yaml:17:15: error: train.optimizer: unknown optimizer 'adamm'. Did you mean 'adam'?"
    )
    # refused before anything was written: no half-made run directory is left behind
    assert not (workspace / "bad").exists() and not (workspace / "wide").exists()
    (workspace / "mine").mkdir()  # a folder the user made is kept, empty, for the next try
    result = run_cli(runner, "train", "wide.yaml", "--data", "cifar600.tar.gz", "--out", "mine")
    assert result.exit_code == 2 and "the model ends in 7 outputs" in result.stderr
    assert (workspace / "mine").is_dir() and not any((workspace / "mine").iterdir())


def test_training_does_not_touch_the_checkout():
    assert not (ROOT / "runs").exists() or not any((ROOT / "runs").iterdir())


def test_two_replica_mirrored_training_on_the_cpu(workspace):
    """--strategy mirrored over the CPU split in two: each step's batch is shared by 2 replicas."""
    env = dict(os.environ, LAYERKIT_CACHE=str(workspace / "cache"), TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-m", "layerkit", "train", "tiny.yaml", "--data", "cifar600.tar.gz",
         "--out", "mirrored", "--epochs", "2", "--strategy", "mirrored", "--cpu-replicas", "2"],
        cwd=workspace, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "mirrored strategy over 2 replicas" in result.stderr
    rows = history(workspace / "mirrored")
    assert [row["epoch"] for row in rows] == [1, 2]
    assert rows[1]["loss"] < rows[0]["loss"] * 1.05


def test_multi_worker_strategy_runs_as_a_single_worker_without_tf_config(workspace):
    env = dict(os.environ, LAYERKIT_CACHE=str(workspace / "cache"), TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("TF_CONFIG", None)
    result = subprocess.run(
        [sys.executable, "-m", "layerkit", "train", "tiny.yaml", "--data", "cifar600.tar.gz",
         "--out", "worker", "--epochs", "1", "--strategy", "multi-worker"],
        cwd=workspace, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "multi-worker strategy over 1 replica," in result.stderr
    assert (workspace / "worker" / "model_best.keras").is_file()


def test_only_the_chief_writes_the_run(monkeypatch):
    """Worker 0 (or the chief) of a multi-worker run's TF_CONFIG writes the run, also when its
    index is written as a string; a run with another strategy, or none, ignores TF_CONFIG."""
    from layerkit.training.distributed import is_chief

    cluster = {"worker": ["a:1", "b:1"]}
    for task, chief in ((None, True), ({"type": "worker", "index": 0}, True),
                        ({"type": "worker", "index": "0"}, True),
                        ({"type": "worker", "index": 1}, False)):  # fmt: skip
        config = {"cluster": cluster, "task": task} if task else {}
        monkeypatch.setenv("TF_CONFIG", json.dumps(config))
        assert is_chief("multi-worker") is chief
        assert is_chief(None) is True and is_chief("mirrored") is True
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {**cluster, "chief": ["c:1"]},
                                                "task": {"type": "worker", "index": 0}}))  # fmt: skip
    assert is_chief("multi-worker") is False


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_epoch(runner, workspace):
    (workspace / "diverge.yaml").write_text(
        SPEC.replace(
            "{adam: {learning_rate: 0.01}}",
            "{sgd: {learning_rate: 1.0e+30}}",
        ).replace("units: 10, activation: softmax", "units: 10"),
        encoding="utf-8",
    )
    result = run_cli(
        runner,
        "train",
        "diverge.yaml",
        "--data",
        "cifar600.tar.gz",
        "--out",
        "nan",
        "--epochs",
        "3",
    )
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].startswith(  # after the run's progress, on stderr too
        "error: training stopped: the loss became nan at epoch 1; no epoch finished"
    )
    metrics = json.loads((workspace / "nan" / "metrics.json").read_text())
    assert metrics["status"] == "failed" and metrics["epochs"] == 0
    assert not list((workspace / "nan").glob("checkpoints/*.keras"))


def test_a_full_disk_keeps_the_last_good_checkpoint_and_says_so(runner, workspace, monkeypatch):
    import errno

    from layerkit.runs.directory import RunDir

    real_save = RunDir.save_model

    def save_model(self, model, path):
        if path.name == "epoch-0002.keras":  # the disk fills up while writing epoch 2's checkpoint
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_save(self, model, path)

    monkeypatch.setattr(RunDir, "save_model", save_model)
    result = run_cli(
        runner,
        "train",
        "tiny.yaml",
        "--data",
        "cifar600.tar.gz",
        "--out",
        "full_disk",
        "--epochs",
        "3",
    )
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].startswith("error: training stopped: could not write ")
    assert (
        "epoch-0002.keras: No space left on device; the last good epoch (1) is kept in full_disk"
        in result.stderr
    )
    run = workspace / "full_disk"
    assert json.loads((run / "state.json").read_text())["epoch"] == 1
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["epoch-0001.keras"]
    monkeypatch.setattr(RunDir, "save_model", real_save)  # space freed: the run goes on
    resumed = run_cli(runner, "train", "--resume", "full_disk")
    assert resumed.exit_code == 0, resumed.output
    assert [row["epoch"] for row in history(run)] == [1, 2, 3]


def _object_npz(path):
    np.savez(path, x_train=np.array([object()] * 2, dtype=object), y_train=np.array([0, 1]))


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("fake.tar.gz", lambda path: path.write_text("hi\n"),
         "error: cannot read archive '{path}' (method tar: ReadError('truncated header')); "
         "give a whole .tar, .tar.gz or .zip of class folders"),
        ("fake.zip", lambda path: path.write_text("hi\n"),
         "error: cannot read archive '{path}' (File is not a zip file); give a whole .tar, "
         ".tar.gz or .zip of class folders"),
        ("fake.npz", lambda path: path.write_text("hi\n"),
         "error: cannot read '{path}' as .npz arrays (not a zip of arrays); save it with "
         "numpy.savez(path, x_train=..., y_train=...)"),
        ("objects.npz", _object_npz,
         "error: cannot read x_train from '{path}' (it holds Python objects, which are never "
         "loaded); save plain numeric arrays with numpy.savez"),
    ],
)  # fmt: skip
def test_data_that_cannot_be_read_is_one_line_and_leaves_no_run(runner, workspace, name, make,
                                                                message):  # fmt: skip
    make(workspace / name)
    result = run_cli(runner, "train", "tiny.yaml", "--data", name, "--out", "unread")
    message = message.format(path=workspace / name)  # a run keeps the data's absolute path
    assert (result.exit_code, result.stderr) == (2, message + "\n")
    assert not (workspace / "unread").exists()


def test_a_crash_before_the_first_epoch_leaves_no_run(runner, workspace, monkeypatch):
    import layerkit.training.loop

    def crash(*args, **kwargs):
        raise RuntimeError("a fault injected into loading the data")

    monkeypatch.setattr(layerkit.training.loop, "load_dataset", crash)
    with pytest.raises(RuntimeError, match="fault injected"):  # --debug: the fault goes through
        run_cli(runner, "--debug", "train", "tiny.yaml", "--data", "cifar600.tar.gz", "--out",
                "crashed")  # fmt: skip
    assert not (workspace / "crashed").exists()


def test_a_metrics_json_that_cannot_be_written_is_told_to_the_reporter(tmp_path, capsys):
    """The run's outcome comes back typed; a failed last write of metrics.json is a warning to
    the notify the caller passed, and the loop itself prints nothing."""
    from types import SimpleNamespace

    from layerkit.runs.directory import Best, RunDir
    from layerkit.training.run_callbacks import Report, finish

    run = RunDir.create("net", tmp_path / "run")
    (run.path / "metrics.json").mkdir()  # a folder where the file goes: the write fails
    row = {"epoch": 2, "loss": 0.5, "val_accuracy": 0.75, "seconds": 1.0, "images_per_second": 9.0}
    recorder = SimpleNamespace(history=[row], best=Best(0.75, 2, row), monitor="val_accuracy",
                               stopped=None, reached="val_accuracy 0.7500 reached the target",
                               control=None)  # fmt: skip
    said: list[str] = []
    result = finish(run, recorder, "finished", Report(None, "plain", said.append))
    assert (result.status, result.reason, result.epochs_done) == (
        "reached target", "val_accuracy 0.7500 reached the target", 1)  # fmt: skip
    assert (result.best_epoch, result.best_metrics) == (2, row)
    assert len(said) == 1 and said[0].startswith("warning: could not update metrics.json: ")
    assert capsys.readouterr() == ("", "")


def test_a_ctrl_c_that_python_drops_still_stops_the_run(workspace):
    """Ctrl-C landing in a finalizer (or in code that swallows every exception) used to be lost:
    the run trained to the end. The press is remembered and raised again at the next batch."""
    import keras
    from rich.console import Console

    from layerkit import load_spec
    from layerkit.training.loop import train
    from layerkit.training.start import TrainOptions, prepare

    class DroppedCtrlC(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_begin(self, batch, logs=None):
            if self.epoch == 1 and batch == 0:  # the first batch of epoch 2
                try:
                    os.kill(os.getpid(), signal.SIGINT)
                    time.sleep(2)
                except KeyboardInterrupt:
                    pass  # what Python does with an exception in a finalizer

    options = TrainOptions(data="cifar600.tar.gz", epochs=3, out=workspace / "dropped")
    with open(os.devnull, "w") as quiet:
        train(prepare(load_spec(workspace / "tiny.yaml"), options), Console(file=quiet),
              extra_callbacks=[DroppedCtrlC()])  # fmt: skip
    metrics = json.loads((workspace / "dropped" / "metrics.json").read_text())
    assert metrics["status"] == "interrupted"
    assert [row["epoch"] for row in history(workspace / "dropped")] == [1]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back
