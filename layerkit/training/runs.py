"""Run directories: everything a training run keeps, written so a crash never corrupts it.

A run directory holds::

    spec.yaml            the spec as trained (overrides applied), with the command line
    environment.json     versions, devices, class names (:class:`RunEnvironment`)
    history.csv          one row per finished epoch
    metrics.json         best and last metrics, status (running, finished, interrupted, failed)
    setup.json           how the run reads its data and trains (:class:`RunSetup`)
    state.json           what a resume needs: last finished epoch, its checkpoint, the optimizer's
                         step count there, best so far (:class:`RunState`)
    checkpoints/         epoch-NNNN.keras: the training model with its optimizer state
    model_last.keras     the spec's model after the last finished epoch (no augmentation)
    model_best.keras     the spec's model at its best validation epoch
    curves.png           learning curves
    tensorboard/         TensorBoard logs (TensorFlow backend)

Every file is replaced atomically, and ``state.json`` is written last, after the checkpoint it
names: a run killed at any moment resumes from its last finished epoch. A ``lock`` file keeps two
processes from writing one run.

The JSON records are typed: each is a frozen dataclass, written and read through one method of
:class:`RunDir`, and carries a ``version``. A record without one was written by an earlier
layerkit; the keys it lacks take the defaults below (what those runs did).
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import LayerkitError
from ..files import atomic_output, write_text_atomically
from ..spec.settings import Normalize

if TYPE_CHECKING:
    from ..spec.document import Spec

RUN_FORMAT = 2  # the version of setup.json, state.json and environment.json written now
# 2: setup.json also holds what evaluation needs (the split and the input scaling)


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
    version: int = RUN_FORMAT


@dataclass(frozen=True)
class RunEnvironment:
    """environment.json: where the run started (versions, devices, the command) and its data's
    class names and skipped images."""

    class_names: tuple[str, ...] = ()
    skipped_images: tuple[str, ...] = ()
    device: str | None = None
    versions: dict[str, Any] = field(default_factory=dict)  # runtime.environment(), kept flat
    version: int = RUN_FORMAT


def _from_record(kind: type, record: dict[str, Any], name: str) -> Any:
    """``kind`` from a JSON record: unknown keys (a later layerkit's) are ignored, missing ones
    take their defaults; a missing required one is a RunError."""
    known = {item.name for item in fields(kind)}
    values = {key: value for key, value in record.items() if key in known}
    values.setdefault("version", 0)  # no version: written before records had one
    try:
        return kind(**values)
    except TypeError:
        missing = sorted(
            item.name for item in fields(kind) if item.name not in values and _required(item)
        )
        raise RunError(f"{name} lacks {', '.join(missing)}; it is not a layerkit run's") from None


def _required(item: Any) -> bool:
    return item.default is MISSING and item.default_factory is MISSING


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

    @property
    def spec_file(self) -> Path:
        return self.path / "spec.yaml"

    def write_spec(self, document: dict[str, Any], header: str) -> None:
        """spec.yaml: the resolved spec ``document`` after the comment ``header``."""
        import yaml

        write_text_atomically(
            self.spec_file, header + "\n" + yaml.safe_dump(document, sort_keys=False)
        )

    def read_spec(self) -> Spec:
        """The spec as trained (with the epochs of the latest resume)."""
        from ..spec.loader import load_spec

        return load_spec(self.spec_file)

    def record_epochs(self, epochs: int) -> None:
        """Set spec.yaml's ``train.epochs``, keeping its header, so a later resume knows the
        target a resume with --epochs set."""
        import yaml

        text = self.spec_file.read_text(encoding="utf-8")
        header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
        document = yaml.safe_load(text)
        document.setdefault("train", {})["epochs"] = epochs
        write_text_atomically(self.spec_file, header + yaml.safe_dump(document, sort_keys=False))

    def write_setup(self, setup: RunSetup) -> None:
        self.write_json("setup.json", asdict(setup))

    def read_setup(self) -> RunSetup:
        return _from_record(RunSetup, self.read_json("setup.json"), str(self.path / "setup.json"))

    def write_state(self, state: RunState) -> None:
        self.write_json("state.json", asdict(state))

    def read_state(self) -> RunState:
        record = self.read_json("state.json")
        best = record.get("best") or {}
        known = {item.name for item in fields(Best)}
        record["best"] = Best(**{key: value for key, value in best.items() if key in known})
        return _from_record(RunState, record, str(self.path / "state.json"))

    def write_environment(self, environment: RunEnvironment) -> None:
        record = asdict(environment)
        versions = record.pop("versions")
        self.write_json("environment.json", {**versions, **record})

    def read_environment(self) -> RunEnvironment:
        record = self.read_json("environment.json")
        known = {item.name for item in fields(RunEnvironment)}
        versions = {key: value for key, value in record.items() if key not in known}
        return _from_record(
            RunEnvironment,
            {**record, "versions": versions,
             "class_names": tuple(record.get("class_names") or ()),
             "skipped_images": tuple(record.get("skipped_images") or ())},
            str(self.path / "environment.json"),
        )  # fmt: skip

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
