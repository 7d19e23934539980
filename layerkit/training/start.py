"""Before a run: the command line's options checked against the spec, without TensorFlow.

Takes a loaded :class:`~layerkit.spec.document.Spec` and the :class:`TrainOptions` the command
line gave; gives a :class:`NewRun` — the plan validated once (with ``--epochs`` and
``--batch-size`` in it), the data source resolved and, for a built-in dataset, downloaded. All of
this happens before TensorFlow loads and before any run directory exists, so a mistake in the
spec, a missing file or being offline is said at once. :mod:`layerkit.training.loop` trains a
``NewRun``; a resumed run keeps everything of its own, so only ``--epochs`` may be given with
``--resume`` (:func:`check_resume_options`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ..data.dataset import Notify
from ..data.downloads import Progress
from ..data.load import fetch_builtin, resolve_source
from ..errors import TrainError
from ..spec.document import Spec
from ..spec.validation import Plan, validate


@dataclass(frozen=True)
class TrainOptions:
    """What the command line may change; None keeps the spec's (or the resumed run's) value."""

    data: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    augment: bool | None = None  # None: augment when the spec has an augment: list
    out: Path | None = None
    resume: Path | None = None
    skip_bad_images: bool = False
    resize: bool = False
    overrides: tuple[str, ...] = ()  # the --set values the spec was loaded with (for the record)
    precision: str | None = None  # None, "auto": mixed float16 on a GPU, float32 on the CPU
    strategy: str | None = None  # "mirrored": data-parallel over every GPU (TensorFlow backend)
    allow_large: bool = False  # build models over the parameter limit
    variant: str | None = None  # the spec's variant the run trains (--variant)


@dataclass(frozen=True)
class NewRun:
    """A spec ready to train: its plan (the spec inside it carries the run's epochs and batch
    size), the data source it trains on, and the options it was prepared with."""

    plan: Plan
    source: str
    augment: bool
    options: TrainOptions


def prepare(
    spec: Spec,
    options: TrainOptions,
    progress: Progress | None = None,
    notify: Notify | None = None,
) -> NewRun:
    """Validate ``spec`` with the options' epochs and batch size, resolve its data and fetch a
    missing built-in dataset (reporting to ``progress``, or a line to ``notify``).

    Raises:
        SpecErrors, SpecError: the spec is invalid, or its data.source names nothing (at its line).
        DataError: ``--data`` names nothing, or a download failed.
        TrainError: ``--augment`` for a spec without an ``augment:`` list.
    """
    settings = spec.train
    if options.epochs is not None or options.batch_size is not None:
        settings = replace(
            settings,
            epochs=options.epochs or settings.epochs,
            batch_size=options.batch_size or settings.batch_size,
        )
    plan = validate(replace(spec, train=settings))
    location = spec.data.locations.get("source")
    source = resolve_source(options.data, spec.data.source, spec.file, location)
    augment = bool(plan.augment) if options.augment is None else options.augment
    if augment and not plan.augment:
        raise TrainError(
            "--augment was given but the spec has no 'augment:' list; add one (see docs/training.md)"
        )
    fetch_builtin(source, None if options.data else location, progress, notify)
    return NewRun(plan, source, augment, options)


def check_resume_options(options: TrainOptions) -> None:
    """A resumed run keeps its spec, data and settings: refuse any option but ``--epochs``."""
    given = {"--data": options.data, "--batch-size": options.batch_size,
             "--augment/--no-augment": options.augment, "--out": options.out,
             "--precision": options.precision, "--strategy": options.strategy,
             "--skip-bad-images": options.skip_bad_images or None,
             "--resize": options.resize or None, "--allow-large": options.allow_large or None,
             "--variant": options.variant}  # fmt: skip
    changed = [name for name, value in given.items() if value is not None]
    if changed or options.overrides:
        raise TrainError(
            f"a resumed run keeps its spec, data, batch size, augmentation, precision and "
            f"strategy; only --epochs may change (received "
            f"{', '.join(changed + [f'--set {o}' for o in options.overrides])})"
        )
