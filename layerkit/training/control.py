"""Training control between epochs: ``train.early_stopping`` and the ``plateau`` schedule.

Takes the run's ``train:`` settings, the metric it monitors and the counters its state.json kept
(a :class:`~layerkit.runs.records.StopWatch`, a :class:`~layerkit.runs.records.PlateauState`);
gives, after each epoch's row of history, the counters to write into state.json with that epoch,
whether the run stops (and why, in words), and the learning rate the next epoch trains with. It
counts as ``keras.callbacks.EarlyStopping`` and ``ReduceLROnPlateau`` count, but keeps the count in
state.json, so a run resumed after a crash stops and lowers its rate at the epochs the
uninterrupted run does. :class:`~layerkit.training.callbacks.Recorder` calls it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np

from ..catalog.training import SCHEDULES
from ..runs.records import PlateauState, RunState, StopWatch, from_record
from ..spec.settings import Choice, EarlyStopping, TrainSettings
from .optimizers import unwrapped


def improved(value: float, best: float | None, min_delta: float, minimize: bool) -> bool:
    """Whether ``value`` beats ``best`` by more than ``min_delta`` (a loss by being lower)."""
    if best is None:
        return True
    return value < best - min_delta if minimize else value > best + min_delta


def count_stop(watch: StopWatch, value: float, epoch: int, rule: EarlyStopping,
               minimize: bool) -> StopWatch:  # fmt: skip
    """Early stopping's count after ``epoch`` (counted from 1) measured ``value``."""
    if improved(value, watch.best, rule.min_delta, minimize):
        return StopWatch(value, epoch, 0)
    return replace(watch, wait=watch.wait + 1)


@dataclass(frozen=True)
class PlateauRule:
    """The plateau schedule's arguments, the catalog's defaults for those not written."""

    factor: float
    patience: int
    min_delta: float
    min_lr: float
    cooldown: int

    @classmethod
    def of(cls, schedule: Choice | None) -> PlateauRule | None:
        """The rule of a ``plateau`` schedule; None for any other."""
        if schedule is None or schedule.name != "plateau":
            return None
        defaults = {name: arg.default for name, arg in SCHEDULES["plateau"].items()}
        return cls(**{**defaults, **schedule.args})


def count_plateau(state: PlateauState, value: float, rate: float, rule: PlateauRule,
                  minimize: bool) -> PlateauState:  # fmt: skip
    """The plateau count after an epoch that trained at ``rate`` and measured ``value``: the
    rate times ``factor`` (not below ``min_lr``) after ``patience`` epochs without an
    improvement, then ``cooldown`` epochs in which nothing is counted."""
    cooldown, wait = state.cooldown, state.wait
    if cooldown > 0:
        cooldown, wait = cooldown - 1, 0
    if improved(value, state.best, rule.min_delta, minimize):
        return PlateauState(rate, value, 0, cooldown)
    if cooldown > 0:
        return PlateauState(rate, state.best, wait, cooldown)
    wait += 1
    if wait >= rule.patience and rate > float(np.float32(rule.min_lr)):
        # the rate as the optimizer's float32 variable holds it
        lowered = float(np.float32(max(rate * rule.factor, rule.min_lr)))
        return PlateauState(lowered, state.best, 0, rule.cooldown)
    return PlateauState(rate, state.best, wait, cooldown)


class Control:
    """Early stopping and the plateau schedule of one run, from where state.json left them.

    After each epoch :meth:`count` gives the counters that epoch's state.json holds; once it is
    written, :meth:`commit` takes them on, lowers the rate and decides whether the run stops
    (``stopped`` then says why)."""

    def __init__(self, settings: TrainSettings, monitor: str, state: RunState | None,
                 path: Path) -> None:  # fmt: skip
        self.early = settings.early_stopping
        self.rule = PlateauRule.of(settings.schedule)
        self.monitor = monitor
        self.minimize = "loss" in monitor
        previous = state or RunState(0, "")
        self.watch = from_record(StopWatch, previous.early_stopping or {}, path)
        if self.early is not None and self.watch.wait >= self.early.patience:
            # a run that stopped early, resumed on purpose: it gets patience epochs afresh (an
            # interrupted run never has a full count, so resuming it stays exact)
            self.watch = replace(self.watch, wait=0)
        self.plateau = from_record(PlateauState, previous.plateau or {}, path)
        self.stopped: str | None = None

    @property
    def active(self) -> bool:
        return self.early is not None or self.rule is not None

    def start(self, optimizer: keras.optimizers.Optimizer) -> None:
        """A resumed run trains on at the rate the plateau schedule had reached (its checkpoint
        was saved before the epoch's reduction)."""
        if self.rule is not None and self.plateau.lr is not None:
            unwrapped(optimizer).learning_rate = self.plateau.lr

    def count(self, epoch: int, row: dict[str, Any]) -> tuple[StopWatch, PlateauState]:
        """The counters after ``epoch`` (counted from 1), whose row of history is ``row``."""
        value = row.get(self.monitor)
        watch, plateau = self.watch, self.plateau
        if value is None:
            return watch, plateau
        if self.early is not None:
            watch = count_stop(watch, value, epoch, self.early, self.minimize)
        if self.rule is not None:
            plateau = count_plateau(plateau, value, row["lr"], self.rule, self.minimize)
        return watch, plateau

    def record(self, counted: tuple[StopWatch, PlateauState]) -> dict[str, Any]:
        """The counters as state.json's keys (none for a setting the run does not have)."""
        watch, plateau = counted
        return {
            "early_stopping": asdict(watch) if self.early is not None else None,
            "plateau": asdict(plateau) if self.rule is not None else None,
        }

    def commit(self, counted: tuple[StopWatch, PlateauState], model: keras.Model) -> None:
        """Take on the counters state.json now holds: lower the rate, stop the run."""
        self.watch, self.plateau = counted
        if self.rule is not None and self.plateau.lr is not None:
            unwrapped(model.optimizer).learning_rate = self.plateau.lr
        early, watch = self.early, self.watch
        if early is not None and watch.wait >= early.patience:
            by = f" by more than {early.min_delta:g}" if early.min_delta else ""
            epochs = f"{watch.wait} epoch{'s' * (watch.wait != 1)}"
            self.stopped = (
                f"{self.monitor} did not improve{by} for {epochs} since epoch "
                f"{watch.best_epoch} ({watch.best:.4g})"
            )
            model.stop_training = True
