"""What each process does with every batch under data-parallel training, the strategies each
engine takes, and ``layerkit.train`` (the command as a call) — in one process. Two real processes
are tests/test_multiworker.py."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from layerkit.training.batches import EpochBatches, ValidationBatches, steps_per_epoch
from layerkit.training.distributed import Share

from .conftest import ROOT, SMALL, cifar_subset

needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="no JAX here")
DOC = (ROOT / "docs" / "distributed.md").read_text(encoding="utf-8")


def test_each_process_takes_its_contiguous_slice_of_every_batch_and_together_they_are_the_batch():
    x = np.arange(10)[:, None].astype("float32")
    y = np.arange(10).astype("float32")
    alone = EpochBatches(x, y, batch_size=4, seed=3, first_epoch=0)
    parts = [EpochBatches(x, y, 4, 3, 0, Share(i, 2, 2)) for i in range(2)]
    # 10 images in batches of 4: 4, 4, 2 — each batch splits evenly over 2 devices
    assert alone.steps == parts[0].steps == 3
    for step in range(6):  # two epochs of the endless stream
        together = np.concatenate([part[step][1] for part in parts])
        assert together.tolist() == alone[step][1].tolist()


def test_a_last_batch_that_does_not_split_over_the_devices_is_cut_to_what_does():
    assert steps_per_epoch(9, 4, Share(0, 1, 1)) == 3  # a single device takes any size
    assert steps_per_epoch(9, 4, Share(0, 1, 2)) == 2  # 1 left over: that image sits out
    assert steps_per_epoch(11, 4, Share(0, 1, 2)) == 3  # 3 left over: 2 of them train
    x = np.arange(11)[:, None].astype("float32")
    batches = EpochBatches(x, x[:, 0], 4, 0, 0, Share(1, 2, 2))
    order = batches.order(0)
    assert batches[2][1].tolist() == [float(order[9])]  # process 1's half of [order[8], order[9]]
    assert batches[3][1].tolist() == x[batches.order(1)[2:4], 0].tolist()  # epoch 2 starts


def test_validation_batches_fill_the_last_one_with_copies_weighted_zero():
    x = np.arange(7)[:, None].astype("float32")
    y = np.arange(7).astype("float32")
    parts = [ValidationBatches(x, y, 4, Share(i, 2, 2)) for i in range(2)]
    assert len(parts[0]) == 2
    assert [part[0][1].tolist() for part in parts] == [[0, 1], [2, 3]]
    assert [part[1][1].tolist() for part in parts] == [[4, 5], [6, 4]]
    assert [part[1][2].tolist() for part in parts] == [[1, 1], [1, 0]]  # the copy counts 0


def layerkit(
    args: list[str], cwd: Path, backend: str = "tensorflow"
) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": backend,
           "LAYERKIT_CACHE": str(cwd / "cache")}  # fmt: skip
    return subprocess.run([sys.executable, "-m", "layerkit", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("distributed")
    cifar_subset(root / "c200.tar", 20)
    (root / "small.yaml").write_text(SMALL.replace("validation_split: 20", "validation_split: 25"))
    return root


@pytest.mark.slow
def test_data_parallel_is_refused_on_tensorflow_and_multi_worker_on_jax(workspace):
    refused = layerkit(["train", "small.yaml", "--data", "c200.tar", "--strategy",
                        "data-parallel"], workspace)  # fmt: skip
    assert refused.returncode == 2
    message = refused.stderr.strip().splitlines()[-1]
    assert message == (
        "error: --strategy data-parallel is Keras's distribution API, which runs on JAX; this run "
        "uses tensorflow: set KERAS_BACKEND=jax, or use --strategy mirrored / multi-worker on "
        "TensorFlow"
    )
    assert f"```text\n{message}\n```" in DOC  # docs/distributed.md shows it as it is
    assert not (workspace / "runs").exists()
    if importlib.util.find_spec("jax") is None:
        return
    refused = layerkit(["train", "small.yaml", "--data", "c200.tar", "--strategy", "mirrored"],
                       workspace, "jax")  # fmt: skip
    assert refused.stderr.strip().splitlines()[-1] == (
        "error: --strategy mirrored needs the TensorFlow backend (tf.distribute); this run uses "
        "jax: use --strategy data-parallel on JAX"
    )


@pytest.mark.slow
@needs_jax
def test_data_parallel_on_two_cpu_devices_counts_every_validation_image_once(workspace):
    """175 training and 25 validation images over 2 devices (JAX): 25 does not split in two, so
    the last validation batch gets a copy weighted 0; the run's val_accuracy is then what
    `layerkit evaluate` measures on the same 25 images in one plain process."""
    trained = layerkit(["train", "small.yaml", "--data", "c200.tar", "--strategy", "data-parallel",
                        "--cpu-replicas", "2", "--out", "dp", "--plain"], workspace, "jax")  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert "data-parallel strategy over 2 replicas, backend jax" in trained.stderr
    with (workspace / "dp" / "history.csv").open() as rows:
        accuracy = float(list(csv.DictReader(rows))[-1]["val_accuracy"])
    measured = layerkit(["evaluate", "dp", "--json"], workspace, "jax")
    assert measured.returncode == 0, measured.stderr
    result = json.loads(measured.stdout)
    assert result["n"] == 25
    assert accuracy == pytest.approx(result["accuracy"], abs=1e-6)
    tta = layerkit(["train", "small.yaml", "--data", "c200.tar", "--strategy", "data-parallel",
                    "--cpu-replicas", "2", "--set", "+train.tta=flip", "--out", "tta"],
                   workspace, "jax")  # fmt: skip
    assert tta.returncode == 2 and "train.tta is not measured under --strategy" in tta.stderr
    assert not (workspace / "tta").exists()
    (workspace / "whiten.yaml").write_text(
        (workspace / "small.yaml").read_text() + "  init: {whiten: true}\n"
    )
    whiten = layerkit(["train", "whiten.yaml", "--data", "c200.tar", "--strategy", "data-parallel",
                       "--cpu-replicas", "2", "--out", "whiten"], workspace, "jax")  # fmt: skip
    assert whiten.returncode == 2 and whiten.stderr.strip().splitlines()[-1] == (
        "whiten.yaml:11:9: error: train.init.whiten: init.whiten is not measured "
        "under --strategy data-parallel over several devices yet. Remove 'whiten: true' (dirac: "
        "true works), or train on one device."
    )
    assert not (workspace / "whiten").exists()
    resumed = layerkit(["train", "--resume", "dp", "--epochs", "2"], workspace)  # TensorFlow
    assert resumed.returncode == 2 and resumed.stderr.strip().splitlines()[-1] == (
        "error: this run trains with --strategy data-parallel, which runs on jax, and this "
        "process uses tensorflow: resume it with KERAS_BACKEND=jax"
    )


@pytest.mark.slow
def test_layerkit_train_is_the_command_as_a_call(workspace, capfd):
    code = (
        "import layerkit; r = layerkit.train('small.yaml', data='c200.tar', out='called', "
        "progress=False); print(r.status, r.epochs_done, r.run.path.name, r.best_epoch)"
    )
    called = subprocess.run([sys.executable, "-c", code], cwd=workspace, capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)  # fmt: skip
    assert called.stdout.split() == ["finished", "1", "called", "1"], called.stderr
    assert (workspace / "called" / "model_best.keras").is_file()
    late = (
        "import json, os, tensorflow as tf; tf.constant(1.0); "
        "os.environ['TF_CONFIG'] = json.dumps({'cluster': {'worker': ['localhost:1', "
        "'localhost:2']}, 'task': {'type': 'worker', 'index': 0}}); import layerkit\n"
        "try: layerkit.train('small.yaml', data='c200.tar', out='late', strategy='multi-worker')\n"
        "except layerkit.errors.TrainError as error: print(error)"
    )
    started = subprocess.run([sys.executable, "-c", late], cwd=workspace, capture_output=True,
                             text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)  # fmt: skip
    assert started.stdout.startswith("the strategy could not be made ("), started.stderr
    assert started.stdout.rstrip().endswith(
        "call layerkit.train before anything else in this process uses TensorFlow"
    )
    assert started.stdout.rstrip() in DOC  # docs/distributed.md shows it as it is
    assert not (workspace / "late").exists()


def test_copies_left_by_killed_workers_go_when_the_next_worker_starts(tmp_path, monkeypatch):
    """A worker other than the chief keeps its copy in a temporary folder, removed when it ends;
    one that was killed cannot remove it, so the next worker on the machine does: a copy whose
    lock names a dead process goes, a live one's stays."""
    from layerkit.runs.lock import Owner, this_process, try_create
    from layerkit.training.loop import _worker_folder

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    left, resumed, running = (tmp_path / f"layerkit-worker-{n}" for n in ("a", "b", "c"))
    for folder in (left, resumed / "run", running):
        folder.mkdir(parents=True)
    gone = Owner(int(dead.stdout), this_process().host)
    try_create(left / "lock", gone)
    try_create(resumed / "run" / "lock", gone)  # a resumed run's copy sits one level down
    try_create(running / "lock", this_process())
    new = _worker_folder()
    assert new.parent == tmp_path and new.name.startswith("layerkit-worker-")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([running.name, new.name])


def test_a_worker_copies_the_run_while_the_chief_takes_it(tmp_path, monkeypatch):
    """On --resume every worker starts at once: while a worker copies the run, the chief writes
    its lock, settles a killed epoch's models and records the new --epochs, each through a
    temporary renamed into place. A temporary listed and gone before its turn, or a model renamed
    under the copy, is left out of the copy instead of stopping the worker (and the cluster)."""
    import threading

    from layerkit.errors import TrainError
    from layerkit.files import write_text_atomically
    from layerkit.training.loop import _worker_copy

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    for name in ("spec.yaml", "setup.json", "state.json", "history.csv", "checkpoints/e.keras"):
        (run / name).write_text(name * 2000)
    (run / "lock").write_text("pid 1")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    writing = threading.Event()

    def chief() -> None:
        epoch = 0
        while not writing.is_set():
            write_text_atomically(run / "spec.yaml", "epochs: 12\n" * 500)
            epoch += 1  # each epoch's model is written under its own name, then renamed
            (run / f"model_last.epoch-{epoch:04d}.keras").write_bytes(b"k" * 20000)
            os.replace(run / f"model_last.epoch-{epoch:04d}.keras", run / "model_last.keras")

    writer = threading.Thread(target=chief)
    writer.start()
    try:
        copies = [_worker_copy(run) for _ in range(60)]
    finally:
        writing.set()
        writer.join()
    for copy in copies:
        names = sorted(str(p.relative_to(copy)) for p in copy.rglob("*"))
        assert {"spec.yaml", "state.json", "checkpoints/e.keras"} <= set(names), names
        assert "lock" not in names and not [n for n in names if ".tmp-" in n], names
        assert (copy / "spec.yaml").read_text() in ("spec.yaml" * 2000, "epochs: 12\n" * 500)
    (run / "broken").symlink_to(tmp_path / "nowhere")  # a file that cannot be read at all
    before = sorted((tmp_path / "tmp").iterdir())
    with pytest.raises(TrainError, match=r"^could not copy the run '.+/run' for this worker to "
                       r"resume from \(\[Errno 2\] No such file or directory: '.+/run/broken'\); check that it is readable and that "
                       r".+/tmp \(TMPDIR\) has room for it$"):  # fmt: skip
        _worker_copy(run)
    assert sorted((tmp_path / "tmp").iterdir()) == before  # its half-made copy is gone


def test_a_cluster_timeout_that_is_not_a_number_of_seconds_is_refused(monkeypatch):
    from layerkit.errors import TrainError
    from layerkit.training.distributed import cluster_timeout

    monkeypatch.setenv("LAYERKIT_CLUSTER_TIMEOUT", "1m")
    with pytest.raises(TrainError, match=r"^LAYERKIT_CLUSTER_TIMEOUT is '1m'; give a whole number"):
        cluster_timeout()
    monkeypatch.setenv("LAYERKIT_CLUSTER_TIMEOUT", "45")
    assert cluster_timeout() == 45


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("{bad", "TF_CONFIG is not JSON (Expecting property name enclosed in double quotes: "
                 "line 1 column 2 (char 1)); "),
        ('{"cluster": {"worker": ["a:1", "b:1"]}}',
         "TF_CONFIG names a cluster but not this worker's task in it; "),
        ('{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 2}}',
         "TF_CONFIG's task is worker 2, but its cluster has 2 workers (numbered from 0); "),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}',
         'TF_CONFIG\'s task {"type": "chief", "index": 0} is not one of its cluster\'s; '),
    ],
)  # fmt: skip
def test_a_tf_config_tensorflow_would_refuse_is_one_line_with_an_example(
    monkeypatch, config, message
):
    from layerkit.errors import TrainError
    from layerkit.training.distributed import tf_config

    monkeypatch.setenv("TF_CONFIG", config)
    with pytest.raises(TrainError) as raised:
        tf_config()
    assert str(raised.value) == message + (
        'TF_CONFIG must be JSON like {"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
        '"task": {"type": "worker", "index": 0}} (docs/distributed.md)'
    )


@pytest.mark.slow
def test_options_that_cannot_work_together_are_refused_before_training(workspace):
    """--cpu-replicas without a strategy that uses it, a SPEC with --resume, and a batch that
    does not split over the devices (JAX)."""
    args = ["train", "small.yaml", "--data", "c200.tar"]
    alone = layerkit([*args, "--cpu-replicas", "2", "--out", "split"], workspace)
    assert alone.stderr.strip().splitlines()[-1] == (
        "error: --cpu-replicas splits the CPU into devices for --strategy mirrored (TensorFlow) "
        "or data-parallel (JAX); give one of them, or leave --cpu-replicas out"
    )
    both = layerkit(["train", "small.yaml", "--resume", "."], workspace)
    assert both.stderr.strip() == (
        "error: give a SPEC to train or --resume RUN_DIR, not both (received small.yaml)"
    )
    assert alone.returncode == both.returncode == 2
    assert not (workspace / "split").exists()
    if importlib.util.find_spec("jax") is None:
        return
    uneven = layerkit([*args, "--strategy", "data-parallel", "--cpu-replicas", "3", "--out",
                       "uneven"], workspace, "jax")  # fmt: skip
    assert uneven.returncode == 2 and uneven.stderr.strip().splitlines()[-1] == (
        "error: batch 50 does not split evenly over 3 devices, as --strategy data-parallel "
        "needs: use a multiple of 3, such as --batch-size 48"
    )
    assert not (workspace / "uneven").exists()
