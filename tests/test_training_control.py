"""Training control (issue 18): ``train.early_stopping`` and the ``plateau`` schedule.

Both are read and checked at validation, with errors at their lines; both count as Keras's
EarlyStopping and ReduceLROnPlateau count (checked against those callbacks on the same values);
both keep their count in state.json, so a real run interrupted part-way and resumed stops, and
lowers its rate, at the epochs the uninterrupted run does, with the same history. The curves plot
puts its ticks on whole epochs.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import yaml

from layerkit.errors import ErrorCollector
from layerkit.runs.records import PlateauState, RunError, RunState, StopWatch
from layerkit.spec.schema import spec_schema
from layerkit.spec.settings import EarlyStopping, TrainSettings
from layerkit.spec.settings_reader import read_train
from layerkit.spec.yaml_source import parse_yaml
from layerkit.training.start import TrainOptions

from .conftest import cifar_subset
from .test_resume_exact import BASE_TRAIN, NETWORK, Probe, assert_same_run, run_history, run_train

EXAMPLE = "Write e.g. 'early_stopping: {patience: 5, min_delta: 0.001}'."

# -- reading and checking ----------------------------------------------------------------------


def _read(text: str) -> tuple[TrainSettings, list[str]]:
    errors = ErrorCollector()
    settings = read_train(parse_yaml(text, "<string>"), errors)
    return settings, [error.format() for error in errors.errors]


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("early_stopping: {patience: 3}", EarlyStopping(3, 0.0)),
        ("early_stopping: {patience: 3, min_delta: 0.001}", EarlyStopping(3, 0.001)),
        ("early_stopping: {patience: 1, min_delta: 0}", EarlyStopping(1, 0.0)),
        ("early_stopping: null", None),
    ],
)
def test_early_stopping_reads_patience_and_min_delta(line, value):
    settings, errors = _read(line)
    assert errors == []
    assert settings.early_stopping == value


@pytest.mark.parametrize(
    ("line", "messages"),
    [
        ("early_stopping: 3", [f"1:17: error: train.early_stopping: expected {{patience: N, "
                               f"min_delta: X}}, received int 3. {EXAMPLE}"]),
        ("early_stopping: {min_delta: 0.1}", [
            "1:17: error: train.early_stopping: needs patience, the number of epochs without an "
            f"improvement after which the run stops. {EXAMPLE}"]),
        ("early_stopping: {patience: 0}", ["1:28: error: train.early_stopping.patience: expected "
                                           "an integer of at least 1, received int 0"]),
        ("early_stopping: {patience: 2.5}", ["1:28: error: train.early_stopping.patience: "
                                             "expected an integer of at least 1, received float "
                                             "2.5"]),
        ("early_stopping: {patience: 2, min_delta: -1}", [
            "1:42: error: train.early_stopping.min_delta: expected a number of at least 0, "
            "received -1"]),
        ("early_stopping: {patiense: 2}", [
            "1:18: error: train.early_stopping.patiense: unknown train.early_stopping setting "
            "'patiense'. Did you mean 'patience'?"]),
    ],
)  # fmt: skip
def test_early_stopping_mistakes_are_located_errors(line, messages):
    settings, errors = _read(line)
    assert errors == [f"<string>:{message}" for message in messages]
    assert settings.early_stopping is None


PLATEAU_SPEC = """\
name: plateau
input: [8]
layers:
  - dense: {{units: 4, activation: softmax}}
train:
  schedule: {{plateau: {arguments}}}
"""


@pytest.mark.parametrize(
    ("arguments", "messages"),
    [
        ("{factor: 1.5, patience: 0}", [
            "6:32: error: train.schedule.plateau.factor: schedule 'plateau': factor must be what "
            "the rate is multiplied by, above 0 and below 1, received 1.5. Write e.g. 'plateau: "
            "{factor: 0.5, patience: 2}'.",
            "6:47: error: train.schedule.plateau.patience: schedule 'plateau': patience must be a "
            "number of epochs of at least 1, received 0. Write e.g. 'plateau: {factor: 0.5, "
            "patience: 2}'."]),
        ("{cooldown: -1, min_lr: -0.1}", [
            "6:34: error: train.schedule.plateau.cooldown: schedule 'plateau': cooldown must be a "
            "number of epochs of at least 0, received -1. Write e.g. 'plateau: {factor: 0.5, "
            "patience: 2}'.",
            "6:46: error: train.schedule.plateau.min_lr: schedule 'plateau': min_lr must be at "
            "least 0, received -0.1. Write e.g. 'plateau: {factor: 0.5, patience: 2}'."]),
        ("{patiance: 2}", [
            "6:24: error: train.schedule.plateau.patiance: unknown argument 'patiance' for "
            "schedule 'plateau'. Did you mean 'patience'?"]),
        ("{cooldown: 1.5}", [
            "6:34: error: train.schedule.plateau.cooldown: argument 'cooldown' of schedule "
            "'plateau' expects an integer, received float 1.5. Write a whole number."]),
    ],
)  # fmt: skip
def test_plateau_mistakes_are_located_errors_at_validation(arguments, messages, tmp_path, runner):
    from layerkit.cli import main

    spec = tmp_path / "spec.yaml"
    spec.write_text(PLATEAU_SPEC.format(arguments=arguments), encoding="utf-8")
    result = runner.invoke(main, ["validate", str(spec)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith(str(spec))]
    assert lines == [f"{spec}:{message}" for message in messages]


def test_the_schema_takes_what_the_reader_takes():
    validator = jsonschema.Draft7Validator(spec_schema())

    def problems(train: dict) -> list[str]:
        document = {"input": [4], "layers": ["flatten"], "train": train}
        return [error.message for error in validator.iter_errors(document)]

    assert problems({"early_stopping": {"patience": 3, "min_delta": 0.01}}) == []
    assert problems({"early_stopping": None}) == []
    assert problems({"schedule": "plateau"}) == []
    assert problems({"schedule": {"plateau": {"factor": 0.2, "patience": 1, "cooldown": 2,
                                              "min_lr": 1e-5, "min_delta": 0.01}}}) == []  # fmt: skip
    for bad in ({"patience": 0}, {"min_delta": 0.1}, {"patience": 2, "wait": 1},
                {"patience": 2, "min_delta": -1}, 3):  # fmt: skip
        assert problems({"early_stopping": bad}), bad
    assert problems({"schedule": {"plateau": {"patiance": 2}}})


# -- counting, as Keras counts -----------------------------------------------------------------

# a monitored value per epoch: rises, stalls, rises a little, stalls, dips, recovers
VALUES = [0.10, 0.30, 0.30, 0.305, 0.31, 0.29, 0.28, 0.45, 0.45, 0.44, 0.44, 0.44, 0.46, 0.2]


def _mode(monitor: str) -> str:
    return "min" if "loss" in monitor else "max"  # as layerkit reads a monitor


def _keras_counts(callback, monitor: str, values: list[float]) -> list[float]:
    """The learning rate after each epoch, and the epoch Keras stops at, from Keras's own
    callback on a compiled one-layer model."""
    import keras

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    callback.set_model(model)
    callback.on_train_begin()
    rates = []
    for epoch, value in enumerate(values):
        callback.on_epoch_end(epoch, {monitor: value})
        rates.append(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))
        if model.stop_training:
            break
    return rates


@pytest.mark.parametrize("monitor", ["val_accuracy", "val_loss"])
@pytest.mark.parametrize(
    "arguments",
    [
        {"factor": 0.5, "patience": 2, "min_delta": 0.0, "min_lr": 0.0, "cooldown": 0},
        {"factor": 0.1, "patience": 1, "min_delta": 0.01, "min_lr": 0.002, "cooldown": 2},
        {"factor": 0.3, "patience": 3, "min_delta": 0.005, "min_lr": 0.0, "cooldown": 1},
    ],
)
def test_the_plateau_count_is_reduce_lr_on_plateau(arguments, monitor):
    import keras

    from layerkit.training.control import PlateauRule, count_plateau

    values = VALUES if monitor == "val_accuracy" else [1 - value for value in VALUES]
    expected = _keras_counts(
        keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode=_mode(monitor), **arguments),
        monitor,
        values,
    )
    rule = PlateauRule(**arguments)
    state, rate, rates = PlateauState(), float(np.float32(0.1)), []
    for value in values:
        state = count_plateau(state, value, rate, rule, minimize="loss" in monitor)
        rate = state.lr
        rates.append(rate)
    assert rates == pytest.approx(expected, rel=1e-6)
    assert len(set(rates)) > 1  # the case lowers the rate


@pytest.mark.parametrize("monitor", ["val_accuracy", "val_loss"])
@pytest.mark.parametrize(("patience", "min_delta"), [(1, 0.0), (2, 0.0), (3, 0.004), (2, 0.2)])
def test_the_early_stopping_count_is_keras_early_stopping(patience, min_delta, monitor):
    import keras

    from layerkit.training.control import count_stop

    values = VALUES if monitor == "val_accuracy" else [1 - value for value in VALUES]
    callback = keras.callbacks.EarlyStopping(
        monitor, min_delta=min_delta, patience=patience, mode=_mode(monitor)
    )
    expected = len(_keras_counts(callback, monitor, values))
    watch, rule = StopWatch(), EarlyStopping(patience, min_delta)
    for epoch, value in enumerate(values, start=1):
        watch = count_stop(watch, value, epoch, rule, minimize="loss" in monitor)
        if watch.wait >= patience:
            break
    assert epoch == expected < len(values)


def test_a_state_without_the_counters_starts_them_afresh_and_a_damaged_one_is_refused(tmp_path):
    from layerkit.training.control import Control

    settings = TrainSettings(early_stopping=EarlyStopping(2))
    path = tmp_path / "state.json"
    control = Control(settings, "val_accuracy", RunState(3, "epoch-0003.keras"), path)
    assert (control.watch, control.plateau) == (StopWatch(), PlateauState())
    stopped = RunState(3, "epoch-0003.keras", early_stopping={"best": 0.5, "best_epoch": 1,
                                                               "wait": 2})  # fmt: skip
    control = Control(settings, "val_accuracy", stopped, path)
    assert control.watch == StopWatch(0.5, 1, 0)  # resumed after it stopped: patience afresh
    damaged = RunState(3, "epoch-0003.keras", early_stopping={"best": 0.5, "wait": "two"})
    with pytest.raises(RunError, match=re.escape('state.json has wait: "two", where int belongs')):
        Control(settings, "val_accuracy", damaged, path)


# -- real runs, interrupted and resumed --------------------------------------------------------

# 130 images to train on, 30 to validate on; val_accuracy never rises by 0.5 on them, so every
# epoch after the first counts as one without an improvement: early stopping (patience 4) ends
# the run after epoch 5, and the plateau schedule halves the rate after epoch 2, then (after a
# cooldown of 2 epochs) after epoch 4, to its floor of 0.003
CONTROLLED = {
    "name": "controlled",
    "input": [32, 32, 3],
    "layers": NETWORK,
    "train": {
        **BASE_TRAIN,
        "epochs": 8,
        "optimizer": {"adam": {"learning_rate": 0.01}},
        "schedule": {"plateau": {"factor": 0.5, "patience": 1, "min_delta": 0.5,
                                 "min_lr": 0.003, "cooldown": 2}},
        "early_stopping": {"patience": 4, "min_delta": 0.5},
    },
}  # fmt: skip
RATES = [0.01, 0.01, 0.005, 0.005, 0.003]


@pytest.fixture(scope="module")
def controlled(tmp_path_factory):
    """The run straight, and the same run as an interruption after epoch 2 left it, resumed:
    epoch 2 lowered the rate after its checkpoint was saved (the checkpoint holds 0.01, state.json
    0.005), began the plateau's cooldown, and was early stopping's first without an
    improvement."""
    root = tmp_path_factory.mktemp("control")
    images = cifar_subset(root / "cifar160.tar", 16)
    spec = root / "spec.yaml"
    spec.write_text(yaml.safe_dump(CONTROLLED, sort_keys=False), encoding="utf-8")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("LAYERKIT_CACHE", str(root / "cache"))
        probe = Probe(monkeypatch)
        probe.copy_after, probe.copy_to = 2, root / "b"
        straight = run_train(spec, TrainOptions(data=str(images), out=root / "a"))
        interrupted = json.loads((root / "b" / "state.json").read_text())
        resumed = run_train(None, TrainOptions(resume=root / "b"))
    return root / "a", root / "b", straight[0], resumed[0], interrupted


@pytest.mark.slow
def test_early_stopping_and_the_plateau_schedule_stop_and_lower_the_rate_as_counted(controlled):
    straight, _, status, _, _ = controlled
    assert status == "stopped early"
    rows = run_history(straight)
    assert [row["epoch"] for row in rows] == [1, 2, 3, 4, 5]
    assert [row["lr"] for row in rows] == pytest.approx(RATES, rel=1e-6)
    metrics = json.loads((straight / "metrics.json").read_text())
    assert (metrics["status"], metrics["epochs"], metrics["best_epoch"]) == ("stopped early", 5, 1)
    state = json.loads((straight / "state.json").read_text())
    first = pytest.approx(rows[0]["val_accuracy"], rel=1e-6)  # history.csv: as float32 prints
    assert state["early_stopping"] == {"best": first, "best_epoch": 1, "wait": 4}
    # epoch 5 is the first of the cooldown after the rate fell to its floor
    assert state["plateau"] == {"lr": pytest.approx(0.003, rel=1e-6), "best": first, "wait": 0,
                                "cooldown": 1}  # fmt: skip


@pytest.mark.slow
def test_an_interrupted_run_resumed_stops_at_the_same_epoch_with_the_same_history(controlled):
    straight, resumed, status, resumed_status, interrupted = controlled
    assert interrupted["epoch"] == 2
    assert interrupted["early_stopping"]["wait"] == 1
    assert interrupted["plateau"]["cooldown"] == 2
    assert interrupted["plateau"]["lr"] == float(np.float32(0.005))
    assert resumed_status == status == "stopped early"
    assert_same_run(straight, resumed)  # history rows, weights, optimizer state, best epoch
    assert json.loads((resumed / "state.json").read_text()) == json.loads(
        (straight / "state.json").read_text()
    )


@pytest.mark.slow
def test_a_run_that_stopped_early_resumed_gets_patience_epochs_afresh(
    controlled, tmp_path, monkeypatch
):
    """Resumed on purpose after it stopped, a run trains on for another ``patience`` epochs (here
    up to its 8 epochs) rather than stopping after the first."""
    monkeypatch.setenv("LAYERKIT_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "again"
    shutil.copytree(controlled[0], run, ignore=shutil.ignore_patterns("lock"))
    status, start = run_train(None, TrainOptions(resume=run))
    assert (status, start["first_epoch"]) == ("finished", 6)
    rows = run_history(run)
    assert [row["epoch"] for row in rows] == list(range(1, 9))
    assert rows[5]["lr"] == pytest.approx(0.003, rel=1e-6)  # the floor, kept


def test_the_stop_reason_names_the_monitor_the_delta_and_the_best_epoch(tmp_path):
    import keras

    from layerkit.training.control import Control

    settings = TrainSettings(early_stopping=EarlyStopping(2, 0.001))
    control = Control(settings, "val_accuracy", None, tmp_path / "state.json")
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    for epoch, value in enumerate([0.2, 0.412, 0.4125, 0.4128], start=1):
        control.commit(control.count(epoch, {"val_accuracy": value, "lr": 0.001}), model)
    assert control.stopped == (
        "val_accuracy did not improve by more than 0.001 for 2 epochs since epoch 2 (0.412)"
    )
    assert model.stop_training


# -- the curves plot ---------------------------------------------------------------------------


def test_the_curves_plot_ticks_whole_epochs(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from layerkit.training.callbacks import plot_curves

    figures = []
    close = plt.close
    monkeypatch.setattr(plt, "close", lambda figure: (figures.append(figure), close(figure)))
    history = [{"epoch": epoch, "loss": 2.0 / epoch, "accuracy": 0.1 * epoch,
                "val_loss": 2.1 / epoch, "val_accuracy": 0.09 * epoch, "lr": 0.001,
                "seconds": 1.0, "images_per_second": 100.0} for epoch in (1, 2, 3)]  # fmt: skip
    plot_curves(tmp_path / "curves.png", history)
    assert (tmp_path / "curves.png").stat().st_size > 0
    (figure,) = figures
    assert len(figure.axes) == 2
    for axis in figure.axes:
        low, high = axis.get_xlim()
        shown = [tick for tick in axis.get_xticks() if low <= tick <= high]
        assert shown == [1, 2, 3], shown


def test_the_counters_are_not_written_for_a_run_without_them(tmp_path):
    from layerkit.training.control import Control

    control = Control(TrainSettings(), "val_accuracy", None, Path(tmp_path / "state.json"))
    assert not control.active
    assert control.record(control.count(1, {"val_accuracy": 0.5, "lr": 0.001})) == {
        "early_stopping": None,
        "plateau": None,
    }


@pytest.mark.slow
def test_the_command_line_says_why_a_run_stopped_early(controlled, capsys):
    """train's closing lines on stdout: the reason (as for train.target), then done."""
    from layerkit.console.output import report_training
    from layerkit.runs.directory import RunDir
    from layerkit.training.run_callbacks import TrainResult

    reason = "val_accuracy did not improve by more than 0.5 for 4 epochs since epoch 1 (0.1)"
    run = RunDir.open(controlled[0])
    result = TrainResult(run, 5, "stopped early", reason, best_epoch=1, best_metrics={})
    assert report_training(result, as_json=False) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"stopped early: {reason}",
        f"done: 5 epochs in {controlled[0]}",
    ]


@pytest.mark.slow
def test_a_run_whose_count_runs_out_at_its_last_epoch_finished(controlled, tmp_path, monkeypatch):
    """Early stopping that would stop after epoch 5 of a run of 5 epochs stops nothing: the run
    finished (it was listed 'stopped early 5/5')."""
    monkeypatch.setenv("LAYERKIT_CACHE", str(tmp_path / "cache"))
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(CONTROLLED, sort_keys=False), encoding="utf-8")
    images = cifar_subset(tmp_path / "cifar160.tar", 16)
    status, _ = run_train(spec, TrainOptions(data=str(images), out=tmp_path / "r", epochs=5))
    assert status == "finished"
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert (metrics["status"], metrics["epochs"]) == ("finished", 5)
    assert json.loads((tmp_path / "r" / "state.json").read_text())["early_stopping"]["wait"] == 4
