"""Assembling a run's callbacks, and its outcome once Keras's fit returns.

Takes the run directory, the plan, the :class:`~layerkit.training.trainer.Trainer` and the
run's data; gives the callbacks in the order they must run (NaN stop, epoch seeds, moving
average, Lookahead, early dropout, flip TTA, the progress reporter, the recorder, TensorBoard), the progress
reporter told how the run starts, and at the end a :class:`TrainResult` also written to
metrics.json.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import keras

from ..data.dataset import Notify
from ..runs.directory import RunDir
from ..runs.records import Best, RunSetup, metrics_record
from ..spec.plan import Plan
from .callbacks import (
    EarlyDropout,
    EpochSeeds,
    FlipValidation,
    MovingAverage,
    Recorder,
)
from .control import Control
from .lookahead import LAYER_NAME, LookaheadUpdate
from .optimizers import unwrapped
from .progress import JsonProgress, LiveProgress, PlainProgress
from .recipe import dropout_epochs, dropout_layers, loss_description
from .trainer import RunData, Trainer, from_logits


@dataclass(frozen=True)
class TrainResult:
    """How a run ended: ``status`` is ``finished``, ``reached target`` (``reason`` says which
    value), ``stopped early`` (``train.early_stopping``: ``reason`` says after what),
    ``interrupted`` (Ctrl-C) or ``failed`` (``reason`` says why); the best epoch by the
    run's monitored metric, with its row of history.csv (empty before one)."""

    run: RunDir
    epochs_done: int
    status: str
    reason: str | None = None
    best_epoch: int | None = None
    best_metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Report:
    """Where a run reports: progress on ``console`` as ``output`` says, warnings to ``notify``."""

    console: Any
    output: str
    notify: Notify | None

    def warn(self, text: str) -> None:
        if self.notify is not None:
            self.notify(text)


def _reporter(report: Report, epochs: int, steps: int, batch_size: int) -> PlainProgress:
    if report.output == "live":
        return LiveProgress(report.console, epochs, steps, batch_size)
    if report.output == "json":
        return JsonProgress(report.console, epochs)
    return PlainProgress(report.console, epochs)


def run_callbacks(run: RunDir, plan: Plan, setup: RunSetup, made: Trainer, data: RunData,
                  validation: tuple[Any, Any] | None, monitor: str, history: list[dict[str, Any]],
                  best: Best, device: str, initial_epoch: int, report: Report,
                  control: Control | None = None,
                  ) -> tuple[list[keras.callbacks.Callback], Recorder]:  # fmt: skip
    """The run's callbacks, in the order they must run, with the recorder among them; the
    reporter is told how the run starts."""
    spec, settings = plan.spec, plan.spec.train
    laid_out = setup.schedule_epochs or settings.epochs
    until, dropouts = dropout_epochs(replace(settings, epochs=laid_out)), dropout_layers(made.model)
    early = until is not None and until < settings.epochs  # dropout switched off after `until`
    # laid out over the epochs (a plateau schedule's rate follows the monitored metric instead)
    scheduled = settings.schedule is not None and settings.schedule.name not in (
        "constant", "plateau")  # fmt: skip
    reporter = _reporter(report, settings.epochs, data.steps, settings.batch_size)
    dataset = data.dataset
    reporter.start(
        {
            "spec": spec.name,
            "run": str(run.path),
            "device": device,
            "backend": keras.backend.backend(),
            "train_images": len(data.train_index),
            "validation_images": len(data.val_index),
            "classes": len(dataset.class_names),
            "skipped_images": len(dataset.skipped),
            "batch_size": settings.batch_size,
            "first_epoch": initial_epoch + 1,
            "epochs": settings.epochs,
            "augment": bool(setup.augment),
            "dropout_until": until if early else None,
            "dropout_layers": len(dropouts),
            "schedule_epochs": laid_out if scheduled else None,
            "loss": loss_description(made.loss, made.ends),
            "from_logits": from_logits(made.loss),
        }
    )
    average = MovingAverage(enabled=bool(unwrapped(made.trainer.optimizer).use_ema))
    recorder = Recorder(run, made.model, settings.epochs, monitor, len(data.train_index), history,
                        best, reporter, average, settings.target, control)  # fmt: skip
    # TerminateOnNaN ends the epoch at the first NaN batch; the recorder then keeps the last good
    # one. The moving average and the TTA column must be in place before the recorder runs.
    callbacks: list[keras.callbacks.Callback] = [
        keras.callbacks.TerminateOnNaN(),
        EpochSeeds(settings.seed),
        average,
    ]
    if settings.lookahead is not None:
        slow = made.trainer.get_layer(LAYER_NAME)
        callbacks.append(LookaheadUpdate(made.model, slow, settings.lookahead,
                                         laid_out * data.steps))  # fmt: skip
    if early and dropouts:  # before the recorder: it saves the spec's rates
        callbacks.append(EarlyDropout(dropouts, until))
    if settings.tta == "flip" and validation is not None:
        labels = dataset.y[data.val_index]
        callbacks.append(FlipValidation(validation[0], labels, settings.batch_size, average,
                                        made.ends, settings.tta_translate))  # fmt: skip
    callbacks += [reporter, recorder]
    if keras.backend.backend() == "tensorflow":
        callbacks.append(
            keras.callbacks.TensorBoard(log_dir=str(run.tensorboard), write_graph=False)
        )
    return callbacks, recorder


def finish(run: RunDir, recorder: Recorder, status: str, report: Report) -> TrainResult:
    """The run's outcome, also written to metrics.json."""
    if recorder.stopped is not None:
        status = "failed"
    elif recorder.reached is not None:
        status = "reached target"
    elif (
        recorder.control is not None
        and recorder.control.stopped is not None
        and (recorder.history and recorder.history[-1]["epoch"] < recorder.epochs)
    ):  # stopped before its last epoch: at the last one, it simply finished
        status = "stopped early"
    best = recorder.best
    try:
        run.write_json(
            "metrics.json", metrics_record(recorder.history, best, status, recorder.monitor)
        )
    except OSError as error:  # the run is still resumable from state.json
        report.warn(f"warning: could not update metrics.json: {error}")
    early = recorder.control.stopped if recorder.control is not None else None
    return TrainResult(run, len(recorder.history), status,
                       recorder.reached or recorder.stopped or early, best.epoch,
                       dict(best.metrics))  # fmt: skip
