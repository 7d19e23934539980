"""Run directories: everything a training run keeps, written so a crash never corrupts it.

A run directory holds::

    spec.yaml            the spec as trained (overrides applied), with the command line
    environment.json     versions and devices
    history.csv          one row per finished epoch
    metrics.json         best and last metrics, status (running, finished, interrupted, failed)
    state.json           what a resume needs: last finished epoch, its checkpoint, the optimizer's
                         step count there, best so far
    checkpoints/         epoch-NNNN.keras: the training model with its optimizer state
    model_last.keras     the spec's model after the last finished epoch (no augmentation)
    model_best.keras     the spec's model at its best validation epoch
    curves.png           learning curves
    tensorboard/         TensorBoard logs (TensorFlow backend)

Every file is replaced atomically, and ``state.json`` is written last, after the checkpoint it
names: a run killed at any moment resumes from its last finished epoch. A ``lock`` file keeps two
processes from writing one run.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import LayerkitError
from ..files import atomic_output, write_text_atomically


class RunError(LayerkitError):
    """A run directory that cannot be used as asked."""


@dataclass(frozen=True)
class RunDir:
    path: Path

    # -- creating and locking --------------------------------------------------------------------

    @classmethod
    def create(cls, spec_name: str, out: Path | None = None, root: Path = Path("runs")) -> RunDir:
        """A new, empty run directory: ``out``, or ``runs/<spec>/<timestamp>``; never an existing
        one with files in it."""
        if out is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            out = root / spec_name / stamp
            suffix = 1
            while out.exists():
                suffix += 1
                out = root / spec_name / f"{stamp}-{suffix}"
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise RunError(
                f"run directory '{out}' already exists and is not empty; choose another --out, "
                f"or continue that run with --resume {out}"
            )
        out.mkdir(parents=True, exist_ok=True)
        return cls(out)

    @classmethod
    def open(cls, path: Path) -> RunDir:
        """An existing run, to resume or evaluate."""
        run = cls(path)
        if not (path / "state.json").is_file():
            raise RunError(
                f"'{path}' is not a layerkit run directory with a finished epoch (no state.json)"
            )
        return run

    def lock(self) -> None:
        """Claim the run for this process, or fail if a live process holds it."""
        lock = self.path / "lock"
        for _ in range(2):
            try:
                descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = _read_pid(lock)
                if owner is not None and _alive(owner):
                    raise RunError(
                        f"another process (pid {owner}) is writing to '{self.path}'; wait for it, "
                        "or stop it first"
                    ) from None
                lock.unlink(missing_ok=True)  # left by a process that died: take it over
                continue
            with os.fdopen(descriptor, "w") as file:
                file.write(str(os.getpid()))
            return
        raise RunError(f"cannot lock '{self.path}'")

    def unlock(self) -> None:
        lock = self.path / "lock"
        if _read_pid(lock) == os.getpid():
            lock.unlink(missing_ok=True)

    def discard(self, keep_folder: bool = False) -> None:
        """Remove a run that never finished an epoch (refuses one that did): its files, all
        written by this run, and its folder unless ``keep_folder`` (one the user made)."""
        import shutil

        if (self.path / "state.json").exists():
            raise RunError(f"'{self.path}' holds finished epochs; it is kept")
        for entry in self.path.iterdir():
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        if not keep_folder:
            self.path.rmdir()

    # -- paths --------------------------------------------------------------------------------------

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    def checkpoint(self, epoch: int) -> Path:
        return self.checkpoints / f"epoch-{epoch:04d}.keras"

    @property
    def last_model(self) -> Path:
        return self.path / "model_last.keras"

    @property
    def best_model(self) -> Path:
        return self.path / "model_best.keras"

    @property
    def tensorboard(self) -> Path:
        return self.path / "tensorboard"

    # -- records ------------------------------------------------------------------------------------

    def write_json(self, name: str, data: dict[str, Any]) -> None:
        write_text_atomically(self.path / name, json.dumps(data, indent=2, default=str) + "\n")

    def read_json(self, name: str) -> dict[str, Any]:
        try:
            return json.loads((self.path / name).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise RunError(f"cannot read {self.path / name}: {error}") from None

    def write_history(self, rows: list[dict[str, Any]]) -> None:
        columns: list[str] = []
        for row in rows:
            columns += [key for key in row if key not in columns]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        write_text_atomically(self.path / "history.csv", buffer.getvalue())

    def read_history(self) -> list[dict[str, Any]]:
        path = self.path / "history.csv"
        if not path.is_file():
            return []
        with open(path, encoding="utf-8", newline="") as file:
            return [
                {key: _number(value) for key, value in row.items()} for row in csv.DictReader(file)
            ]

    def save_model(self, model: Any, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(path) as temporary:
            model.save(temporary)

    def prune_checkpoints(self, keep: Path) -> None:
        """Remove checkpoints other than ``keep`` (after state.json points at it)."""
        for path in self.checkpoints.glob("epoch-*.keras"):
            if path != keep:
                path.unlink(missing_ok=True)


def _number(value: str) -> Any:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return int(number) if number.is_integer() and "." not in value and "e" not in value else number


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
