"""Run directories: never overwritten, locked against a second writer, records written whole."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from layerkit.training.runs import RunDir, RunError


def test_an_existing_run_is_never_reused(tmp_path):
    run = RunDir.create("net", tmp_path / "run")
    (run.path / "history.csv").write_text("epoch\n1\n")
    with pytest.raises(RunError, match="already exists and is not empty"):
        RunDir.create("net", tmp_path / "run")
    assert (run.path / "history.csv").read_text() == "epoch\n1\n"


def test_default_run_folders_never_collide(tmp_path):
    first = RunDir.create("net", root=tmp_path)
    (first.path / "x").write_text("x")
    second = RunDir.create("net", root=tmp_path)
    assert first.path != second.path and first.path.parent == second.path.parent


def test_a_live_writer_keeps_the_lock_a_dead_one_does_not(tmp_path):
    run = RunDir.create("net", tmp_path / "run")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run.path / "lock").write_text(str(sleeper.pid))
        with pytest.raises(
            RunError, match=f"another process \\(pid {sleeper.pid}\\) is writing to"
        ):
            run.lock()
    finally:
        sleeper.kill()
        sleeper.wait()
    run.lock()  # the holder died: its lock is taken over
    assert (run.path / "lock").read_text() == str(os.getpid())
    run.unlock()
    assert not (run.path / "lock").exists()


def test_history_round_trip_and_atomic_json(tmp_path):
    run = RunDir.create("net", tmp_path / "run")
    rows = [{"epoch": 1, "loss": 2.5, "lr": 0.001}, {"epoch": 2, "loss": 2.25, "lr": 0.001}]
    run.write_history(rows)
    assert run.read_history() == rows
    run.write_json("state.json", {"epoch": 2})
    assert run.read_json("state.json") == {"epoch": 2}
    assert sorted(p.name for p in run.path.iterdir()) == ["history.csv", "state.json"]


def test_atomic_writes_get_the_same_permissions_as_ordinary_files(tmp_path):
    from layerkit.files import write_text_atomically

    ordinary = tmp_path / "ordinary.txt"
    ordinary.write_text("x")
    write_text_atomically(tmp_path / "atomic.txt", "x")
    assert (tmp_path / "atomic.txt").stat().st_mode == ordinary.stat().st_mode
