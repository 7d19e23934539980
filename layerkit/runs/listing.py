"""Finding and summarizing run directories, for ``layerkit runs`` and the ``latest`` alias.

Takes a folder (``./runs`` by default) and finds every run directory in it, a few levels down
(``runs/<spec>/<timestamp>``, or wherever ``--out`` put one); gives one :class:`RunInfo` per run:
its spec (and variant), status, epochs done and planned, the best monitored metric and its epoch,
the last validation accuracy, when it started and how long it trained. A damaged run is a
:class:`RunInfo` with its problem, never an exception. :func:`resolve_latest` turns ``latest``
(the most recently started run under ``./runs``) and ``FOLDER/latest`` (the newest under FOLDER,
e.g. ``runs/cifar10_cnn/latest``) into the run's path; a real folder named ``latest`` wins.

Reads the run's files only: no TensorFlow, no lock taken.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import lock as run_lock
from .directory import RunDir
from .records import MAX_RECORD_BYTES, RunError, file_problem, reason

RUN_MARKERS = ("state.json", "metrics.json", "setup.json")  # any one makes a folder a run
SEARCH_DEPTH = 3  # runs/<spec>/<timestamp> is 2 levels down; --out may put one deeper
LATEST = "latest"
DEFAULT_ROOT = Path("runs")
_STAMP = re.compile(r"(\d{8}-\d{6})")
_VARIANT = re.compile(r" --variant (\S+)")


@dataclass(frozen=True)
class RunInfo:
    """One run directory as ``layerkit runs`` lists it; None where the run does not say."""

    path: Path
    spec: str | None = None
    variant: str | None = None
    status: str = "damaged"
    epochs: int = 0
    planned: int | None = None
    monitor: str | None = None
    best: float | None = None
    best_epoch: int | None = None
    last_val_accuracy: float | None = None
    started: str | None = None  # ISO 8601, as environment.json records it
    seconds: float | None = None
    problem: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path), "spec": self.spec, "variant": self.variant,
            "status": self.status, "epochs": self.epochs, "planned_epochs": self.planned,
            "monitor": self.monitor, "best": self.best, "best_epoch": self.best_epoch,
            "last_val_accuracy": self.last_val_accuracy, "started": self.started,
            "seconds": self.seconds, "problem": self.problem,
        }  # fmt: skip


def is_run(folder: Path) -> bool:
    try:
        return folder.is_dir() and any((folder / name).is_file() for name in RUN_MARKERS)
    except OSError:
        return False


def find_runs(root: Path, depth: int = SEARCH_DEPTH) -> Iterator[Path]:
    """Every run directory in ``root`` (``root`` itself if it is one), ``depth`` levels down at
    most; a run's own folders (checkpoints, tensorboard) are not searched."""
    if is_run(root):
        yield root
        return
    if depth == 0:
        return
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            yield from find_runs(entry, depth - 1)


def list_runs(root: Path) -> list[RunInfo]:
    """Every run in ``root``, oldest start first (runs whose start is unknown first)."""
    runs = [read_run(path) for path in find_runs(root)]
    return sorted(runs, key=lambda run: (run.started or "", str(run.path)))


def read_run(path: Path) -> RunInfo:
    """What ``path``'s files say about the run; a run that cannot be read gives its problem."""
    run = RunDir(path)
    spec, variant, planned = _spec_facts(run)
    started = _started(run)
    try:
        metrics = _metrics(run)
        state = run.read_state() if run.finished else None
    except RunError as error:
        return RunInfo(path, spec, variant, planned=planned, started=started, problem=str(error))
    epochs = state.epoch if state is not None else 0
    monitor = metrics.get("monitor") or (state.monitor if state is not None else None)
    best_metrics = metrics.get("best") or (state.best.metrics if state is not None else {})
    last = metrics.get("last") or {}
    return RunInfo(
        path, spec, variant, _status(run, metrics.get("status")), epochs, planned,
        monitor or None, _number(best_metrics.get(monitor)) if monitor else None,
        state.best.epoch if state is not None else None, _number(last.get("val_accuracy")),
        started, _number(metrics.get("seconds")),
    )  # fmt: skip


def _metrics(run: RunDir) -> dict[str, Any]:
    if not (run.path / "metrics.json").exists():
        return {}
    metrics = run.read_json("metrics.json")
    if not isinstance(metrics, dict):
        raise RunError(f"{run.path / 'metrics.json'} is not a JSON object")
    return metrics


def _status(run: RunDir, recorded: Any) -> str:
    """metrics.json's status, but a run whose writer has gone is no longer running."""
    status = recorded if isinstance(recorded, str) and recorded else "running"
    if status != "running":
        return status
    return "running" if holder_alive(run.path) else "interrupted"


def holder_alive(folder: Path) -> bool:
    """Whether a live process holds the run's lock (one on another host counts as alive)."""
    try:
        held = run_lock.read_owner(folder / "lock")
    except OSError:
        return False
    return held is not None and held[0].alive() is not False


def _spec_facts(run: RunDir) -> tuple[str | None, str | None, int | None]:
    """The spec's name, the variant trained (from spec.yaml's first comment) and its epochs."""
    if file_problem(run.spec_file, MAX_RECORD_BYTES) is not None:
        return None, None, None
    try:
        text = run.spec_file.read_text(encoding="utf-8")
        document = yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError):
        return None, None, None
    header = text.split("\n", 1)[0]
    variant = _VARIANT.search(header) if header.startswith("#") else None
    if not isinstance(document, dict):
        return None, variant[1] if variant else None, None
    name, train = document.get("name"), document.get("train")
    epochs = train.get("epochs") if isinstance(train, dict) else None
    return (
        name if isinstance(name, str) else None,
        variant[1] if variant else None,
        epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else None,
    )


def _started(run: RunDir) -> str | None:
    """When the run started: environment.json's ``started``, else its folder's timestamp."""
    try:
        record = run.read_json("environment.json")
        started = record.get("started") if isinstance(record, dict) else None
        if isinstance(started, str):
            return datetime.datetime.strptime(started, "%Y-%m-%dT%H:%M:%S%z").isoformat()
    except (RunError, ValueError):
        pass
    stamp = _STAMP.search(run.path.name)
    if stamp is None:
        return None
    try:
        return datetime.datetime.strptime(stamp[1], "%Y%m%d-%H%M%S").isoformat()
    except ValueError:
        return None


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else None


def resolve_latest(path: Path, notify: Callable[[str], None] | None = None) -> Path:
    """``path``, or for ``latest`` / ``FOLDER/latest`` (when no such folder exists) the most
    recently started run under ``./runs`` / ``FOLDER``, said to ``notify`` as
    ``latest → PATH``. Raises a RunError naming the fix when there is no run to take."""
    if path.name != LATEST or path.exists() or path.is_symlink():
        return path
    root = path.parent if path.parent != Path() else DEFAULT_ROOT
    if not root.is_dir():
        raise RunError(
            f"'{path}': there is no folder '{root}' to take the latest run from; train a run "
            "first (layerkit train SPEC), or give the run's folder"
        )
    runs = [run for run in list_runs(root) if run.started is not None]
    if not runs:
        raise RunError(
            f"'{path}': no run under '{root}' to take as the latest; train one first "
            "(layerkit train SPEC), or give the run's folder (layerkit runs lists them)"
        )
    chosen = runs[-1].path
    if notify is not None:
        notify(f"{path} → {chosen}")
    return chosen


def duration_text(seconds: float | None) -> str:
    """``45.2 s``, ``12 min 5 s``, ``3 h 20 min``; empty when unknown."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min {int(seconds % 60)} s"
    return f"{minutes // 60} h {minutes % 60} min"


def root_problem(root: Path) -> str | None:
    """Why ``root`` cannot be listed (missing, a file, unreadable), or None."""
    try:
        if not root.exists():
            return (
                f"'{root}' does not exist; give the folder your runs are in (layerkit train "
                "writes them to ./runs, or to --out)"
            )
        if not root.is_dir():
            return f"'{root}' is a file, not a folder; give the folder your runs are in"
        next(iter(root.iterdir()), None)
    except OSError as error:
        return f"cannot read '{root}': {reason(error)}"
    return None
