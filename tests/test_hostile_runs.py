"""Run directories under attack (issue 15): every run can be continued or cleaned.

Racing processes get the lock one at a time; a dead owner's lock is taken over; names and --out
values never put a run outside where it belongs; spec.yaml reads back what --set gave; a kill -9
at chosen points of an epoch's writes leaves model_best.keras, metrics.json and state.json
agreeing; a run killed before its first epoch resumes from the start or is reused as --out; and
every hand-damaged file is one line naming it — for train --resume and for evaluate.

The fast tests need no TensorFlow; the slow ones train a tiny spec on the committed real images.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from layerkit.runs.directory import RunDir
from layerkit.runs.records import Best, RunError, RunState
from layerkit.runs.spec_yaml import dump_spec

from .conftest import ROOT, cifar_subset

# -- the lock ---------------------------------------------------------------------------------------

RACE = """
import os, sys
from pathlib import Path
from layerkit.runs.directory import RunDir
from layerkit.runs.records import RunError

root, trials = Path(sys.argv[1]), int(sys.argv[2])
held = []
for trial in range(trials):
    folder = root / str(trial)
    folder.mkdir()
    go_read, go_write = os.pipe()
    out_read, out_write = os.pipe()
    done_read, done_write = os.pipe()
    children = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            os.read(go_read, 1)  # both start together
            try:
                RunDir(folder).lock()
                os.write(out_write, b"1")
            except RunError:
                os.write(out_write, b"0")
            os.read(done_read, 1)  # the holder keeps the lock until both have answered
            os._exit(0)
        children.append(pid)
    os.write(go_write, b"xx")
    answers = os.read(out_read, 1) + os.read(out_read, 1)
    os.write(done_write, b"xx")
    for pid in children:
        os.waitpid(pid, 0)
    held.append(answers.count(b"1"))
print(",".join(map(str, held)))
"""


def test_two_racing_processes_never_both_hold_the_lock(tmp_path):
    """The lock is created with its owner in it in one step: of two processes started together,
    exactly one holds it, every time (the lock created empty and filled after: both, at times)."""
    result = subprocess.run([sys.executable, "-c", RACE, str(tmp_path), "50"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    held = [int(count) for count in result.stdout.strip().split(",")]
    assert held == [1] * 50


def test_a_lock_records_its_owner_and_a_dead_owners_lock_is_taken_over(tmp_path):
    run = RunDir.create("net", tmp_path / "run")
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True)  # fmt: skip
    dead = int(ended.stdout)
    (run.path / "lock").write_text(json.dumps({"pid": dead, "host": os.uname().nodename,
                                               "started": "2026-01-01 00:00:00"}))  # fmt: skip
    said: list[str] = []
    run.lock(said.append)
    assert said == [
        f"note: took over the lock of '{run.path}' left by pid {dead} on {os.uname().nodename} "
        "since 2026-01-01 00:00:00, which has ended"
    ]
    owner = json.loads((run.path / "lock").read_text())
    assert (owner["pid"], owner["host"]) == (os.getpid(), os.uname().nodename)
    assert owner["started"] and owner["process_start"] > 0
    run.unlock()
    assert not (run.path / "lock").exists()


def test_a_reused_pid_or_an_empty_lock_does_not_keep_a_run_locked(tmp_path):
    """A live pid that started after the lock was taken is another process; an empty lock
    (written by a layerkit that created it empty, then killed) names no one."""
    run = RunDir.create("net", tmp_path / "run")
    (run.path / "lock").write_text(json.dumps({"pid": os.getppid(), "host": os.uname().nodename,
                                               "process_start": 1}))  # fmt: skip
    run.lock()
    run.unlock()
    (run.path / "lock").write_text("")
    said: list[str] = []
    run.lock(said.append)
    assert said == [f"note: took over the lock of '{run.path}' left by no process recorded, "
                    "which has ended"]  # fmt: skip
    run.unlock()


def test_a_lock_held_elsewhere_or_a_folder_is_a_clear_error(tmp_path):
    run = RunDir.create("net", tmp_path / "run")
    (run.path / "lock").write_text(json.dumps({"pid": 12, "host": "gpu-7", "started": "noon"}))
    with pytest.raises(RunError) as caught:
        run.lock()
    assert str(caught.value) == (
        f"'{run.path}' is locked by pid 12 on gpu-7 since noon; if that process is gone, delete "
        f"{run.path / 'lock'}"
    )
    (run.path / "lock").unlink()
    (run.path / "lock").mkdir()
    with pytest.raises(RunError) as caught:
        run.lock()
    assert str(caught.value) == (
        f"'{run.path / 'lock'}' is a folder, not a layerkit lock; remove it (rmdir) if no "
        "process is using the run"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_run_directory_cannot_be_locked_and_says_so(tmp_path):
    run = RunDir.create("net", tmp_path / "run")
    run.path.chmod(0o555)
    try:
        with pytest.raises(RunError) as caught:
            run.lock()
    finally:
        run.path.chmod(0o755)
    assert str(caught.value) == (
        f"cannot lock '{run.path}': permission denied; the run directory must be writable to "
        "train in it"
    )


# -- where runs go ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../../../x", "/tmp/escaped", "cifar/v2", "..", "", "a\\b"])
def test_a_spec_name_never_puts_a_run_outside_runs(tmp_path, name):
    with pytest.raises(RunError) as caught:
        RunDir.create(name, root=tmp_path / "runs")
    assert str(caught.value) == (
        f"the spec's name {json.dumps(name)} cannot name a folder inside '{tmp_path / 'runs'}': "
        "rename it (letters, digits, '_', '-' and '.'), or give --out"
    )
    assert not (tmp_path / "x").exists() and not Path("/tmp/escaped").exists()


def test_odd_out_values_are_one_line_each(tmp_path):
    (tmp_path / "file").write_text("x")
    cases = {
        tmp_path / "file": f"'{tmp_path / 'file'}' is a file, not a folder; choose another --out",
        tmp_path / "file" / "run": f"cannot create the run directory '{tmp_path / 'file' / 'run'}'"
        ": not a directory; choose another --out",
        tmp_path / "a\0b": f"cannot create the run directory '{tmp_path / 'a'}\0b': embedded "
        "null byte; choose another --out",
        tmp_path / ("x" * 300): f"cannot create the run directory '{tmp_path / ('x' * 300)}': "
        "file name too long; choose another --out",
    }
    for out, message in cases.items():
        with pytest.raises(RunError) as caught:
            RunDir.create("net", out)
        assert str(caught.value) == message
    with pytest.raises(RunError) as caught:
        RunDir.open(tmp_path / "a\0b", resuming=True)  # --resume with a NUL
    assert str(caught.value) == (
        f"cannot read the run directory '{tmp_path / 'a'}\0b': embedded null byte"
    )


# -- spec.yaml --------------------------------------------------------------------------------------


def test_spec_yaml_reads_back_what_set_gave_and_its_header_stays_a_comment(tmp_path):
    import datetime

    from layerkit.spec.loader import load_spec

    document = {"name": "net", "vars": {"note": datetime.date(2024, 5, 1), "a": "2024-05-01",
                "b": "yes", "c": "1e3", "d": "x\nlayers: 1", "e": "null", "f": "\u2028é"},
                "input": [8], "layers": [{"dense": {"units": 2}}]}  # fmt: skip
    header = "# trained from s.yaml with --set vars.d=x\nlayers: 1 --set x=\u2028\x1b[2J\ud800"
    path = tmp_path / "spec.yaml"
    path.write_text(dump_spec(document, header, str(path)), encoding="utf-8", errors="strict")
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == (
        "# trained from s.yaml with --set vars.d=x\\nlayers: 1 --set x=\\u2028\\x1b[2J\\ud800"
    )
    assert [line for line in text.splitlines() if "trained from" in line or "--set" in line] == [
        text.splitlines()[0]
    ]
    again = load_spec(path).document
    assert again["vars"] == {**document["vars"], "note": "2024-05-01"}
    assert again["layers"] == document["layers"]


# -- after a kill, without TensorFlow ---------------------------------------------------------------


def _records(run: RunDir, epochs: int, best: int) -> None:
    rows = [{"epoch": e, "loss": 1.0 / e, "seconds": 1.0, "images_per_second": 9.0}
            for e in range(1, epochs + 1)]  # fmt: skip
    state = RunState(epochs, f"epoch-{epochs:04d}.keras", Best(1.0 / best, best, rows[best - 1]),
                     "loss")  # fmt: skip
    run.write_history(rows)
    from layerkit.runs.records import metrics_record

    run.write_json("metrics.json", metrics_record(rows, state.best, "running", "loss"))
    run.write_state(state)
    (run.path / "spec.yaml").write_text("name: net\n")


def test_what_an_abandoned_epoch_wrote_is_dropped_and_a_committed_one_is_kept(tmp_path):
    """Killed after epoch 3's models, history and metrics, before its state.json: the run is
    epoch 2's (best epoch 2), wholly, once it is locked again; readers see it before that."""
    run = RunDir.create("net", tmp_path / "run")
    _records(run, 3, 3)  # what epoch 3 wrote before the kill ...
    run.write_state(RunState(2, "epoch-0002.keras", Best(0.5, 2, {}), "loss"))  # ... state: 2
    for name, content in {"model_best.keras": "best 2", "model_last.keras": "last 2",
                          "model_best.epoch-0003.keras": "best 3",
                          "model_last.epoch-0003.keras": "last 3",
                          ".state.json.tmp-ab12cd34.json": "{", ".history.k3j_x9a2.csv": "ep",
                          ".notes": "mine"}.items():  # fmt: skip
        (run.path / name).write_text(content)
    (run.path / "checkpoints").mkdir()
    (run.path / "checkpoints" / ".epoch-0003.keras.tmp-zz99zz99.keras").write_text("PK")
    assert run.best_model.read_text() == "best 2"
    said: list[str] = []
    run.lock(said.append)
    run.unlock()
    names = sorted(p.name for p in run.path.iterdir()) + os.listdir(run.checkpoints)
    assert names == [".notes", "checkpoints", "history.csv", "metrics.json", "model_best.keras",
                     "model_last.keras", "spec.yaml", "state.json"]  # fmt: skip
    assert (run.best_model.read_text(), run.last_model.read_text()) == ("best 2", "last 2")
    metrics = json.loads((run.path / "metrics.json").read_text())
    assert (metrics["epochs"], metrics["best_epoch"], metrics["status"]) == (2, 2, "interrupted")
    assert [row["epoch"] for row in run.read_history()] == [1, 2]
    assert said == [f"note: removed 3 temporary files that killed writes left in '{run.path}'"]


def test_a_kill_between_state_json_and_the_models_names_keeps_the_committed_models(tmp_path):
    run = RunDir.create("net", tmp_path / "run")
    _records(run, 3, 3)  # epoch 3 committed ...
    for name, content in {"model_best.keras": "best 2", "model_last.keras": "last 2",
                          "model_best.epoch-0003.keras": "best 3",
                          "model_last.epoch-0003.keras": "last 3"}.items():  # fmt: skip
        (run.path / name).write_text(content)  # ... its models not yet under their names
    assert (run.best_model.read_text(), run.last_model.read_text()) == ("best 3", "last 3")
    run.lock()
    run.unlock()
    assert (run.path / "model_best.keras").read_text() == "best 3"
    assert (run.path / "model_last.keras").read_text() == "last 3"
    assert not list(run.path.glob("model_*.epoch-*"))


def test_a_run_that_never_finished_an_epoch_is_named_as_such(tmp_path):
    """Evaluate is told to resume it; resume takes it when its setup is recorded, and says what
    to do when the kill came before that; another folder is not a run at all."""
    run = RunDir.create("net", tmp_path / "run")
    (run.path / "spec.yaml").write_text("name: net\n")
    with pytest.raises(RunError) as caught:
        RunDir.open(run.path, resuming=True)
    assert str(caught.value) == (
        f"'{run.path}' was stopped before it recorded its setup (no setup.json): it cannot be "
        f"resumed; train the spec again with --out {run.path}"
    )
    (run.path / "setup.json").write_text('{"source": "data.tar"}')
    assert RunDir.open(run.path, resuming=True) == run
    with pytest.raises(RunError) as caught:
        RunDir.open(run.path)
    assert str(caught.value) == (
        f"'{run.path}' holds no trained model: no epoch has finished (no state.json); continue "
        f"it with: layerkit train --resume {run.path}"
    )
    assert RunDir.create("net", run.path) == run  # taken again as --out
    for mine in ("notes.txt", ".git", "checkpoints/mine.txt"):  # never taken for a run's
        (run.path / mine).parent.mkdir(exist_ok=True)
        (run.path / mine).write_text("mine")
        with pytest.raises(RunError) as caught:
            RunDir.create("net", run.path)
        assert str(caught.value) == (
            f"run directory '{run.path}' already exists and is not empty; choose another --out"
        )
        (run.path / mine).unlink()
    with pytest.raises(RunError) as caught:
        RunDir.open(tmp_path)
    assert str(caught.value) == (
        f"'{tmp_path}' is not a layerkit run directory (no state.json); give a run's folder "
        "(layerkit runs lists them; latest is the newest)"
    )


# -- damaged records, without TensorFlow -----------------------------------------------------------

FIX_STATE = (
    "it cannot be rebuilt: restore the file from a copy, or train the spec again into a new --out"
)
DAMAGED_RECORDS = [
    ("state.json", "", "is empty; " + FIX_STATE),
    ("state.json", '{"epoch": 3, "checkp', "is not JSON (Unterminated string starting at: line "
     "1 column 14 (char 13)); " + FIX_STATE),
    ("state.json", "[1, 2]", "holds a list, not a JSON object; " + FIX_STATE),
    ("state.json", '{"epoch": "3", "checkpoint": "epoch-0003.keras"}',
     'has epoch: "3", where int belongs; ' + FIX_STATE),
    ("state.json", '{"epoch": 3, "checkpoint": "../../../etc/passwd"}',
     "names the checkpoint '../../../etc/passwd', not a file name like 'epoch-0001.keras'; "
     + FIX_STATE),
    ("state.json", '{"epoch": 3, "checkpoint": "epoch-0003.keras", "best": {"epoch": 9}}',
     "has best epoch 9, outside the 3 epochs finished; " + FIX_STATE),
    ("state.json", b"\xff\xfe{", "cannot be read ('utf-8' codec can't decode byte 0xff in "
     "position 0: invalid start byte); " + FIX_STATE),
    ("setup.json", '{"source": 7}', "has source: 7, where str belongs; " + FIX_STATE),
    ("setup.json", '{"source": "x", "normalize": {"scale": "big"}}',
     'has normalize.scale: "big", not part of an input scaling; ' + FIX_STATE),
    ("setup.json", "[" * 100_000, "is not JSON (nested too deep); " + FIX_STATE),
    ("environment.json", '{"class_names": "cat"}', 'has class_names: "cat", where '
     "tuple[str, ...] belongs; restore it from a copy (evaluate needs its class_names)"),
    ("history.csv", "epoch,loss\n1,0.5\n3,0.4\n", "row 2 is epoch 3, expected 2; restore it "
     "from a copy, or delete it to go on without the finished epochs' rows"),
    ("history.csv", "epoch,loss\n1,abc\n", 'row 1 has loss: "abc", not a number; restore it '
     "from a copy, or delete it to go on without the finished epochs' rows"),
    ("history.csv", "epoch\n1\0\n", 'row 1 is epoch "1\\u0000", expected 1; restore it from a '
     "copy, or delete it to go on without the finished epochs' rows"),
    ("history.csv", b"epoch\n\xff\n", "cannot be read as CSV ('utf-8' codec can't decode byte "
     "0xff in position 6: invalid start byte); restore it from a copy, or delete it to go on "
     "without the finished epochs' rows"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "content", "message"), DAMAGED_RECORDS)
def test_a_damaged_record_is_one_line_naming_the_file(tmp_path, name, content, message):
    run = RunDir.create("net", tmp_path / "run")
    path = run.path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    read = {"state.json": run.read_state, "setup.json": run.read_setup,
            "environment.json": run.read_environment, "history.csv": run.read_history}[name]  # fmt: skip
    with pytest.raises(RunError) as caught:
        read()
    assert str(caught.value) == f"{path} {message}"


def test_a_fifo_or_an_oversized_file_in_a_run_is_refused_without_reading_it(tmp_path):
    """A FIFO named state.json (or lock) would block its reader forever; a record of gigabytes
    would be read whole: both are refused from what stat says."""
    run = RunDir.create("net", tmp_path / "run")
    os.mkfifo(run.path / "state.json")
    with pytest.raises(RunError) as caught:
        run.read_state()
    assert str(caught.value) == f"{run.path / 'state.json'} is not a regular file; " + FIX_STATE
    with open(run.path / "history.csv", "wb") as file:
        file.truncate(65 * 1024 * 1024)  # sparse: no disk used
    with pytest.raises(RunError) as caught:
        run.read_history()
    assert str(caught.value).startswith(
        f"{run.path / 'history.csv'} is 68,157,440 bytes, more than any run's (at most 67,108,864)"
    )
    os.mkfifo(run.path / "lock")
    with pytest.raises(RunError) as caught:
        run.lock()
    assert str(caught.value) == (
        f"'{run.path / 'lock'}' is not a file, not a layerkit lock; remove it if no process is "
        "using the run"
    )


# -- real runs ------------------------------------------------------------------------------------

SPEC = """\
name: tiny
vars:
  note: null
  title: plain
input: [32, 32, 3]
layers:
  - conv2d: {filters: 4, kernel_size: 3, padding: same, activation: relu}
  - global_average_pooling2d
  - dense: {units: 10, activation: softmax}
train:
  optimizer: {adam: {learning_rate: 0.01}}
  batch_size: 16
  epochs: 1
  validation_split: 10
  monitor: loss
"""
# a date as text (unquoted, YAML would read a timestamp, which a spec may not hold) and a newline
SETS = ("--set", 'vars.note="2024-05-01"', "--set", 'vars.title="x\nlayers: 1"')


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """The tiny spec, 5 real CIFAR-10 images per class, and one run of it trained for 1 epoch
    with --set values YAML would misread (a date, a newline), shared by the tests (copied)."""
    from click.testing import CliRunner

    from layerkit.cli import main

    root = tmp_path_factory.mktemp("hostile_runs")
    cifar_subset(root / "data.tar", 5)
    (root / "tiny.yaml").write_text(SPEC, encoding="utf-8")
    cwd = os.getcwd()
    os.chdir(root)
    os.environ["LAYERKIT_CACHE"] = str(root / "cache")
    try:
        args = ["train", "tiny.yaml", "--data", "data.tar", "--out", "base", "--plain", *SETS]
        result = CliRunner().invoke(main, args)
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture(autouse=False)
def in_workspace(workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    monkeypatch.setenv("LAYERKIT_CACHE", str(workspace / "cache"))
    return workspace


def cli(*args):
    from click.testing import CliRunner

    from layerkit.cli import main

    return CliRunner().invoke(main, [str(arg) for arg in args])


def copy_of(workspace: Path, tmp_path: Path, name: str = "run") -> Path:
    shutil.copytree(workspace / "base", tmp_path / name)
    return tmp_path / name


@pytest.mark.slow
def test_a_run_trained_with_set_values_yaml_would_misread_resumes(in_workspace, tmp_path):
    """A date as text and a value with a line break: spec.yaml holds them as
    text under a one-line comment, and the run resumes (it was refused before)."""
    run = copy_of(in_workspace, tmp_path)
    text = (run / "spec.yaml").read_text()
    assert text.splitlines()[0] == (
        '# trained from tiny.yaml with --set vars.note="2024-05-01" --set vars.title="x\\nlayers: 1"'
    )
    assert [line for line in text.splitlines() if line.startswith("#")] == [text.splitlines()[0]]
    assert "  note: '2024-05-01'\n  title: 'x layers: 1'\n" in text
    resumed = cli("train", "--resume", run, "--epochs", "2", "--plain")
    assert resumed.exit_code == 0, resumed.output
    assert f"done: 2 epochs in {run}" in resumed.stdout
    assert (run / "spec.yaml").read_text().splitlines()[0] == text.splitlines()[0]


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


CHECKPOINT = "checkpoints/epoch-0001.keras"
CANNOT_GO_ON = ": the run cannot go on from it; restore it from a copy, or train the spec again into a new --out"  # fmt: skip
DAMAGED_RUNS = {
    "truncated checkpoint": (
        lambda run: _truncate(run / CHECKPOINT), "resume",
        "{run}/" + CHECKPOINT + " is not a whole Keras model file (truncated, or not a zip)" + CANNOT_GO_ON),
    "foreign checkpoint": (
        lambda run: shutil.copy(run / "model_best.keras", run / CHECKPOINT), "resume",
        "{run}/" + CHECKPOINT + " is not this run's: it has no model named 'tiny'" + CANNOT_GO_ON),
    "missing checkpoint": (
        lambda run: (run / CHECKPOINT).unlink(), "resume",
        "{run}/" + CHECKPOINT + " is missing" + CANNOT_GO_ON),
    "empty state": (
        lambda run: (run / "state.json").write_text(""), "resume",
        "{run}/state.json is empty; " + FIX_STATE),
    "truncated state": (
        lambda run: _truncate(run / "state.json"), "evaluate",
        "{run}/state.json is not JSON ({json_error}); " + FIX_STATE),
    "setup not JSON": (
        lambda run: (run / "setup.json").write_text("source: x"), "resume",
        "{run}/setup.json is not JSON (Expecting value: line 1 column 1 (char 0)); " + FIX_STATE),
    "setup of the wrong kind": (
        lambda run: (run / "setup.json").write_text('{"source": "d", "normalize": 3}'),
        "evaluate", "{run}/setup.json has normalize: 3, where dict[str, Any] | None belongs; "
        + FIX_STATE),
    "environment a list": (
        lambda run: (run / "environment.json").write_text("[]"), "evaluate",
        "{run}/environment.json holds a list, not a JSON object; restore it from a copy "
        "(evaluate needs its class_names)"),
    "history garbage": (
        lambda run: (run / "history.csv").write_text("%PDF-1.4\x00\x01"), "resume",
        "{run}/history.csv has no epoch column; restore it from a copy, or delete it to go on "
        "without the finished epochs' rows"),
    "spec missing": (
        lambda run: (run / "spec.yaml").unlink(), "resume",
        "{run}/spec.yaml is missing; restore it from a copy, or train the spec again into a new "
        "--out"),
    "lock a folder": (
        lambda run: (run / "lock").mkdir(), "resume",
        "'{run}/lock' is a folder, not a layerkit lock; remove it (rmdir) if no process is using "
        "the run"),
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("case", list(DAMAGED_RUNS))
def test_a_hand_damaged_run_is_one_line_naming_the_file(in_workspace, tmp_path, case):
    damage, command, message = DAMAGED_RUNS[case]
    run = copy_of(in_workspace, tmp_path)
    json_error = ""
    damage(run)
    if case == "truncated state":
        try:
            json.loads((run / "state.json").read_text())
        except ValueError as error:
            json_error = str(error)
    args = ["train", "--resume", run, "--epochs", "2"] if command == "resume" else ["evaluate", run]
    result = cli(*args)
    expected = "error: " + message.format(run=run, json_error=json_error) + "\n"
    assert (result.exit_code, result.stderr) == (2, expected)


# -- kill -9 at chosen points of a real run ----------------------------------------------------------

KILL_HOOK = textwrap.dedent("""\
    import os, shutil, signal, sys
    from layerkit.runs import directory as runs
    from layerkit.training import callbacks

    name, epoch = os.environ["KILL_AT"].split(":")
    epoch, now = int(epoch), {"epoch": 0}
    record = callbacks.Recorder.record

    def recording(self, index, row):  # the best model committed before the epoch, kept aside
        now["epoch"] = index + 1
        if index + 1 == epoch and (self.run.path / "model_best.keras").exists():
            shutil.copy(self.run.path / "model_best.keras", str(self.run.path) + ".best-before")
        return record(self, index, row)

    def kill_in(owner, attribute):
        original = getattr(owner, attribute)

        def killing(*args, **kwargs):
            if now["epoch"] == epoch and (owner is not os or str(args[1]).endswith("state.json")):
                os.kill(os.getpid(), signal.SIGKILL)  # a real kill -9, at this point
            return original(*args, **kwargs)

        setattr(owner, attribute, killing)

    callbacks.Recorder.record = recording
    if name == "replace":
        kill_in(os, "replace")  # state.json's temporary written, not yet in place
    else:
        kill_in(runs.RunDir, name)
    from layerkit.cli import main

    main(sys.argv[1:])
""")


def train_killed(workspace: Path, out: str, point: str, epochs: int) -> subprocess.CompletedProcess:
    """``layerkit train`` in a process that SIGKILLs itself at ``point`` (``name:epoch``)."""
    env = dict(os.environ, KILL_AT=point, LAYERKIT_CACHE=str(workspace / "cache"),
               TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))  # fmt: skip
    command = [sys.executable, "-c", KILL_HOOK, "train", "tiny.yaml", "--data", "data.tar",
               "--out", out, "--epochs", str(epochs), "--plain"]  # fmt: skip
    killed = subprocess.run(command, cwd=workspace, env=env, capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    assert killed.returncode == -9, killed.stderr
    return killed


def leftovers(run: Path) -> list[str]:
    """Temporaries of killed writes and models of epochs not (yet) committed."""
    return sorted(p.name for p in [*run.glob(".*"), *run.glob("checkpoints/.*"),
                                   *run.glob("model_*.epoch-*")])  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(
    ("point", "committed"),
    [("write_state:2", 1), ("replace:2", 1), ("publish:2", 2)],
    ids=["before state.json", "while state.json is replaced", "after state.json"],
)
def test_a_kill_in_an_epochs_writes_leaves_best_model_metrics_and_state_agreeing(
    in_workspace, tmp_path, point, committed
):
    """Epoch 2 improves on epoch 1 (the loss falls); killed at ``point`` of its writes, the run
    is epoch ``committed``'s wholly once it is locked again, and resumes to the end."""
    out = f"killed-{point.replace(':', '-')}"
    shutil.rmtree(in_workspace / out, ignore_errors=True)
    train_killed(in_workspace, out, point, 3)
    path, before = in_workspace / out, (in_workspace / f"{out}.best-before").read_bytes()
    run = RunDir(path)
    state = run.read_state()
    assert (state.epoch, state.best.epoch) == (committed, committed)
    assert "model_best.epoch-0002.keras" in leftovers(path)  # epoch 2 was the best
    # a reader that does not lock (evaluate) already gets the committed best
    assert (run.best_model.read_bytes() == before) == (committed == 1)
    said: list[str] = []
    run.lock(said.append)  # what the next train --resume does first
    run.unlock()
    assert leftovers(path) == []
    assert ((path / "model_best.keras").read_bytes() == before) == (committed == 1)
    metrics = json.loads((path / "metrics.json").read_text())
    assert (metrics["epochs"], metrics["best_epoch"]) == (committed, committed)
    assert [row["epoch"] for row in run.read_history()] == list(range(1, committed + 1))
    assert said[0].startswith(f"note: took over the lock of '{path}' left by pid ")
    if point.startswith("replace"):
        assert said[1:] == [f"note: removed 1 temporary files that killed writes left in '{path}'"]
    resumed = cli("train", "--resume", path, "--epochs", "3", "--plain")
    assert resumed.exit_code == 0, resumed.output
    assert [row["epoch"] for row in run.read_history()] == [1, 2, 3]


@pytest.mark.slow
def test_a_run_killed_before_its_first_epoch_resumes_from_the_start_or_is_reused(
    in_workspace, tmp_path
):
    """Killed while writing its first epoch (before state.json): ``--resume`` trains it from
    epoch 1 with its recorded setup, and the same folder is taken again as ``--out``."""
    shutil.rmtree(in_workspace / "unfinished", ignore_errors=True)
    train_killed(in_workspace, "unfinished", "write_state:1", 1)
    path = in_workspace / "unfinished"
    assert not (path / "state.json").exists() and (path / "setup.json").exists()
    again = tmp_path / "again"
    shutil.copytree(path, again)
    resumed = cli("train", "--resume", path, "--plain")
    assert resumed.exit_code == 0, resumed.output
    assert f"note: took over the lock of '{path}' left by pid " in resumed.stderr
    assert f"done: 1 epoch in {path}" in resumed.stdout
    assert RunDir(path).read_state().epoch == 1
    reused = cli("train", "tiny.yaml", "--data", "data.tar", "--out", again, "--plain")
    assert reused.exit_code == 0, reused.output
    assert f"done: 1 epoch in {again}" in reused.stdout
    assert leftovers(again) == [] and not (again / "lock").exists()
