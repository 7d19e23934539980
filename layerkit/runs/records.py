"""The records of a run directory: what its JSON files hold, as typed values.

Takes the JSON read from setup.json, state.json and environment.json (and a run's history, for
metrics.json); gives frozen dataclasses (:class:`RunSetup`, :class:`RunState` with its
:class:`Best` and the counters of early stopping and the plateau schedule, :class:`StopWatch` and
:class:`PlateauState`, :class:`RunEnvironment`), each checked against what layerkit writes
(:mod:`.run_checks`) so that a damaged file is a one-line :class:`RunError` naming it and saying
what to do. Each record carries a ``version``; one without was written by an earlier layerkit, and
the keys it lacks take the defaults below (what those runs did).
"""

from __future__ import annotations

import csv
import io
import stat
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import LayerkitError
from ..spec.settings import Normalize
from .checks import history_problem, record_problem

MAX_RECORD_BYTES = 64 * 1024 * 1024  # a record or history.csv; a real one is a few KB
RUN_FORMAT = 3  # the version of setup.json, state.json and environment.json written now
# 2: setup.json also holds what evaluation needs (the split and the input scaling)
# 3: state.json also holds early stopping's and the plateau schedule's counters


class RunError(LayerkitError):
    """A run directory that cannot be used as asked."""


@dataclass(frozen=True)
class RunSetup:
    """setup.json: how the run reads its data and trains, decided once when it starts."""

    source: str
    skip_bad_images: bool = False
    resize: bool = False
    augment: bool = False
    precision: str = "auto"
    # decided once: a resume loads the optimizer under the same policy, whatever the device;
    # None in runs from before the decision was recorded (decided again from ``precision``)
    mixed_precision: bool | None = None
    strategy: str | None = None
    allow_large: bool = False
    # the epochs the learning-rate schedule and early dropout are laid out over; a resume with
    # another --epochs keeps both as they were (None in older runs: the spec's epochs)
    schedule_epochs: int | None = None
    # the last epoch with dropout under early_dropout; None: the dropout layers act in every
    # epoch, a resume's added ones too
    dropout_until: int | None = None
    loss: str | None = None  # how the loss was described, once the model is built
    from_logits: bool | None = None
    # what evaluating the run needs, so it never reloads the spec: its validation split (the
    # fraction or count, and the seed that drew it) and its input scaling, as data.normalize
    # gave it. None in runs of format 1 (their spec.yaml is read instead)
    validation_split: float | int | None = None
    seed: int | None = None
    normalize: dict[str, Any] | None = None
    version: int = RUN_FORMAT

    def input_scaling(self) -> Normalize:
        """The run's input scaling (``normalize`` as the dataclass it was written from)."""
        values = dict(self.normalize or {})
        for key in ("mean", "std"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        return Normalize(**values)


@dataclass(frozen=True)
class Best:
    """The best epoch so far by the run's monitored metric; empty before one."""

    value: float | None = None
    epoch: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    def improved_by(self, value: float | None, monitor: str) -> bool:
        """Whether ``value`` of ``monitor`` beats this best (a loss goes down, others up)."""
        if value is None:
            return False
        if self.value is None:
            return True
        return value < self.value if "loss" in monitor else value > self.value


@dataclass(frozen=True)
class RunState:
    """state.json: what a resume needs, written last after each finished epoch."""

    epoch: int
    checkpoint: str  # its file name under checkpoints/
    best: Best = field(default_factory=Best)
    monitor: str | None = None
    # what the checkpoint's optimizer has counted (mixed precision skips a step whose gradients
    # overflow), for the resume to check against; None in runs from before it was recorded
    optimizer_steps: int | None = None
    # train.early_stopping's and the plateau schedule's counters (a StopWatch, a PlateauState),
    # so a resumed run stops and lowers its rate at the epochs the uninterrupted one does; None
    # without those settings, and in runs from before (format 2 and earlier)
    early_stopping: dict[str, Any] | None = None
    plateau: dict[str, Any] | None = None
    version: int = RUN_FORMAT


@dataclass(frozen=True)
class StopWatch:
    """``train.early_stopping``'s count: the best value of the monitor so far (improved by more
    than ``min_delta`` each time it changed), its epoch, and the epochs since."""

    best: float | None = None
    best_epoch: int | None = None
    wait: int = 0


@dataclass(frozen=True)
class PlateauState:
    """The plateau schedule's count, as keras.callbacks.ReduceLROnPlateau keeps it: the rate
    (None: the optimizer's own, before a first epoch), the best value of the monitor, the
    epochs without an improvement, and the epochs of cooldown left after a reduction."""

    lr: float | None = None
    best: float | None = None
    wait: int = 0
    cooldown: int = 0


@dataclass(frozen=True)
class RunEnvironment:
    """environment.json: where the run started (versions, devices, the command) and its data's
    class names and skipped images."""

    class_names: tuple[str, ...] = ()
    skipped_images: tuple[str, ...] = ()
    device: str | None = None
    versions: dict[str, Any] = field(default_factory=dict)  # runtime.environment(), kept flat
    version: int = RUN_FORMAT


def from_record(kind: type, record: Any, path: Path) -> Any:
    """``kind`` from a JSON record: unknown keys (a later layerkit's) are ignored, missing ones
    take their defaults; a missing required one, or a value of another type, is a RunError."""
    problem = record_problem(kind, record)
    if problem is not None:
        raise damaged(path, problem)
    known = {item.name for item in fields(kind)}
    values = {key: value for key, value in record.items() if key in known}
    if "version" in known:
        values.setdefault("version", 0)  # no version: written before records had one
    return kind(**values)


def reason(error: Exception) -> str:
    """An exception as the few words a message needs ("permission denied")."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return str(error) or type(error).__name__


def damaged(path: Path, problem: str) -> RunError:
    """The error for a run file that is not what layerkit wrote, with what to do."""
    fix = _FIXES.get(path.name, _FIXES["state.json"])
    return RunError(f"{path} {problem}; {fix}")


_FIXES = {
    "state.json": "it cannot be rebuilt: restore the file from a copy, or train the spec "
    "again into a new --out",
    "history.csv": "restore it from a copy, or delete it to go on without the finished epochs' "
    "rows",
    "environment.json": "restore it from a copy (evaluate needs its class_names)",
    "spec.yaml": "restore it from a copy, or train the spec again into a new --out",
}


def metrics_record(history: list[dict], best: Best, status: str, monitor: str) -> dict[str, Any]:
    """metrics.json: the run's status, best and last epochs' metrics, its time and speed."""
    last = history[-1] if history else {}
    seconds = sum(row["seconds"] for row in history)
    return {
        "status": status,
        "epochs": len(history),
        "monitor": monitor,
        "best_epoch": best.epoch,
        "best": best.metrics,
        "last": last,
        "seconds": round(seconds, 1),
        "images_per_second": round(
            sum(row["images_per_second"] * row["seconds"] for row in history) / seconds, 1
        ) if seconds else None,
    }  # fmt: skip


def history_text(rows: list[dict[str, Any]]) -> str:
    """history.csv: a column for every key any row has, a line per epoch."""
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def file_problem(path: Path, limit: int) -> str | None:
    """Whether ``path`` can be read whole: a regular file (a FIFO would block the reader) of at
    most ``limit`` bytes."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return "is missing"
    except (OSError, ValueError) as error:
        return f"cannot be read ({reason(error)})"
    if not stat.S_ISREG(status.st_mode):
        return "is not a regular file"
    if status.st_size > limit:
        return f"is {status.st_size:,} bytes, more than any run's (at most {limit:,})"
    return None


def read_history(path: Path) -> list[dict[str, Any]]:
    """history.csv's rows (none if it is missing), each checked: epochs 1, 2, 3… in order,
    every value a number."""
    problem = file_problem(path, MAX_RECORD_BYTES)
    if problem == "is missing":
        return []
    if problem is not None:
        raise damaged(path, problem)
    try:
        with open(path, encoding="utf-8", newline="") as file:
            reader = csv.DictReader(file)
            rows = [{key: _number(value) for key, value in row.items()} for row in reader]
            columns = reader.fieldnames
    except (OSError, ValueError, csv.Error) as error:
        raise damaged(path, f"cannot be read as CSV ({reason(error)})") from None
    if columns is not None and "epoch" not in columns:
        raise damaged(path, "has no epoch column")
    problem = history_problem(rows)
    if problem is not None:
        raise damaged(path, problem)
    return rows


def _number(value: str | None) -> Any:
    try:
        number = float(value or "")
    except ValueError:
        return value
    whole = number.is_integer() and not any(mark in value for mark in ".eE")  # type: ignore[union-attr]
    return int(number) if whole else number
