"""Resumes continue exactly the run that began.

For every ``train:`` setting, augmentation on and off, and the recipes of the shipped specs
(``specs/cifar.yaml``, ``specs/cifar-fast.yaml``) applied to a small network, a run of N epochs
straight, and the same run as a crash after epoch k left it, resumed to N, give the same history,
the same weights and optimizer state, and the same dropout in every epoch, on the CPU. The cases
are checked against the settings' declaration, so a new setting without a case fails here. (That
a fresh run reproduces itself from its seed, initial weights included, the extension test below
checks: it compares two runs started apart.)

A finished run extended with ``--resume --epochs N`` keeps its dropout when ``early_dropout`` is
unset (it once switched every dropout layer off for the added epochs).
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import yaml
from rich.console import Console

from layerkit.spec.loader import load_spec
from layerkit.spec.settings import NO_DECAY_KINDS, TRAIN_FIELDS, TTA_KINDS, TrainSettings
from layerkit.training.callbacks import Recorder
from layerkit.training.loop import resume, train
from layerkit.training.optimizers import SCHEDULES
from layerkit.training.recipe import dropout_layers
from layerkit.training.start import TrainOptions, prepare

from .conftest import SPECS, cifar_subset

NETWORK = [  # small, with both kinds of dropout layer and a batch-norm layer
    {"conv2d": {"filters": 8, "kernel_size": 3, "padding": "same", "use_bias": False}},
    "batch_normalization",
    "relu",
    {"max_pooling2d": {"pool_size": 4}},
    {"spatial_dropout2d": {"rate": 0.2}},
    "flatten",
    {"dense": {"units": 16, "activation": "relu"}},
    {"dropout": {"rate": 0.3}},
    {"dense": {"units": 10, "activation": "softmax"}},
]
# 160 images: 130 to train on in batches of 32 (the last one partial), 30 to validate on
BASE_TRAIN = {"batch_size": 32, "epochs": 3, "validation_split": 30, "seed": 1}
AUGMENT = [
    {"random_flip": {"mode": "horizontal"}},
    {"random_translation": {"height_factor": 0.1, "width_factor": 0.1}},
    {"random_padded_crop": {"padding": 2}},
    {"cutout": {"size": 6}},
]


@dataclass(frozen=True)
class Case:
    """A run to check: ``train:`` settings over BASE_TRAIN, the epoch k it is stopped after."""

    id: str
    train: dict[str, Any]
    stop_after: int = 1
    augment: list[Any] | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        document: dict[str, Any] = {"name": "resumed", "input": [32, 32, 3], "layers": NETWORK}
        if self.data:
            document["data"] = self.data
        if self.augment:
            document["augment"] = self.augment
        document["train"] = {**BASE_TRAIN, **self.train}
        return document


def shipped_recipe(name: str) -> Case:
    """A shipped spec's train:, augment: and data: sections on the small network, with only the
    sizes cut to the test's data: epochs, and a validation split that 160 images can give."""
    document = yaml.safe_load((SPECS / name).read_text(encoding="utf-8"))
    data = {key: value for key, value in document["data"].items() if key != "source"}
    train_settings = {**document["train"], "epochs": 3, "validation_split": 30}
    return Case(name, train_settings, augment=document.get("augment"), data=data)


CASES = [
    Case("base", {}),  # Adam at Keras's defaults, a constant rate, no augmentation
    Case("augmented_with_flip_tta", {"tta": "flip"}, augment=AUGMENT),
    # mirrored where the batches are drawn, by seed, epoch and image (stopped between two epochs
    # that mirror opposite halves)
    Case("alternating_flip", {},
         augment=["alternating_flip", {"random_padded_crop": {"padding": 2}}]),
    Case("flip_tta_translated", {"tta": "flip", "tta_translate": 2}),
    Case("optimizer_rmsprop", {"optimizer": {"rmsprop": {"learning_rate": 0.003}}}),
    Case("adamw_weight_decay_no_decay_normalization",
         {"optimizer": {"adamw": {"learning_rate": 0.003, "weight_decay": 0.05}},
          "no_decay": ["normalization"]}),
    Case("sgd_nesterov_weight_decay_on_every_weight",
         {"optimizer": {"sgd": {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True,
                                "weight_decay": 0.005}},
          "no_decay": []}),
    Case("schedule_step",
         {"schedule": {"step": {"boundaries": [1, 2], "values": [0.01, 0.003, 0.001]}}},
         stop_after=2),
    Case("schedule_cosine_warmup",
         {"optimizer": {"adam": {"learning_rate": 0.01}},
          "schedule": {"cosine": {"warmup_epochs": 1, "final_fraction": 0.1}}}),
    Case("focal_loss_label_smoothing",
         {"loss": "categorical_focal_crossentropy", "label_smoothing": 0.1}),
    Case("metrics_top3_monitor_val_loss_target",
         {"metrics": ["accuracy", "top3"], "monitor": "val_loss",
          "target": {"val_top3": 0.999}}),
    Case("batchnorm_momentum_ema", {"batchnorm_momentum": 0.8, "ema": 0.9}),
    # the scaled rates come back with the resumed optimizer (Keras saves no rate per weight)
    Case("lr_scale_sgd_nesterov",
         {"optimizer": {"sgd": {"learning_rate": 0.02, "momentum": 0.9, "nesterov": True}},
          "lr_scale": {"normalization_bias": 64, "kernel": 0.5}}),
    # the first convolution whitened from the training images when the run began, and taken
    # from the checkpoint (not measured again) when it resumes
    Case("init_whiten", {"init": {"whiten": True, "whiten_eps": 0.001}}),
    # 5 steps an epoch: the slow weights move at steps 3 and 6, across the crash after epoch 1,
    # by fractions that fall over the run's steps (the resumed run must count them as it did)
    Case("lookahead_sgd_ema",
         {"optimizer": {"sgd": {"learning_rate": 0.05, "momentum": 0.9}},
          "lookahead": {"every": 3, "alpha": 0.5, "ramp": 2}, "ema": 0.9}),
    Case("early_dropout_resumed_before_the_switch", {"early_dropout": 0.5}),  # on in epochs 1-2
    Case("early_dropout_resumed_after_the_switch", {"early_dropout": 0.3}, stop_after=2),
    Case("validation_split_fraction_other_seed", {"validation_split": 0.25, "seed": 7}),
    # the rate halves after epochs 2 and 3, the first after the crash's checkpoint was saved
    Case("plateau_schedule_early_stopping",
         {"schedule": {"plateau": {"factor": 0.5, "patience": 1, "min_delta": 0.5}},
          "early_stopping": {"patience": 5, "min_delta": 0.5}}, stop_after=2),
    Case("no_validation_constant_schedule", {"validation_split": 0, "schedule": "constant"}),
    # one_cycle, sgd with nesterov, early dropout resumed right at its switch (0.1 of 3 epochs: on
    # in epoch 1 only), label smoothing with categorical cross-entropy, per-channel normalization,
    # padded crops, alternating flips, EMA, TTA over shifts: cifar-fast.yaml's recipe
    shipped_recipe("cifar.yaml"),
    shipped_recipe("cifar-fast.yaml"),
]  # fmt: skip


def test_the_cases_cover_every_train_setting_and_kind():
    """A train: setting (or an optimizer, schedule, no_decay or tta kind) added without a resume
    case here fails this test."""
    declared = {item.name for item in dataclasses.fields(TrainSettings)} - {"locations"}
    assert declared == set(TRAIN_FIELDS)
    covered = {key for case in CASES for key in {**BASE_TRAIN, **case.train}}
    assert covered == declared, f"no resume case sets {sorted(declared - covered)}"

    def named(value: Any) -> str:
        return value if isinstance(value, str) else next(iter(value))

    trains = [case.train for case in CASES]
    schedules = {named(train["schedule"]) for train in trains if "schedule" in train}
    assert schedules == set(SCHEDULES)
    optimizers = {named(train["optimizer"]) for train in trains if "optimizer" in train}
    assert {"adam", "adamw", "sgd", "rmsprop"} <= optimizers
    arguments = {key for train in trains if isinstance(train.get("optimizer"), dict)
                 for key in next(iter(train["optimizer"].values()))}  # fmt: skip
    assert {"nesterov", "momentum", "weight_decay"} <= arguments
    no_decay = {tuple(train["no_decay"]) for train in trains if "no_decay" in train}
    assert {(), ("normalization",), NO_DECAY_KINDS} <= no_decay
    assert {train["tta"] for train in trains if "tta" in train} == set(TTA_KINDS)
    assert {bool(case.augment) for case in CASES} == {True, False}
    splits = {type(train.get("validation_split", 30)) for train in trains}
    assert splits == {int, float} and any(train.get("validation_split") == 0 for train in trains)


def test_each_epoch_has_its_own_order_drawn_from_the_seed_and_the_epoch_alone():
    """Keras's shuffle of arrays gave every epoch the same order under TensorFlow once a global
    seed was set, and another order after a resume; layerkit's batches depend on (seed, epoch)."""
    from layerkit.training.batches import EpochBatches

    x = np.arange(10, dtype="float32")[:, None]
    y = np.arange(10, dtype="float32")[:, None]
    stream = EpochBatches(x, y, batch_size=4, seed=3, first_epoch=0)
    epochs = [np.concatenate([stream[epoch * 3 + step][0][:, 0] for step in range(3)])
              for epoch in range(4)]  # fmt: skip
    for order in epochs:  # every sample once an epoch, in batches of 4, 4 and 2
        assert sorted(order) == list(range(10))
    assert len({tuple(order) for order in epochs}) == 4
    assert [len(stream[step][0]) for step in range(3)] == [4, 4, 2]
    resumed = EpochBatches(x, y, batch_size=4, seed=3, first_epoch=2)
    assert all(np.array_equal(resumed[i][0], stream[6 + i][0]) for i in range(6))
    other = EpochBatches(x, y, batch_size=4, seed=4, first_epoch=0)
    assert not np.array_equal(other[0][0], stream[0][0])


# -- running -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return cifar_subset(tmp_path_factory.mktemp("resume") / "cifar160.tar", 16)


class Probe:
    """Watches runs through the recorder: the dropout rates each epoch trains with (set by then
    for the epoch), and, when ``copy_after`` is set, a copy of the run right after that epoch is
    saved — what a crash (``kill -9``) at that point leaves, minus the dead process's lock."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.copy_after: int | None = None
        self.copy_to: Path | None = None
        self.rates: dict[str, dict[int, list[float]]] = {}
        begin, record = Recorder.on_epoch_begin, Recorder.record
        probe = self

        def on_epoch_begin(recorder: Recorder, epoch: int, logs: dict | None = None) -> None:
            begin(recorder, epoch, logs)
            rates = [layer.rate for layer in dropout_layers(recorder.inner)]
            probe.rates.setdefault(recorder.run.path.name, {})[epoch + 1] = rates

        def record_then_copy(recorder: Recorder, epoch: int, row: dict[str, Any]) -> None:
            record(recorder, epoch, row)
            if epoch + 1 == probe.copy_after and probe.copy_to is not None:
                shutil.copytree(recorder.run.path, probe.copy_to,
                                ignore=shutil.ignore_patterns("lock"))  # fmt: skip

        monkeypatch.setattr(Recorder, "on_epoch_begin", on_epoch_begin)
        monkeypatch.setattr(Recorder, "record", record_then_copy)


@pytest.fixture
def probe(monkeypatch, tmp_path) -> Probe:
    monkeypatch.setenv("LAYERKIT_CACHE", str(tmp_path / "cache"))
    return Probe(monkeypatch)


def run_train(spec: Path | None, options: TrainOptions) -> tuple[str, dict[str, Any]]:
    """Train through the API with JSON progress; the status and the start event."""
    console = Console(file=io.StringIO(), width=200)
    if spec is None:
        result = resume(options.resume, options, console, output="json")
    else:
        result = train(prepare(load_spec(spec), options), console, output="json")
    start = json.loads(console.file.getvalue().splitlines()[0])
    return result.status, start


def history(run: Path) -> list[dict[str, float]]:
    """history.csv's rows without the timings, which differ from run to run."""
    rows = run_history(run)
    return [{key: value for key, value in row.items()
             if key not in ("seconds", "images_per_second")} for row in rows]  # fmt: skip


def run_history(run: Path) -> list[dict[str, float]]:
    lines = (run / "history.csv").read_text().splitlines()
    header = lines[0].split(",")
    return [dict(zip(header, map(float, line.split(",")), strict=True)) for line in lines[1:]]


def state(path: Path) -> dict[str, np.ndarray]:
    """Every weight of a saved model, and of its optimizer (moments, moving averages, step
    count) where it has one, by position."""
    model = keras.saving.load_model(path)
    values = {f"weight {i} {v.path}": v for i, v in enumerate(model.weights)}
    if getattr(model, "optimizer", None) is not None:
        values |= {f"optimizer {i} {v.path}": v for i, v in enumerate(model.optimizer.variables)}
    return {key: keras.ops.convert_to_numpy(value) for key, value in values.items()}


def assert_same_state(straight: Path, resumed: Path) -> None:
    first, second = state(straight), state(resumed)
    assert [key.split()[:2] for key in first] == [key.split()[:2] for key in second]
    for (key, value), other in zip(first.items(), second.values(), strict=True):
        np.testing.assert_allclose(other, value, rtol=1e-5, atol=1e-6, err_msg=key)


def assert_same_run(straight: Path, resumed: Path) -> None:
    rows, again = history(straight), history(resumed)
    assert [row["epoch"] for row in again] == [row["epoch"] for row in rows]
    for row, other in zip(rows, again, strict=True):
        assert other == pytest.approx(row, rel=1e-5, abs=1e-6), f"epoch {row['epoch']}"
    last = f"epoch-{len(rows):04d}.keras"
    assert_same_state(straight / "checkpoints" / last, resumed / "checkpoints" / last)
    assert_same_state(straight / "model_last.keras", resumed / "model_last.keras")
    if (straight / "model_best.keras").exists():
        assert_same_state(straight / "model_best.keras", resumed / "model_best.keras")
    best = json.loads((straight / "metrics.json").read_text())
    best_again = json.loads((resumed / "metrics.json").read_text())
    assert (best_again["status"], best_again["best_epoch"]) == (best["status"], best["best_epoch"])


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_run_resumed_after_a_crash_is_the_run_trained_straight(case, images, tmp_path, probe):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(case.document(), sort_keys=False), encoding="utf-8")
    epochs = case.document()["train"]["epochs"]
    probe.copy_after, probe.copy_to = case.stop_after, tmp_path / "b"
    status, straight_start = run_train(spec, TrainOptions(data=str(images), out=tmp_path / "a"))
    assert status == "finished"
    assert len(run_history(tmp_path / "b")) == case.stop_after  # the run as a crash left it

    status, resumed_start = run_train(None, TrainOptions(resume=tmp_path / "b"))
    assert status == "finished"
    assert_same_run(tmp_path / "a", tmp_path / "b")
    # the same dropout in every epoch, and the resume's start line says what the first one did
    straight = probe.rates["a"]
    assert len(straight) == epochs
    assert probe.rates["b"] == {
        epoch: straight[epoch] for epoch in straight if epoch > case.stop_after
    }
    assert resumed_start["first_epoch"] == case.stop_after + 1
    ignore = ("run", "first_epoch")
    assert {k: v for k, v in resumed_start.items() if k not in ignore} == {
        k: v for k, v in straight_start.items() if k not in ignore
    }
    early = case.document()["train"].get("early_dropout")
    on = [rates != [0.0, 0.0] for _, rates in sorted(straight.items())]
    if early is None:
        assert all(on) and straight_start["dropout_until"] is None
    else:
        until = straight_start["dropout_until"]
        assert until == math.ceil(early * epochs)
        assert on == [epoch <= until for epoch in range(1, epochs + 1)]


# -- extending a finished run ------------------------------------------------------------------

HEAVY_DROPOUT = {  # without its dropout, this network fits its 130 images in 3-4 epochs
    "name": "heavy_dropout",
    "input": [32, 32, 3],
    "layers": [
        "flatten",
        {"dense": {"units": 512, "activation": "relu"}},
        {"dropout": {"rate": 0.98}},
        {"dense": {"units": 10, "activation": "softmax"}},
    ],
    "data": {"normalize": {"scale": 0.00392156862745098, "mean": [0.49, 0.48, 0.45],
                           "std": [0.25, 0.24, 0.26]}},
    "train": {"optimizer": {"adam": {"learning_rate": 0.0005}}, "batch_size": 8, "epochs": 3,
              "validation_split": 30, "seed": 2},
}  # fmt: skip


@pytest.mark.slow
def test_extending_a_finished_run_keeps_its_dropout(images, tmp_path, probe):
    """specs/cifar.yaml has no early_dropout; `--resume RUN --epochs N` once switched every
    dropout layer off for the added epochs, and the training accuracy of a 0.98-dropout network
    jumped at the resume. Without early_dropout (and with a constant learning rate) a run extended
    from 3 to 6 epochs is the 6-epoch run."""
    spec = tmp_path / "heavy.yaml"
    spec.write_text(yaml.safe_dump(HEAVY_DROPOUT, sort_keys=False), encoding="utf-8")
    run_train(spec, TrainOptions(data=str(images), out=tmp_path / "a", epochs=6))
    status, _ = run_train(spec, TrainOptions(data=str(images), out=tmp_path / "b"))
    assert status == "finished" and len(run_history(tmp_path / "b")) == 3

    status, start = run_train(None, TrainOptions(resume=tmp_path / "b", epochs=6))
    assert status == "finished"
    accuracy = [row["accuracy"] for row in run_history(tmp_path / "b")]
    # 0.98 dropout holds the training accuracy near chance (measured: 0.09-0.16 in epochs 4-6);
    # with the dropout switched off at the resume it rose to 0.25, 0.62 and 0.86
    assert max(accuracy[3:]) < 0.5, accuracy
    assert probe.rates["b"] == {epoch: [0.98] for epoch in range(1, 7)}
    assert_same_run(tmp_path / "a", tmp_path / "b")
    assert (start["first_epoch"], start["epochs"], start["dropout_until"]) == (4, 6, None)
    assert json.loads((tmp_path / "b" / "setup.json").read_text())["dropout_until"] is None


@pytest.mark.slow
def test_extending_a_run_with_early_dropout_keeps_it_laid_out_over_the_first_epochs(
    images, tmp_path, probe
):
    document = {**HEAVY_DROPOUT, "train": {**HEAVY_DROPOUT["train"], "early_dropout": 0.5,
                                           "epochs": 2}}  # fmt: skip
    spec = tmp_path / "early.yaml"
    spec.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    run_train(spec, TrainOptions(data=str(images), out=tmp_path / "r"))
    assert json.loads((tmp_path / "r" / "setup.json").read_text())["dropout_until"] == 1
    _, start = run_train(None, TrainOptions(resume=tmp_path / "r", epochs=4))
    assert start["dropout_until"] == 1
    assert probe.rates["r"] == {1: [0.98], 2: [0.0], 3: [0.0], 4: [0.0]}
