"""kill -9 at random moments of a training run, again and again: every resume works, no file is
truncated or corrupt, and the history has no gap and no repeated epoch."""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from layerkit.runs.directory import RunDir

from .conftest import cifar_subset

pytestmark = pytest.mark.slow

KILLS = int(os.environ.get("LAYERKIT_KILLS", "8"))  # bench/kill_loop.py runs 25
EPOCHS = 60
SPEC = """\
name: kill_target
input: [32, 32, 3]
layers:
  - conv2d: {filters: 8, kernel_size: 3, padding: same, activation: relu}
  - global_average_pooling2d
  - dense: {units: 10, activation: softmax}
train:
  batch_size: 64
  validation_split: 50
"""


def check_run(run: Path) -> int:
    """Every file of the run parses, and once the run is locked again (as the next resume does
    first) model_best.keras, metrics.json, history.csv and state.json agree, nothing of an
    abandoned epoch is left; returns the last finished epoch."""
    RunDir(run).lock()
    RunDir(run).unlock()
    state = json.loads((run / "state.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    assert (metrics["epochs"], metrics["best_epoch"]) == (state["epoch"], state["best"]["epoch"])
    assert (run / "checkpoints" / state["checkpoint"]).is_file()
    with open(run / "history.csv", newline="") as file:
        epochs = [int(row["epoch"]) for row in csv.DictReader(file)]
    assert epochs == list(range(1, state["epoch"] + 1))
    assert not [p for p in run.rglob("*") if p.name.startswith(".") or ".epoch-" in p.name]
    for name in ("model_last.keras", "model_best.keras", "checkpoints/" + state["checkpoint"]):
        with open(run / name, "rb") as file:
            assert file.read(4) == b"PK\x03\x04"  # a whole zip, not a torn write
    return state["epoch"]


def kill_loop(folder: Path, kills: int, seed: int = 7) -> dict[str, int]:
    """Train, SIGKILL at a random moment, check the run, resume; ``kills`` times, then finish.

    Returns counts: kills, kills that landed during a file write (a temporary file left behind),
    kills between an epoch's first model write and state.json's taking effect (a model of an
    uncommitted epoch left behind), epochs finished, and epochs lost (finished before a kill but
    missing after it: must be 0).
    """
    cifar_subset(folder / "data.tar", 30)
    (folder / "spec.yaml").write_text(SPEC, encoding="utf-8")
    env = dict(os.environ, LAYERKIT_CACHE=str(folder / "cache"), TF_CPP_MIN_LOG_LEVEL="3")
    base = [sys.executable, "-m", "layerkit", "train"]
    first = [*base, "spec.yaml", "--data", "data.tar", "--out", "run", "--epochs", str(EPOCHS)]
    resume = [*base, "--resume", "run", "--epochs", str(EPOCHS)]
    rng = random.Random(seed)
    stats = {"kills": 0, "during_a_write": 0, "between_writes": 0, "epochs_lost": 0}
    done = 0
    for attempt in range(kills):
        process = subprocess.Popen(first if attempt == 0 else resume, cwd=folder, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        if attempt == 0:  # let the first epoch finish, so there is a run to resume
            while not (folder / "run" / "state.json").exists():
                assert process.poll() is None, process.stderr.read()
                time.sleep(0.05)
        time.sleep(rng.uniform(3.5, 6.0))  # past start-up, into epochs and their writes
        if process.poll() is not None:
            break  # finished before the kill
        process.send_signal(signal.SIGKILL)
        process.wait()
        stats["kills"] += 1
        # what a torn write leaves is a temporary, never a real file; the killed process leaves
        # its lock: the next lock sees its pid is gone, takes it over and removes temporaries
        temporaries = [p for p in (folder / "run").rglob(".*") if p.is_file()]
        stats["during_a_write"] += bool(temporaries)
        stats["between_writes"] += bool(list((folder / "run").glob("model_*.epoch-*")))
        epoch = check_run(folder / "run")
        stats["epochs_lost"] += max(0, done - epoch)
        done = epoch
    final = subprocess.run(resume, cwd=folder, env=env, capture_output=True, text=True)
    assert final.returncode in (0, 2), final.stderr  # 2: the run was already complete
    stats["epochs"] = check_run(folder / "run")
    with open(folder / "run" / "history.csv", newline="") as file:
        stats["history_rows"] = len(list(csv.DictReader(file)))
    return stats


def test_kill_9_loop_then_resume(tmp_path):
    stats = kill_loop(tmp_path, KILLS)
    assert stats["kills"] >= KILLS - 1
    assert stats["epochs_lost"] == 0
    assert stats["epochs"] == stats["history_rows"] == EPOCHS
    with open(tmp_path / "run" / "history.csv", newline="") as file:
        assert [int(row["epoch"]) for row in csv.DictReader(file)] == list(range(1, EPOCHS + 1))
