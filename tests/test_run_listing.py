"""``layerkit runs`` and the ``latest`` alias, on real runs: one real training (1 epoch on 100
real CIFAR-10 images) per module, copied into runs of every status by editing their files as a
kill, a failure or damage would leave them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from layerkit.cli import main
from layerkit.runs.listing import find_runs, list_runs, resolve_latest
from layerkit.runs.records import RunError
from layerkit.runs.rounding import float32_short

from .conftest import ROOT, SMALL, cifar_subset


def run_cli(runner, *args):
    return runner.invoke(main, [str(arg) for arg in args], catch_exceptions=False)


def set_started(run, when):
    path = run / "environment.json"
    environment = json.loads(path.read_text())
    path.write_text(json.dumps({**environment, "started": when}))


def set_status(run, status):
    path = run / "metrics.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "status": status}))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """``runs/small/…``: the trained run (finished) and copies of it edited into an interrupted
    one (metrics say running, no lock), a running one (locked by this live process), a failed
    one, one of a variant, and a damaged one (state.json cut short); ``elsewhere/`` holds a run
    another --out put two levels deeper."""
    from click.testing import CliRunner

    root = tmp_path_factory.mktemp("listing")
    archive = cifar_subset(root / "c100.tar", 10)
    (root / "small.yaml").write_text(SMALL)
    first = root / "runs" / "small" / "20261201-100000"
    result = CliRunner().invoke(
        main, ["train", str(root / "small.yaml"), "--data", str(archive), "--out", str(first)],
        env={"LAYERKIT_CACHE": str(root / "cache")},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    set_started(first, "2026-12-01T10:00:00+0000")
    stamps = {"interrupted": "110000", "running": "120000", "failed": "130000",
              "variant": "140000", "damaged": "150000"}  # fmt: skip
    for stamp in stamps.values():
        copy = root / "runs" / "small" / f"20261201-{stamp}"
        shutil.copytree(first, copy)
        set_started(copy, f"2026-12-01T{stamp[:2]}:00:00+0000")
    runs = root / "runs" / "small"
    set_status(runs / "20261201-110000", "running")
    set_status(runs / "20261201-120000", "running")
    (runs / "20261201-120000" / "lock").write_text(json.dumps({"pid": os.getpid()}))
    set_status(runs / "20261201-130000", "failed")
    spec = runs / "20261201-140000" / "spec.yaml"
    spec.write_text(spec.read_text().replace("# trained from", "# trained from x.yaml --variant wide", 1))  # fmt: skip
    (runs / "20261201-150000" / "state.json").write_text('{"epoch": 1, "checkp')
    deeper = root / "elsewhere" / "a" / "b"
    shutil.copytree(first, deeper)
    set_started(deeper, "2026-12-01T09:00:00+0000")
    return root


@pytest.mark.slow
def test_runs_lists_every_run_with_its_status_sorted_by_start(runner, workspace):
    result = run_cli(runner, "runs", workspace / "runs", "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert listed["root"] == str(workspace / "runs")
    by_name = {run["path"].rsplit("/", 1)[1]: run for run in listed["runs"]}
    assert list(by_name) == [f"20261201-{h}0000" for h in ("10", "11", "12", "13", "14", "15")]
    statuses = [run["status"] for run in listed["runs"]]
    assert statuses == ["finished", "interrupted", "running", "failed", "finished", "damaged"]
    first = by_name["20261201-100000"]
    metrics = json.loads((workspace / "runs" / "small" / "20261201-100000" / "metrics.json").read_text())  # fmt: skip
    assert (first["spec"], first["epochs"], first["planned_epochs"]) == ("small", 1, 1)
    assert (first["monitor"], first["best_epoch"]) == ("val_accuracy", 1)
    assert first["best"] == metrics["best"]["val_accuracy"]
    assert first["last_val_accuracy"] == metrics["last"]["val_accuracy"]
    assert first["seconds"] == metrics["seconds"] and first["started"].startswith(
        "2026-12-01T10:00"
    )
    assert by_name["20261201-140000"]["variant"] == "wide"
    damaged = by_name["20261201-150000"]
    assert damaged["problem"].startswith(f"{workspace / 'runs' / 'small' / '20261201-150000' / 'state.json'} is not JSON")  # fmt: skip
    assert result.stderr == ""


@pytest.mark.slow
def test_runs_as_a_plain_table(runner, workspace):
    result = run_cli(runner, "runs", workspace / "runs" / "small", "--plain")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["run", "spec", "status", "epochs", "best", "last", "val_accuracy",
                                "started", "time"]  # fmt: skip
    assert len(lines) == 1 + 6 + 1  # the header, a line per run, the damaged run's problem
    finished = lines[1].split()
    assert finished[1:5] == ["small", "finished", "1/1", "val_accuracy"]
    assert "small (wide)" in lines[5] and " running " in lines[3]
    assert lines[7].startswith(f"{workspace / 'runs' / 'small' / '20261201-150000'}: ")


@pytest.mark.slow
def test_runs_searches_a_few_levels_down(workspace):
    found = list(find_runs(workspace))
    assert workspace / "elsewhere" / "a" / "b" in found and len(found) == 7
    assert [run.path for run in list_runs(workspace / "elsewhere")] == [workspace / "elsewhere" / "a" / "b"]  # fmt: skip


def test_runs_without_runs_says_so(runner, tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli(runner, "runs", empty)
    assert (result.exit_code, result.stdout) == (
        0, f"no runs in '{empty}'; train one with: layerkit train SPEC\n"
    )  # fmt: skip
    assert json.loads(run_cli(runner, "runs", empty, "--json").stdout)["runs"] == []
    monkeypatch.chdir(tmp_path)  # no ./runs at all: nothing trained yet, not an error
    assert run_cli(runner, "runs").stdout == "no runs in 'runs'; train one with: layerkit train SPEC\n"  # fmt: skip
    missing = run_cli(runner, "runs", tmp_path / "nothere")
    assert (missing.exit_code, missing.stdout) == (2, "")
    assert missing.stderr == (
        f"error: '{tmp_path / 'nothere'}' does not exist; give the folder your runs are in "
        "(layerkit train writes them to ./runs, or to --out)\n"
    )


@pytest.mark.slow
def test_runs_does_not_import_tensorflow(workspace):
    code = (
        "import sys\nfrom layerkit.cli import main\n"
        f"main(['runs', {str(workspace / 'runs')!r}, '--json'], standalone_mode=False)\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["runs"]) == 6


# -- latest ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_latest_is_the_most_recently_started_run(workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    said = []
    latest = resolve_latest(__import__("pathlib").Path("latest"), said.append)
    assert latest.name == "20261201-150000"
    assert said == [f"latest → {latest}"]
    spec_latest = resolve_latest(__import__("pathlib").Path("runs/small/latest"))
    assert spec_latest == latest
    assert resolve_latest(workspace / "elsewhere" / "latest") == workspace / "elsewhere" / "a" / "b"


@pytest.mark.slow
def test_evaluate_and_predict_take_latest(runner, workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERKIT_CACHE", str(workspace / "cache"))
    root = tmp_path / "runs" / "small"
    root.mkdir(parents=True)
    shutil.copytree(workspace / "runs" / "small" / "20261201-100000", root / "20261201-100000")
    shutil.copytree(workspace / "elsewhere" / "a" / "b", root / "20261201-090000")
    monkeypatch.chdir(tmp_path)
    result = run_cli(runner, "evaluate", "latest", "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == "latest → runs/small/20261201-100000"
    best = json.loads((root / "20261201-100000" / "metrics.json").read_text())["best"]
    assert json.loads(result.stdout)["accuracy"] == pytest.approx(best["val_accuracy"], abs=1e-6)
    image = tmp_path / "one.jpg"
    from .conftest import cifar_files

    image.write_bytes(cifar_files(1)[0][1])
    predicted = run_cli(runner, "predict", "runs/small/latest", image, "--json")
    assert predicted.exit_code == 0, predicted.output
    assert predicted.stderr.splitlines()[0] == "runs/small/latest → runs/small/20261201-100000"
    assert len(json.loads(predicted.stdout)["predictions"]) == 1


@pytest.mark.slow
def test_train_resume_takes_latest(runner, workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERKIT_CACHE", str(workspace / "cache"))
    run = tmp_path / "runs" / "small" / "20261201-100000"
    shutil.copytree(workspace / "runs" / "small" / "20261201-100000", run)
    monkeypatch.chdir(tmp_path)
    result = run_cli(runner, "train", "--resume", "latest", "--epochs", "2")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == "latest → runs/small/20261201-100000"
    assert "done: 2 epochs in runs/small/20261201-100000" in result.stdout
    assert json.loads((run / "state.json").read_text())["epoch"] == 2


def test_a_folder_named_latest_wins_and_no_run_is_one_line(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli(runner, "evaluate", "latest")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "error: 'latest': there is no folder 'runs' to take the latest run from; train a run "
        "first (layerkit train SPEC), or give the run's folder\n"
    )
    (tmp_path / "runs").mkdir()
    result = run_cli(runner, "train", "--resume", "runs/latest")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: 'runs/latest': no run under 'runs' to take as the latest; train one first "
        "(layerkit train SPEC), or give the run's folder (layerkit runs lists them)\n"
    )
    (tmp_path / "latest").mkdir()  # a real folder named latest is the folder, not the alias
    path = __import__("pathlib").Path("latest")
    assert resolve_latest(path) == path
    with pytest.raises(RunError):
        resolve_latest(__import__("pathlib").Path("runs/latest"))


# -- numbers in run files ------------------------------------------------------------------------


@pytest.mark.slow
def test_run_files_hold_float32_numbers_at_their_shortest(workspace):
    run = workspace / "runs" / "small" / "20261201-100000"
    import numpy as np

    header, row = (run / "history.csv").read_text().splitlines()
    values = dict(zip(header.split(","), row.split(","), strict=True))
    for key in ("accuracy", "loss", "val_accuracy", "val_loss", "lr"):
        text = values[key]
        assert len(text.replace("-", "").replace(".", "").lstrip("0")) <= 9, (key, text)
        assert str(np.float32(text)) == text or float(np.float32(text)) == float(text), (key, text)
    assert values["lr"] == "0.001"
    metrics = json.loads((run / "metrics.json").read_text())
    state = json.loads((run / "state.json").read_text())
    # state.json keeps the exact float32 values a resume compares with; metrics.json the short ones
    assert np.float32(metrics["best"]["val_loss"]) == np.float32(
        state["best"]["metrics"]["val_loss"]
    )
    assert metrics["best"]["lr"] == 0.001 and state["best"]["metrics"]["lr"] == float(
        np.float32(0.001)
    )


def test_float32_short_loses_nothing():
    import numpy as np

    assert float32_short(0.2133333384990692) == 0.21333334
    assert float32_short({"a": [0.15000000596046448, 1.451, 3, True]}) == {
        "a": [0.15, 1.451, 3, True]
    }
    assert float32_short(float("nan")) != float32_short(float("nan"))  # left as it is
    rng = np.random.default_rng(0)
    scales = 10.0 ** rng.integers(-30, 30, 2000)
    for value in (rng.standard_normal(2000) * scales).astype(np.float32):
        short = float32_short(float(value))
        assert np.float32(short) == value and len(repr(short)) <= len(repr(float(value)))


@pytest.mark.slow
@pytest.mark.parametrize("width", [80, 120])
def test_runs_on_a_terminal_wraps_and_keeps_every_column(workspace, width):
    import io

    from rich.console import Console

    from layerkit.console.run_table import HEADER, render_table

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=True, color_system=None)
    console.print(render_table(list_runs(workspace / "runs")))
    text = buffer.getvalue()
    assert max(len(line) for line in text.splitlines()) <= width
    squeezed = "".join(text.split())
    for word in ("finished", "interrupted", "running", "failed", "damaged", "small(wide)"):
        assert word in squeezed
    assert all(name.split()[0] in text for name in HEADER)
