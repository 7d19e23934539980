"""Multi-worker training with two real worker processes on localhost (issue 19): TensorFlow's
MultiWorkerMirroredStrategy created at the program's start, one run directory written by the
chief, and the same history as one process with the same global batch."""

from __future__ import annotations

import csv
import importlib.util
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
TIMEOUT = 240  # seconds for the pair; a worker waits 60 s for its peer (LAYERKIT_CLUSTER_TIMEOUT)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for each in sockets:
            each.bind(("localhost", 0))
        return [each.getsockname()[1] for each in sockets]
    finally:
        for each in sockets:
            each.close()


def layerkit(args: list[str], cwd: Path, env: dict[str, str],
             launch: tuple[str, ...] = ("-m", "layerkit")) -> subprocess.Popen:  # fmt: skip
    (cwd / "tmp").mkdir(exist_ok=True)  # the workers' temporary folders, to check they go
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3",
                   "LAYERKIT_CACHE": str(cwd / "cache"), "TMPDIR": str(cwd / "tmp"), **env}  # fmt: skip
    return subprocess.Popen([sys.executable, *launch, *args], cwd=cwd, env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def cluster(engine: str, index: int, ports: list[int]) -> dict[str, str]:
    """The environment that makes process ``index`` one of a two-process cluster: TF_CONFIG for
    TensorFlow, Keras's KERAS_DISTRIBUTION_* variables for JAX."""
    if engine == "tensorflow":
        workers = {"worker": [f"localhost:{port}" for port in ports]}
        task = {"type": "worker", "index": index}
        return {"TF_CONFIG": json.dumps({"cluster": workers, "task": task})}
    return {"KERAS_BACKEND": "jax", "KERAS_DISTRIBUTION_JOB_ADDRESSES": f"localhost:{ports[0]}",
            "KERAS_DISTRIBUTION_NUM_PROCESSES": "2", "KERAS_DISTRIBUTION_PROCESS_ID": str(index)}  # fmt: skip


def start_workers(args: list[str], cwd: Path, engine: str,
                  launch: tuple[str, ...] = ("-m", "layerkit")) -> list[subprocess.Popen]:  # fmt: skip
    """Two processes of one cluster on free localhost ports, each ``layerkit ARGS``."""
    ports = free_ports(2)
    return [
        layerkit(args, cwd, {**cluster(engine, i, ports), "LAYERKIT_CLUSTER_TIMEOUT": "60"}, launch)
        for i in range(2)
    ]


def run_workers(args: list[str], cwd: Path, engine: str,
                launch: tuple[str, ...] = ("-m", "layerkit")) -> list[tuple[int, str, str]]:  # fmt: skip
    """Two workers (:func:`start_workers`); their exit codes and outputs. Killed (never left
    hanging) after TIMEOUT."""
    workers = start_workers(args, cwd, engine, launch)
    try:
        outputs = [worker.communicate(timeout=TIMEOUT) for worker in workers]  # pipes drained
        return [(w.returncode, *output) for w, output in zip(workers, outputs, strict=True)]
    finally:
        for worker in workers:
            worker.kill()


def temporaries(workspace: Path) -> set[Path]:
    """What the workers' temporary folder holds: each test checks that it leaves nothing there
    (another test's leftovers are that test's failure, not this one's)."""
    (workspace / "tmp").mkdir(exist_ok=True)
    return set((workspace / "tmp").iterdir())


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


needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="no JAX here")
engines = pytest.mark.parametrize(
    "engine,strategy",
    [("tensorflow", "multi-worker"), pytest.param("jax", "data-parallel", marks=needs_jax)],
)


@engines
def test_two_workers_train_one_run_like_one_process_with_the_same_global_batch(
    workspace, engine, strategy
):
    """TensorFlow's multi-worker strategy and Keras's data-parallel distribution on JAX: two
    processes train one run, written by the chief alone, whose history is one process's with
    the same global batch; the other process's temporary copy is gone at the end."""
    args = ["train", "tiny.yaml", "--data", "c400.tar", "--strategy", strategy, "--plain"]
    pair, single = f"pair-{engine}", f"single-{engine}"
    before = temporaries(workspace)
    results = run_workers([*args, "--out", pair], workspace, engine)
    assert [code for code, _, _ in results] == [0, 0], results  # both workers' outputs
    for _, out, _ in results:
        assert out.splitlines() == [out.splitlines()[-1]]  # stdout: the result line alone
        assert out.startswith("done: 2 epochs in ")
    start = next(line for line in results[0][2].splitlines() if line.startswith("training tiny"))
    assert f"{strategy} strategy over 2 replicas on 2 " in start
    assert "of every batch of 32" in start and start.endswith(f"→ {pair}")
    shared = start.split(", ", 1)[1].split(", backend")[0]  # how the work is shared out
    if engine == "tensorflow":  # docs/distributed.md shows it
        assert shared in (ROOT / "docs" / "distributed.md").read_text(encoding="utf-8"), shared
    assert results[1][1].startswith(f"done: 2 epochs in {pair};")  # the chief's run, not its copy
    assert temporaries(workspace) == before  # worker 1's copy is gone
    backend = {"KERAS_BACKEND": engine}
    alone = layerkit([*args[:4], "--out", single, "--plain"], workspace, backend)
    output = alone.communicate(timeout=TIMEOUT)
    assert alone.returncode == 0, output
    paired, by_one = history(workspace / pair), history(workspace / single)
    assert [row["epoch"] for row in paired] == ["1", "2"]
    for mine, theirs in zip(paired, by_one, strict=True):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert float(mine[key]) == pytest.approx(float(theirs[key]), rel=1e-4), key
    assert json.loads((workspace / pair / "metrics.json").read_text())["status"] == "finished"


@engines
def test_a_killed_worker_stops_the_other_with_one_line_and_the_run_resumes(
    workspace, engine, strategy
):
    """kill -9 of worker 1 after the chief's first epoch: worker 0 exits 2 within the collective
    timeout, saying which worker stopped and how to go on; the run is interrupted, unlocked, and
    `--resume` by both workers again (the chief writing, the other from its copy) completes it."""
    (workspace / "long.yaml").write_text(SPEC.replace("epochs: 2", "epochs: 40"))
    run = f"killed-{engine}"
    args = ["train", "long.yaml", "--data", "c400.tar", "--strategy", strategy, "--plain",
            "--out", run]  # fmt: skip
    before = temporaries(workspace)
    workers = start_workers(args, workspace, engine)
    try:
        state = workspace / run / "state.json"
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
    assert last.endswith(
        f"every finished epoch is kept: continue with layerkit train --resume {run}"
    )
    metrics = json.loads((workspace / run / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and not (workspace / run / "lock").exists()
    done = json.loads(state.read_text())["epoch"]
    assert 1 <= done < 40
    resumed = run_workers(["train", "--resume", run, "--epochs", str(done + 2), "--plain"],
                          workspace, engine)  # fmt: skip
    assert [code for code, _, _ in resumed] == [0, 0], resumed
    for _, out, _ in resumed:
        assert out.startswith(f"done: {done + 2} epochs in {run};")  # worker 1 too: the run
    assert temporaries(workspace) == before  # both copies of worker 1 (killed, resumed) gone
    assert [row["epoch"] for row in history(workspace / run)] == [
        str(e) for e in range(1, done + 3)
    ]
    assert json.loads(state.read_text())["epoch"] == done + 2


@engines
def test_a_worker_whose_peer_never_comes_gives_up_with_one_line_and_no_run(
    workspace, engine, strategy
):
    """Worker 0 of two, alone: after LAYERKIT_CLUSTER_TIMEOUT seconds it is stopped with one
    line saying how to start the cluster (with --json, the JSON error on stdout), and no run
    directory is left. Neither engine can be interrupted while it waits (see
    distributed.start_strategy): a watcher process says the error and ends it (exit 137)."""
    env = {**cluster(engine, 0, free_ports(2)), "LAYERKIT_CLUSTER_TIMEOUT": "5"}
    alone = layerkit(["train", "tiny.yaml", "--data", "c400.tar", "--strategy", strategy,
                      "--out", f"alone-{engine}", "--json"], workspace, env)  # fmt: skip
    out, err = alone.communicate(timeout=TIMEOUT)
    assert alone.returncode == -9, err
    told = {"tensorflow": "start every worker with the same TF_CONFIG cluster, each with its own "
            "task index", "jax": "start every process with the same KERAS_DISTRIBUTION_JOB_ADDRESSES "
            "(process 0's address first) and KERAS_DISTRIBUTION_NUM_PROCESSES, each with its own "
            "KERAS_DISTRIBUTION_PROCESS_ID"}[engine]  # fmt: skip
    message = ("the workers did not form a cluster within 5 s (LAYERKIT_CLUSTER_TIMEOUT); "
               f"{told}")  # fmt: skip
    assert [error["message"] for error in json.loads(out)["errors"]] == [message]
    assert not (workspace / f"alone-{engine}").exists()


def test_keras_still_needs_its_two_worker_fixes(workspace):
    """layerkit replaces two functions of Keras's TensorFlow trainer for multi-worker runs
    (training/keras_multiworker.py, keras-team/keras#20585). Without them two workers fail: once
    a Keras release makes this test fail, the fixes can go."""
    unfixed = ("-c", "import sys; import layerkit.training.keras_multiworker as fixes; "
               "fixes.install = lambda: None; sys.argv[0] = 'layerkit'; "
               "from layerkit.cli import main; main()")  # fmt: skip
    args = ["train", "tiny.yaml", "--data", "c400.tar", "--strategy", "multi-worker", "--plain",
            "--out", "unfixed"]  # fmt: skip
    results = run_workers(args, workspace, "tensorflow", unfixed)
    assert all(code != 0 for code, _, _ in results), "Keras fixed #20585: remove its fixes"
    errors = " ".join(err for _, _, err in results)
    assert "PerReplica" in errors or "Invalid reduction dimension" in errors, errors[-2000:]
