"""One trial of ``layerkit tune``: the spec with the trial's values set, trained as a normal run.

Takes the spec's path, the trial's ``--set`` overrides, the run options and an Optuna trial;
gives a :class:`TrialOutcome`: the run directory (``<out>/trial-NNN``, a run like any
``layerkit train`` makes, its spec.yaml the spec with those values and a header saying how to
reproduce it), its status (the run's — ``finished``, ``reached target``, ``stopped early``,
``failed``, ``interrupted`` — or ``pruned``) and the value
of the metric the study optimises. Each epoch's value is reported to the trial, and a trial
Optuna's pruner gives up on stops cleanly after that epoch. Imports Keras (through the training
loop): only ``layerkit tune`` loads it.
"""

from __future__ import annotations

import io
import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import keras

from ..console.errors import UserError
from ..data.dataset import Notify
from ..spec.loader import load_spec
from ..training import loop
from ..training.start import TrainOptions, prepare


@dataclass(frozen=True)
class TrialOutcome:
    """How a trial's run ended, and its metric (None where no epoch reported it)."""

    run: Path
    status: str
    value: float | None
    epochs: int
    reason: str | None = None


class ReportToTrial(keras.callbacks.Callback):
    """After each epoch: the monitored metric reported to the Optuna trial, and the run stopped
    once the trial's pruner says it will not beat the others."""

    def __init__(self, trial: Any, metric: str) -> None:
        super().__init__()
        self.trial, self.metric = trial, metric
        self.pruned = False
        self.values: list[float] = []
        self.measured: list[str] = []  # what the epoch measured, where the metric is missing

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        name = self.metric if self.metric in logs else self.metric.removeprefix("val_")
        if name not in logs:  # said once the run stops: no exception inside Keras's fit
            self.measured = sorted(logs)
            self.model.stop_training = True
            return
        value = float(logs[name])
        self.values.append(value)
        if not math.isfinite(value):
            return  # the run's own NaN check ends it as failed
        self.trial.report(value, epoch)
        last = epoch + 1 >= self.params.get("epochs", 0)  # a run that ends anyway is not pruned
        if not last and self.trial.should_prune():
            self.pruned = True
            self.model.stop_training = True


def trial_folder(out: Path, number: int) -> Path:
    return out / f"trial-{number:03d}"


def run_trial(spec_path: Path, variant: str | None, overrides: list[str], options: TrainOptions,
              trial: Any, metric: str, notify: Notify) -> TrialOutcome:  # fmt: skip
    """Train the spec with ``overrides`` into ``options.out`` (a trial's folder), reporting each
    epoch's ``metric`` to ``trial``.

    Raises:
        SpecError, SpecErrors: the trial's values make the spec invalid (at their ``--set``).
        DataError, RunError: as ``layerkit train`` raises them.
        UserError: no epoch measures ``metric``.
    """
    # each trial builds new models in one process: TensorFlow's notes on retracing are noise here
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    options = replace(options, overrides=tuple(overrides), variant=variant)
    spec = load_spec(spec_path, options.overrides, variant)
    new = prepare(spec, options, None, notify)
    reporter = ReportToTrial(trial, metric)
    quiet = _quiet_console()
    result = loop.train(new, quiet, "plain", notify, extra_callbacks=[reporter])
    if reporter.measured:
        raise UserError(
            f"the tune's metric '{metric}' is not measured by the runs (each epoch has "
            f"{', '.join(reporter.measured)}); set search.metric to one of them"
        )
    status = "pruned" if reporter.pruned else result.status
    if reporter.pruned:
        _record_pruned(result.run, notify)
    value = _value(result.best_metrics, metric, reporter.values, status)
    return TrialOutcome(result.run.path, status, value, result.epochs_done, result.reason)


def _value(best: dict[str, Any], metric: str, values: list[float], status: str) -> float | None:
    """The trial's value: the metric at the run's best epoch; a pruned trial's last report."""
    metric = metric if metric in best else metric.removeprefix("val_")
    if status == "pruned" or metric not in best:
        finite = [value for value in values if math.isfinite(value)]
        return finite[-1] if finite else None
    value = float(best[metric])
    return value if math.isfinite(value) else None


def _record_pruned(run: Any, notify: Notify) -> None:
    """metrics.json says the run was pruned (the loop wrote ``finished``: it stopped cleanly)."""
    try:
        record = run.read_json("metrics.json")
        record["status"] = "pruned"
        run.write_json("metrics.json", record)
    except (OSError, ValueError, TypeError) as error:  # the run itself is complete
        notify(f"warning: could not mark {run.path / 'metrics.json'} pruned: {error}")


def _quiet_console() -> Any:
    """A console for the run's own epoch lines, which a tune does not show (it shows a line per
    trial instead); every run still writes its history.csv."""
    from rich.console import Console

    return Console(file=io.StringIO(), width=200, no_color=True)
