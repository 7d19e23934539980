"""``layerkit tune``'s study: the spec's ``search:`` explored with Optuna, one run per trial.

Takes the spec's path and the :class:`TuneOptions` the command line gave; gives a
:class:`TuneResult` — every trial of the study (its values, ``--set`` overrides, status, metric
and run directory), the metric, its direction, and the best trial. The study is stored beside
the runs (``<out>/study.db``, SQLite, named after the folder), so running the same command again
continues it up to ``--trials`` in total; a trial a killed process left running is marked failed
and another takes its place. The sampler is seeded (``--seed``, and how many trials came before),
so a tune is reproducible; every trial trains with the spec's own seed, on the same split.
Optuna is imported only here (a missing one is a one-line error naming the extra to install).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..console.errors import UserError
from ..data.dataset import Notify
from ..runs.spec_yaml import resolved_document
from ..spec.document import Spec
from ..spec.loader import load_spec
from ..spec.validation import validate
from ..training.start import TrainOptions
from .search_space import Dimension, SearchSpace

DEFAULT_TRIALS = 10
COMPLETE = ("finished", "reached target", "stopped early")  # a run that ended as it should
MISSING_OPTUNA = "layerkit tune needs optuna: pip install 'layerkit[tune]'"


@dataclass(frozen=True)
class TuneOptions:
    """What the command line gives; None keeps the spec's ``search:`` (or the default)."""

    trials: int | None = None
    data: str | None = None
    epochs: int | None = None
    out: Path | None = None
    seed: int = 0
    variant: str | None = None


@dataclass(frozen=True)
class TrialRecord:
    """One trial as the study holds it."""

    number: int  # from 1 (Optuna's number + 1), as its folder trial-NNN
    status: str  # as its run ended (see COMPLETE), or pruned, failed, interrupted, running
    value: float | None
    params: dict[str, Any]
    overrides: tuple[str, ...]
    run: str | None
    epochs: int | None = None


@dataclass(frozen=True)
class TuneResult:
    """The study's trials, what they optimise, and where it is stored."""

    out: Path
    spec: str
    metric: str
    direction: str
    trials: tuple[TrialRecord, ...]
    new: int  # trials run by this command
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def ranked(self) -> list[TrialRecord]:
        """Trials with a value, best first (pruned ones by their last value), then the rest."""
        sign = -1 if self.direction == "maximize" else 1
        valued = [trial for trial in self.trials if trial.value is not None]
        valued.sort(key=lambda trial: (trial.status not in COMPLETE, sign * trial.value))
        return valued + [trial for trial in self.trials if trial.value is None]

    @property
    def best(self) -> TrialRecord | None:
        finished = [trial for trial in self.ranked if trial.status in COMPLETE]
        return finished[0] if finished else None


def import_optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise UserError(MISSING_OPTUNA) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def read_search_spec(spec_path: Path, variant: str | None) -> tuple[Spec, SearchSpace]:
    """The spec and its ``search:``, each value at the ends of its range checked to make a
    valid spec (the spec's other values kept), before any trial trains."""
    spec = load_spec(spec_path, (), variant)
    if spec.search is None:
        raise UserError(
            f"{spec_path} has no search: section; add one naming what to vary, e.g. "
            "'search: {train.batch_size: {choice: [32, 64]}}' (see docs/training.md)"
        )
    for dimension in spec.search.dimensions:
        for value in _extremes(dimension):
            validate(load_spec(spec_path, (dimension.override(value),), variant))
    return spec, spec.search


def _extremes(dimension: Dimension) -> tuple[Any, ...]:
    if dimension.kind == "choice":
        return dimension.choices
    if dimension.kind == "float":  # as a trial sets them: 4.0, not 4
        return (float(dimension.low), float(dimension.high))
    return (dimension.low, dimension.high)


def default_out(spec: Spec, root: Path = Path("runs")) -> Path:
    return root / spec.name / f"tune-{time.strftime('%Y%m%d-%H%M%S')}"


def metric_and_direction(spec: Spec, search: SearchSpace) -> tuple[str, str]:
    metric = search.metric or spec.train.monitor
    if search.direction is not None:
        return metric, search.direction
    return metric, "minimize" if "loss" in metric else "maximize"


def open_study(optuna: Any, out: Path, direction: str, search: SearchSpace, seed: int,
               pruner: Any = None) -> tuple[Any, list[str]]:  # fmt: skip
    """The study stored in ``out/study.db`` (made when new), with trials a killed tune left
    running marked failed; and notes saying so."""
    if out.exists() and not (out / "study.db").exists() and any(out.iterdir()):
        raise UserError(
            f"'{out}' already holds files but no study.db; give an empty or new --out, or the "
            "folder of an earlier tune to continue it"
        )
    out.mkdir(parents=True, exist_ok=True)
    if pruner is None:
        median = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
        pruner = median if search.pruner == "median" else optuna.pruners.NopPruner()
    try:
        study = optuna.create_study(
            storage=f"sqlite:///{(out / 'study.db').resolve()}", study_name=out.name,
            direction=direction, pruner=pruner, load_if_exists=True,
        )  # fmt: skip
    except ValueError as error:  # the stored study optimises the other way
        raise UserError(f"cannot continue the study in '{out}': {error}") from None
    stored = study.direction.name.lower()
    if stored != direction:
        raise UserError(
            f"the study in '{out}' maximises or minimises otherwise ({stored}); tune into a "
            "new --out to change search.direction"
        )
    notes = []
    running = optuna.trial.TrialState.RUNNING
    for trial in study.get_trials(deepcopy=False, states=(running,)):
        study._storage.set_trial_user_attr(trial._trial_id, "status", "interrupted")
        study._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
        notes.append(
            f"note: trial {trial.number + 1} was interrupted mid-way (its run is "
            f"{out / f'trial-{trial.number + 1:03d}'}); it is marked failed and a new trial "
            "takes its place"
        )
    study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.trials))
    return study, notes


def suggest(trial: Any, dimension: Dimension) -> Any:
    """The trial's value for one dimension, suggested by Optuna's sampler."""
    name = dimension.name
    if dimension.kind == "choice":
        return trial.suggest_categorical(name, list(dimension.choices))
    if dimension.kind == "int":
        return trial.suggest_int(name, dimension.low, dimension.high,
                                 step=dimension.step or 1, log=dimension.log)  # fmt: skip
    return trial.suggest_float(name, float(dimension.low), float(dimension.high),
                               step=dimension.step, log=dimension.log)  # fmt: skip


def counted(study: Any) -> int:
    """Trials that count towards ``--trials``: those whose run ended (finished, pruned, or failed
    on its own, such as a loss that became NaN); not one interrupted, nor one stopped by an error
    before its run ended (the same command, once the error is fixed, replaces it)."""
    return sum(
        1
        for trial in study.trials
        if trial.user_attrs.get("status") != "interrupted" and "epochs" in trial.user_attrs
    )


def records(study: Any) -> tuple[TrialRecord, ...]:
    out = []
    for trial in study.trials:
        status = trial.user_attrs.get("status") or trial.state.name.lower()
        value = trial.value if trial.value is not None else trial.user_attrs.get("value")
        out.append(TrialRecord(
            trial.number + 1, status, value, dict(trial.params),
            tuple(trial.user_attrs.get("overrides", ())), trial.user_attrs.get("run"),
            trial.user_attrs.get("epochs"),
        ))  # fmt: skip
    return tuple(out)


def tune(spec_path: Path, options: TuneOptions, notify: Notify,
         on_trial: Callable[[TrialRecord, str], None], pruner: Any = None) -> TuneResult:  # fmt: skip
    """Run trials until the study at ``options.out`` holds ``--trials`` of them, calling
    ``on_trial`` with each as it ends (and the metric's name).

    Raises:
        UserError: optuna is missing; the spec has no ``search:``; ``--out`` holds other files.
        SpecError, SpecErrors: the spec, or a value at the end of a range, is invalid.
        DataError, RunError: as ``layerkit train`` raises them.
    """
    optuna = import_optuna()
    spec, search = read_search_spec(spec_path, options.variant)
    metric, direction = metric_and_direction(spec, search)
    out = options.out or default_out(spec)
    study, notes = open_study(optuna, out, direction, search, options.seed, pruner)
    same_study(study, out, study_identity(spec, options))
    for note in notes:
        notify(note)
    wanted = options.trials or search.trials or DEFAULT_TRIALS
    done = counted(study)
    if done:
        notify(f"continuing the study in {out}: {done} trial{'s' * (done != 1)} done, "
               f"{max(wanted - done, 0)} to run for --trials {wanted}")  # fmt: skip
    from .trial_run import run_trial, trial_folder

    base = TrainOptions(data=options.data, epochs=options.epochs)
    new, interrupted = 0, False
    while counted(study) < wanted:
        trial = study.ask()
        values = {dimension.name: suggest(trial, dimension) for dimension in search.dimensions}
        overrides = [d.override(values[d.name]) for d in search.dimensions]
        run = trial_folder(out, trial.number + 1)  # numbered from 1, as shown
        trial.set_user_attr("overrides", overrides)
        trial.set_user_attr("run", str(run))
        try:
            outcome = run_trial(spec_path, options.variant, overrides,
                                replace(base, out=run), trial, metric, notify)  # fmt: skip
        except BaseException as error:
            stopped = isinstance(error, KeyboardInterrupt)
            trial.set_user_attr("status", "interrupted" if stopped else "failed")
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise
        new += 1
        _tell(optuna, study, trial, outcome)
        on_trial(records(study)[-1], metric)
        if outcome.status == "interrupted":
            interrupted = True
            break
    return TuneResult(out, spec.name, metric, direction, records(study), new, interrupted, notes)


def study_identity(spec: Spec, options: TuneOptions) -> dict[str, Any]:
    """What makes a study's trials comparable: the spec as read (but ``search.trials``, which a
    continued study may raise), the variant, and the command line's --epochs and --data."""
    if options.epochs is not None and any(
        dimension.name == "train.epochs" for dimension in spec.search.dimensions
    ):
        raise UserError(
            "search: varies train.epochs, which --epochs would set the same in every trial; "
            "drop --epochs, or train.epochs from search:"
        )
    document = resolved_document(spec)
    search = dict(document.get("search") or {})
    search.pop("trials", None)
    document["search"] = search
    text = json.dumps(document, sort_keys=True, default=str)
    return {
        "spec": hashlib.sha256(text.encode()).hexdigest()[:16],
        "variant": options.variant,
        "epochs": options.epochs,
        "data": options.data,
    }


def same_study(study: Any, out: Path, identity: dict[str, Any]) -> None:
    """A new study records ``identity``; a continued one must have been made with the same spec
    and options, or its trials would not be comparable (its table would mix two searches)."""
    stored = study.user_attrs.get("identity")
    if stored is None:
        study.set_user_attr("identity", identity)
        return
    differs = [
        "the spec (edited, or another one)"
        if key == "spec"
        else f"--{key} ({stored[key] or 'none'} then)"
        for key in ("spec", "variant", "epochs", "data")
        if stored.get(key) != identity[key]
    ]
    if differs:
        raise UserError(
            f"the study in '{out}' was made with another {' and '.join(differs)}: its trials "
            "would not compare with new ones; continue it as it was made, or tune into a new --out"
        )


def _tell(optuna: Any, study: Any, trial: Any, outcome: Any) -> None:
    states = optuna.trial.TrialState
    trial.set_user_attr("status", outcome.status)
    trial.set_user_attr("epochs", outcome.epochs)
    if outcome.value is not None:
        trial.set_user_attr("value", outcome.value)
    if outcome.status == "pruned":
        study.tell(trial, state=states.PRUNED)
    elif outcome.status in COMPLETE and outcome.value is not None:
        study.tell(trial, outcome.value)
    else:
        study.tell(trial, state=states.FAIL)


def best_line(result: TuneResult) -> str | None:
    """``best val_accuracy 0.4120 (trial 3): --set … --set …``, ready to paste."""
    best = result.best
    if best is None:
        return None
    sets = " ".join(f"--set {override}" for override in best.overrides)
    return f"best {result.metric} {format_value_metric(best.value)} (trial {best.number}): {sets}"


def format_value_metric(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
