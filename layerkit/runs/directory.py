"""Run directories: everything a training run keeps, written so a crash never corrupts it.

Takes a spec's name and ``--out`` (a new run) or a run's path (to resume or evaluate); gives a
:class:`RunDir` that writes and reads its files. A run directory holds::

    spec.yaml            the spec as trained (overrides applied), after a comment with the command
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
    lock                 while a process writes the run: who (:mod:`.run_lock`)

``state.json`` is the commit: every file is replaced atomically, an epoch's checkpoint and models
(as ``model_last.epoch-NNNN.keras``, ``model_best.epoch-NNNN.keras``), history and metrics are
written before it, and the models take their names after it. Whoever locks the run next brings
the rest back to what state.json says (:meth:`RunDir.recover`): a model of an epoch state.json
does not name is dropped, one it names takes its place, metrics.json and history.csv are cut back
to its epochs, and temporaries of killed writes are removed. So after a kill at any moment
model_best.keras is the model of ``state.best.epoch`` (readers that do not lock, like evaluate,
get it from :attr:`RunDir.best_model`) and the run resumes from its last finished epoch; a run
killed before its first epoch resumes from the start.

The JSON records are typed: each is a frozen dataclass, written and read through one method of
:class:`RunDir`, checked on reading (:mod:`.run_checks`: a damaged file is a one-line
:class:`RunError` naming it), and carries a ``version``. A record without one was written by an
earlier layerkit; the keys it lacks take the defaults below (what those runs did).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..files import atomic_output, remove_temporaries, write_text_atomically
from . import lock as run_lock
from .checks import (
    model_file_problem,
    name_problem,
    never_finished,
    normalize_problem,
    out_problem,
    record_problem,
    state_problem,
)
from .records import (
    MAX_RECORD_BYTES,
    Best,
    RunEnvironment,
    RunError,
    RunSetup,
    RunState,
    damaged,
    file_problem,
    from_record,
    history_text,
    metrics_record,
    read_history,
    reason,
)
from .rounding import float32_short

if TYPE_CHECKING:
    from ..spec.document import Spec

_PENDING = re.compile(r"model_(last|best)\.epoch-(\d{4,})\.keras")
Notify = Callable[[str], None]


@dataclass(frozen=True)
class RunDir:
    path: Path

    # -- creating, opening and locking ---------------------------------------------------------

    @classmethod
    def create(cls, spec_name: str, out: Path | None = None, root: Path = Path("runs")) -> RunDir:
        """A new run directory: ``out``, or ``runs/<spec>/<timestamp>``; never an existing one
        with files in it, except a run that never finished an epoch (started again)."""
        if out is None:
            out = _default_folder(spec_name, root)
        try:
            problem = out_problem(out)
            if problem is not None:
                raise RunError(problem)
            out.mkdir(parents=True, exist_ok=True)
        except (OSError, ValueError) as error:  # ValueError: a NUL in the path
            raise RunError(
                f"cannot create the run directory '{out}': {reason(error)}; choose another --out"
            ) from None
        return cls(out)

    @classmethod
    def open(cls, path: Path, resuming: bool = False) -> RunDir:
        """An existing run, to evaluate (with a finished epoch) or to resume (``resuming``: also
        one that never finished an epoch but recorded its spec and setup)."""
        run = cls(path)
        try:
            if run.finished or (resuming and run.unfinished and (path / "setup.json").is_file()):
                return run
        except (OSError, ValueError) as error:  # ValueError: a NUL in the path
            raise RunError(f"cannot read the run directory '{path}': {reason(error)}") from None
        if run.unfinished and resuming:
            raise RunError(
                f"'{path}' was stopped before it recorded its setup (no setup.json): it cannot be "
                f"resumed; train the spec again with --out {path}"
            )
        if run.unfinished:
            raise RunError(
                f"'{path}' holds no trained model: no epoch has finished (no state.json); "
                f"continue it with: layerkit train --resume {path}"
            )
        raise RunError(
            f"'{path}' is not a layerkit run directory (no state.json); give a run's folder "
            "(layerkit runs lists them; latest is the newest)"
        )

    @property
    def finished(self) -> bool:
        """Whether an epoch has finished (state.json is there)."""
        return (self.path / "state.json").exists()

    @property
    def unfinished(self) -> bool:
        """A run that never finished an epoch (see :func:`.run_checks.never_finished`)."""
        return never_finished(self.path)

    def lock(self, notify: Notify | None = None) -> None:
        """Claim the run for this process (:func:`.lock.acquire`), or fail if a live process
        holds it; then bring the run to its last commit (:meth:`recover`)."""
        run_lock.acquire(self.path, notify)
        try:
            self.recover(notify)
        except BaseException:
            self.unlock()
            raise

    def unlock(self) -> None:
        run_lock.release(self.path / "lock", run_lock.this_process())

    def recover(self, notify: Notify | None = None) -> None:
        """Bring a locked run back to its last commit, state.json, after a kill at any moment:
        temporaries of killed writes removed, an epoch's models kept only if state.json names
        the epoch, metrics.json and history.csv cut back to its epochs. A run that never
        finished an epoch keeps only its spec.yaml and setup.json."""
        removed = remove_temporaries(self.path)
        if self.checkpoints.is_dir():
            removed += remove_temporaries(self.checkpoints)
        if not self.finished:
            if self.unfinished:  # what a start killed before its first epoch left
                self.discard(keep_folder=True, keep=("lock", "spec.yaml", "setup.json"))
            return
        state = self.read_state()
        for path in self.path.glob("model_*.epoch-*.keras"):
            match = _PENDING.fullmatch(path.name)
            wanted = state.epoch if match and match[1] == "last" else state.best.epoch
            if match and int(match[2]) == wanted:
                os.replace(path, self.path / f"model_{match[1]}.keras")
            else:
                path.unlink()
        history = self.read_history()
        if len(history) > state.epoch:
            self.write_history(history[: state.epoch])
        metrics = self._read_metrics()
        if metrics.get("epochs") != state.epoch or metrics.get("best_epoch") != state.best.epoch:
            self.write_json("metrics.json", metrics_record(
                history[: state.epoch], state.best, "interrupted", state.monitor or ""))  # fmt: skip
        if removed and notify is not None:
            notify(f"note: removed {len(removed)} temporary files that killed writes left in "
                   f"'{self.path}'")  # fmt: skip

    def _read_metrics(self) -> dict[str, Any]:
        try:
            metrics = json.loads((self.path / "metrics.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return metrics if isinstance(metrics, dict) else {}

    def discard(self, keep_folder: bool = False, keep: tuple[str, ...] = ()) -> None:
        """Remove a run that never finished an epoch (refuses one that did): its files, all
        written by this run, but those named in ``keep``, and its folder unless ``keep_folder``
        (one the user made)."""
        import shutil

        if self.finished:
            raise RunError(f"'{self.path}' holds finished epochs; it is kept")
        for entry in self.path.iterdir():
            if entry.name in keep:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        if not keep_folder:
            self.path.rmdir()

    # -- paths --------------------------------------------------------------------------------------

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    def checkpoint(self, epoch: int) -> Path:
        return self.checkpoints / f"epoch-{epoch:04d}.keras"

    def epoch_model(self, kind: str, epoch: int) -> Path:
        """Where an epoch's ``last`` or ``best`` model is written before state.json names the
        epoch (:meth:`publish` then gives it its name)."""
        return self.path / f"model_{kind}.epoch-{epoch:04d}.keras"

    def publish(self, state: RunState) -> None:
        """After state.json: the epoch's models take their names."""
        for kind, epoch in (("last", state.epoch), ("best", state.best.epoch)):
            if epoch is not None and self.epoch_model(kind, epoch).is_file():
                os.replace(self.epoch_model(kind, epoch), self.path / f"model_{kind}.keras")

    @property
    def last_model(self) -> Path:
        """The spec's model after state.json's epoch."""
        return self._committed("last", lambda state: state.epoch)

    @property
    def best_model(self) -> Path:
        """The spec's model at state.json's best epoch (even where a kill came between
        state.json and the model taking its name)."""
        return self._committed("best", lambda state: state.best.epoch)

    def _committed(self, kind: str, epoch: Callable[[RunState], int | None]) -> Path:
        final = self.path / f"model_{kind}.keras"
        if not self.finished:
            return final
        number = epoch(self.read_state())
        pending = self.epoch_model(kind, number) if number is not None else final
        return pending if pending.is_file() else final

    @property
    def tensorboard(self) -> Path:
        return self.path / "tensorboard"

    def check_checkpoint(self, state: RunState, model_name: str) -> Path:
        """state.json's checkpoint, checked to be a whole Keras file of this run's model."""
        path = self.checkpoints / state.checkpoint
        problem = model_file_problem(path, model_name)
        if problem is not None:
            raise RunError(
                f"{path} {problem}: the run cannot go on from it; restore it from a copy, or "
                "train the spec again into a new --out"
            )
        return path

    # -- records ------------------------------------------------------------------------------------

    @property
    def spec_file(self) -> Path:
        return self.path / "spec.yaml"

    def write_spec(self, document: dict[str, Any], header: str) -> None:
        """spec.yaml: the resolved spec ``document``, written by the YAML emitter so that it reads
        back as the same values, after ``header`` as one comment line (control characters and
        line breaks in it escaped, so nothing of it can become YAML)."""
        from .spec_yaml import dump_spec

        write_text_atomically(self.spec_file, dump_spec(document, header, str(self.spec_file)))

    def read_spec(self) -> Spec:
        """The spec as trained (with the epochs of the latest resume)."""
        from ..spec.loader import load_spec

        problem = file_problem(self.spec_file, MAX_RECORD_BYTES)
        if problem is not None:
            raise damaged(self.spec_file, problem)
        return load_spec(self.spec_file)

    def record_epochs(self, epochs: int) -> None:
        """Set spec.yaml's ``train.epochs``, keeping its header, so a later resume knows the
        target a resume with --epochs set."""
        from .spec_yaml import with_epochs

        text = self.spec_file.read_text(encoding="utf-8")
        write_text_atomically(self.spec_file, with_epochs(text, epochs, str(self.spec_file)))

    def write_setup(self, setup: RunSetup) -> None:
        self.write_json("setup.json", asdict(setup))

    def read_setup(self) -> RunSetup:
        path = self.path / "setup.json"
        setup = from_record(RunSetup, self.read_json("setup.json"), path)
        problem = normalize_problem(setup.normalize)
        if problem is not None:
            raise damaged(path, problem)
        return setup

    def write_state(self, state: RunState) -> None:
        self.write_json("state.json", asdict(state))

    def read_state(self) -> RunState:
        path = self.path / "state.json"
        record = self.read_json("state.json")
        state = from_record(RunState, record, path)
        problem = state_problem(record)
        if problem is not None:
            raise damaged(path, problem)
        best = from_record(Best, record.get("best") or {}, path)
        return replace(state, best=best)

    def write_environment(self, environment: RunEnvironment) -> None:
        record = asdict(environment)
        versions = record.pop("versions")
        self.write_json("environment.json", {**versions, **record})

    def read_environment(self) -> RunEnvironment:
        record = self.read_json("environment.json")
        path = self.path / "environment.json"
        if not isinstance(record, dict):
            raise damaged(path, str(record_problem(RunEnvironment, record)))
        known = {item.name for item in fields(RunEnvironment)}
        versions = {key: value for key, value in record.items() if key not in known}
        environment = from_record(RunEnvironment, {**record, "versions": versions}, path)
        return RunEnvironment(tuple(environment.class_names), tuple(environment.skipped_images),
                              environment.device, versions, environment.version)  # fmt: skip

    def write_json(self, name: str, data: dict[str, Any]) -> None:
        """A record as indented JSON; metrics.json's float32 numbers at their shortest (state.json
        keeps them exact: a resume compares its best value with new epochs' values)."""
        data = float32_short(data) if name == "metrics.json" else data
        write_text_atomically(self.path / name, json.dumps(data, indent=2, default=str) + "\n")

    def read_json(self, name: str) -> Any:
        path = self.path / name
        problem = file_problem(path, MAX_RECORD_BYTES)
        if problem is not None:
            raise damaged(path, problem)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, ValueError) as error:  # ValueError: not UTF-8
            raise damaged(path, f"cannot be read ({reason(error)})") from None
        try:
            return json.loads(text)
        except RecursionError:
            raise damaged(path, "is not JSON (nested too deep)") from None
        except ValueError as error:
            raise damaged(
                path, "is empty" if not text.strip() else f"is not JSON ({error})"
            ) from None

    def write_history(self, rows: list[dict[str, Any]]) -> None:
        """history.csv, its numbers as short as float32 allows (:func:`float32_short`)."""
        write_text_atomically(self.path / "history.csv", history_text(float32_short(rows)))

    def read_history(self) -> list[dict[str, Any]]:
        """history.csv's rows (none if it is missing), checked (see :func:`read_history`)."""
        return read_history(self.path / "history.csv")

    def save_model(self, model: Any, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(path) as temporary:
            model.save(temporary)

    def prune_checkpoints(self, keep: Path) -> None:
        """Remove checkpoints other than ``keep`` (after state.json points at it)."""
        for path in self.checkpoints.glob("epoch-*.keras"):
            if path != keep:
                path.unlink(missing_ok=True)


def _default_folder(spec_name: str, root: Path) -> Path:
    """``root/<spec name>/<timestamp>``, a folder no run has taken, always inside ``root``."""
    problem = name_problem(spec_name, root)
    if problem is not None:
        raise RunError(problem)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out, suffix = root / spec_name / stamp, 1
    while out.exists():
        suffix += 1
        out = root / spec_name / f"{stamp}-{suffix}"
    return out
