"""Multi-worker training with two real worker processes on localhost (issue 19): TensorFlow's
MultiWorkerMirroredStrategy created at the program's start, one run directory written by the
chief, and the same history as one process with the same global batch."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import ROOT, cifar_subset

pytestmark = pytest.mark.slow

SPEC = """\
name: tiny
input: [32, 32, 3]
layers:
  - conv2d: {filters: 8, kernel_size: 3, padding: same, activation: relu}
  - global_average_pooling2d
  - dense: {units: 10, activation: softmax}
train:
  batch_size: 32
  epochs: 2
  validation_split: 80
"""
TIMEOUT = 240  # seconds for the pair; a worker waits 30 s for its peer (LAYERKIT_CLUSTER_TIMEOUT)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for each in sockets:
            each.bind(("localhost", 0))
        return [each.getsockname()[1] for each in sockets]
    finally:
        for each in sockets:
            each.close()


def layerkit(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3",
                   "LAYERKIT_CACHE": str(cwd / "cache"), **env}  # fmt: skip
    return subprocess.Popen([sys.executable, "-m", "layerkit", *args], cwd=cwd, env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def start_workers(args: list[str], cwd: Path) -> list[subprocess.Popen]:
    """Two workers of one TF_CONFIG cluster on free localhost ports, each ``layerkit ARGS``."""
    ports = free_ports(2)
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    return [
        layerkit(args, cwd, {
            "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}),
            "LAYERKIT_CLUSTER_TIMEOUT": "30",
        })
        for i in range(2)
    ]  # fmt: skip


def run_workers(args: list[str], cwd: Path) -> list[tuple[int, str, str]]:
    """Two workers (:func:`start_workers`); their exit codes and outputs. Killed (never left
    hanging) after TIMEOUT."""
    workers = start_workers(args, cwd)
    try:
        outputs = [worker.communicate(timeout=TIMEOUT) for worker in workers]  # pipes drained
        return [(w.returncode, *output) for w, output in zip(workers, outputs, strict=True)]
    finally:
        for worker in workers:
            worker.kill()


def history(run: Path) -> list[dict[str, str]]:
    with (run / "history.csv").open() as rows:
        return [{k: v for k, v in row.items() if k not in ("seconds", "images_per_second")}
                for row in csv.DictReader(rows)]  # fmt: skip


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("multiworker")
    cifar_subset(root / "c400.tar", 40)
    (root / "tiny.yaml").write_text(SPEC)
    return root


def test_two_workers_train_one_run_like_one_process_with_the_same_global_batch(workspace):
    args = ["train", "tiny.yaml", "--data", "c400.tar", "--strategy", "multi-worker", "--plain"]
    results = run_workers([*args, "--out", "pair"], workspace)
    for code, out, err in results:
        assert code == 0, out + err
        assert out.splitlines()[-1].startswith("done: 2 epochs in ")
    assert "multi-worker strategy over 2 replicas" in results[0][2]
    single = layerkit([*args[:4], "--out", "single", "--plain"], workspace, {})
    output = single.communicate(timeout=TIMEOUT)
    assert single.returncode == 0, output
    paired, alone = history(workspace / "pair"), history(workspace / "single")
    assert [row["epoch"] for row in paired] == ["1", "2"]
    for mine, theirs in zip(paired, alone, strict=True):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert float(mine[key]) == pytest.approx(float(theirs[key]), rel=1e-4), key
    assert json.loads((workspace / "pair" / "metrics.json").read_text())["status"] == "finished"


def test_a_killed_worker_stops_the_other_with_one_line_and_the_run_resumes(workspace):
    """kill -9 of worker 1 after the chief's first epoch: worker 0 exits 2 within the collective
    timeout, saying which worker stopped and how to go on; the run is interrupted, unlocked, and
    `--resume` (one process here) completes it."""
    (workspace / "long.yaml").write_text(SPEC.replace("epochs: 2", "epochs: 40"))
    args = ["train", "long.yaml", "--data", "c400.tar", "--strategy", "multi-worker", "--plain",
            "--out", "killed"]  # fmt: skip
    workers = start_workers(args, workspace)
    try:
        state = workspace / "killed" / "state.json"
        deadline = time.monotonic() + 120
        while not state.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert state.is_file(), "the chief finished no epoch"
        workers[1].kill()
        killed_at = time.monotonic()
        _, err = workers[0].communicate(timeout=TIMEOUT)
        waited = time.monotonic() - killed_at
    finally:
        for worker in workers:
            worker.kill()
            worker.communicate()
    assert workers[0].returncode == 2 and waited < 60, (waited, err)
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: a worker of the cluster stopped (")
    assert last.endswith("every finished epoch is kept: continue with layerkit train --resume "
                         "killed")  # fmt: skip
    metrics = json.loads((workspace / "killed" / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and not (workspace / "killed" / "lock").exists()
    done = json.loads(state.read_text())["epoch"]
    assert 1 <= done < 40
    resumed = layerkit(["train", "--resume", "killed", "--epochs", str(done + 2), "--plain"],
                       workspace, {})  # fmt: skip
    out, err = resumed.communicate(timeout=TIMEOUT)
    assert resumed.returncode == 0, out + err
    assert out.splitlines()[-1].startswith(f"done: {done + 2} epochs in killed")
