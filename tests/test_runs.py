"""Run directories: never overwritten, locked against a second writer, records written whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from layerkit.runs.directory import RunDir
from layerkit.runs.records import (
    RUN_FORMAT,
    Best,
    RunEnvironment,
    RunError,
    RunSetup,
    RunState,
)


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
    assert json.loads((run.path / "lock").read_text())["pid"] == os.getpid()
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


def test_setup_state_and_environment_round_trip(tmp_path):
    run = RunDir.create("net", tmp_path / "run")
    setup = RunSetup(source="/data/c.tar", skip_bad_images=True, augment=True,
                     mixed_precision=False, schedule_epochs=10, dropout_until=5,
                     loss="categorical_crossentropy", from_logits=False)  # fmt: skip
    state = RunState(3, "epoch-0003.keras", Best(0.5, 2, {"epoch": 2, "val_accuracy": 0.5}),
                     "val_accuracy", optimizer_steps=48)  # fmt: skip
    environment = RunEnvironment(("cat", "dog"), ("cat/bad.png",), "CPU (2 cores)",
                                 {"keras": "3.15.0", "devices": []})  # fmt: skip
    run.write_setup(setup)
    run.write_state(state)
    run.write_environment(environment)
    assert (run.read_setup(), run.read_state(), run.read_environment()) == (
        setup, state, environment)  # fmt: skip
    # the files stay plain JSON in the layout runs have always had: environment.json flat
    record = json.loads((run.path / "environment.json").read_text())
    assert record["keras"] == "3.15.0" and record["class_names"] == ["cat", "dog"]
    assert json.loads((run.path / "state.json").read_text())["best"]["epoch"] == 2
    assert json.loads((run.path / "setup.json").read_text())["version"] == RUN_FORMAT


def test_records_of_a_run_from_the_previous_layerkit_read_with_defaults(tmp_path):
    """Runs written before the records had a version lack keys added since: they read as those
    runs behaved (precision decided again, the schedule over the spec's epochs, no step count)."""
    run = RunDir.create("net", tmp_path / "run")
    run.write_json("setup.json", {"source": "cifar10", "skip_bad_images": False,
                                  "resize": False, "augment": True, "precision": "auto"})  # fmt: skip
    run.write_json("state.json", {"epoch": 1, "checkpoint": "epoch-0001.keras", "best": {}})
    run.write_json("environment.json", {"keras": "3.3.3", "class_names": ["a", "b"]})
    assert run.read_setup() == RunSetup("cifar10", augment=True, version=0)
    setup = run.read_setup()
    assert (setup.mixed_precision, setup.schedule_epochs, setup.allow_large) == (None, None, False)
    state = run.read_state()
    assert state == RunState(1, "epoch-0001.keras", Best(), None, None, version=0)
    assert not state.best.improved_by(None, "val_loss") and state.best.improved_by(9.0, "loss")
    assert run.read_environment() == RunEnvironment(("a", "b"), (), None, {"keras": "3.3.3"}, 0)


def test_a_record_without_its_required_keys_is_refused(tmp_path):
    run = RunDir.create("net", tmp_path / "run")
    run.write_json("state.json", {"best": {}})
    with pytest.raises(RunError) as caught:
        run.read_state()
    assert str(caught.value) == (
        f"{run.path / 'state.json'} lacks epoch, checkpoint; it cannot be rebuilt: restore the "
        "file from a copy, or train the spec again into a new --out"
    )


def test_best_follows_the_monitored_metric():
    best = Best(0.5, 1, {})
    assert best.improved_by(0.4, "val_loss") and not best.improved_by(0.6, "val_loss")
    assert best.improved_by(0.6, "val_accuracy") and not best.improved_by(0.5, "val_accuracy")
