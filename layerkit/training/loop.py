"""Training a spec's model: data in, a run directory out, resumable at every epoch.

The model trained is exactly the spec's; input scaling and augmentation sit in a wrapper model
used only for training, so the saved models have the spec's parameter counts.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..catalog import augmentations  # noqa: F401  (registers its layers, so checkpoints using them load)
from ..data.dataset import Notify
from ..data.load import load_dataset, split
from ..errors import SpecError, TrainError, did_you_mean
from ..files import is_temporary
from ..model import extra_layers  # noqa: F401  (registers LayerScale, PositionEmbedding: the same)
from ..runs.directory import RunDir
from ..runs.listing import holder_alive
from ..runs.records import Best, RunEnvironment, RunSetup, RunState
from ..runs.spec_yaml import resolved_document
from ..spec.document import LayerCall, Spec
from ..spec.plan import Plan
from ..spec.settings import TrainSettings
from ..spec.validation import validate
from .batches import steps_per_epoch
from .control import Control
from .distributed import (
    Share,
    distribution_scope,
    is_chief,
    leave_cluster,
    peer_lost,
    replica_count,
    share,
    worker_count,
)
from .interrupts import CtrlC, remembered
from .optimizers import make_optimizer, scale_learning_rates, skip_weight_decay
from .recipe import (
    alternates_flips,
    dropout_epochs,
    flips,
    loss_description,
    make_loss,
    make_metrics,
)
from .run_callbacks import Report, TrainResult, finish, run_callbacks
from .runtime import (
    check_layout_runs,
    device_names,
    dtype_policy,
    environment,
    wants_mixed_precision,
)
from .start import NewRun, TrainOptions, check_resume_options
from .trainer import RunData, build_trainer, compile_trainer, from_logits, restore_trainer

# -- preparing ----------------------------------------------------------------------------------


def _check_recipe(spec: Spec) -> None:
    """Make the train: settings into Keras objects once before any data loads or any run
    directory is made, so that their mistakes are reported at their lines first."""
    settings = spec.train
    make_optimizer(settings, steps_per_epoch=1)
    make_loss(settings)
    _check_tta(spec)
    _check_channels_last(spec)
    _check_target(settings, validating=bool(settings.validation_split))


def _check_channels_last(spec: Spec) -> None:
    """Under Keras's ``image_data_format`` channels_first, the conv2d layers not told otherwise
    take (channels, height, width) images, whose width flip TTA and ``alternating_flip`` would
    not mirror (a spec's own ``data_format: channels_first`` is refused by validation)."""
    import keras

    if keras.config.image_data_format() != "channels_first":
        return
    settings = [("train.tta", spec.train.locations["tta"])] if spec.train.tta == "flip" else []
    settings += [(f"{item.path}.alternating_flip", item.location) for item in spec.augment
                 if isinstance(item, LayerCall) and item.name == "alternating_flip"]  # fmt: skip
    if settings:
        path, location = settings[0]
        raise SpecError(
            f"{path.rpartition('.')[2]} mirrors channels_last images, but Keras's "
            "image_data_format is channels_first",
            location,
            path,
            "Set image_data_format to channels_last (keras.json), or remove it.",
        )


def _check_tta(spec: Spec) -> None:
    """Flip TTA mirrors images: an input that is not one is refused at the setting's line."""
    if spec.train.tta == "flip" and not flips(tuple(spec.input.shape)):
        raise SpecError(
            f"tta: flip mirrors images, but the input is {list(spec.input.shape)}, not "
            "[height, width] or [height, width, channels]",
            spec.train.locations["tta"],
            "train.tta",
            "Remove 'tta: flip' for inputs that are not images.",
        )


def _check_target(settings: TrainSettings, validating: bool) -> None:
    """A target must name something the history will have."""
    if settings.target is None:
        return
    names = ["loss", *(metric.name for metric in make_metrics(settings))]
    if validating:
        names += [f"val_{name}" for name in names]
        if settings.tta:
            names.append("val_accuracy_tta")
    metric = settings.target[0]
    if metric not in names:
        raise SpecError(
            f"train.target names '{metric}', which this run does not measure",
            settings.locations["target"],
            "train.target",
            did_you_mean(metric, names) or f"Use one of: {', '.join(names)}.",
        )


# -- the run --------------------------------------------------------------------------------------


def train(
    new: NewRun,
    console: Any,
    output: str = "plain",
    notify: Notify | None = None,
    extra_callbacks: Sequence[Any] = (),
) -> TrainResult:
    """Train a prepared spec (:func:`~layerkit.training.start.prepare`) into a new run directory
    and return where it went and how it ended.

    ``output`` is how progress is reported on ``console``: ``"live"`` (a progress bar, for a
    terminal), ``"plain"`` (a line per epoch) or ``"json"`` (a JSON object per line). Warnings
    (a cache or a record that could not be written) and download notes go to ``notify``; none
    are shown without it. ``extra_callbacks`` (Keras callbacks) run after the run's own, so
    each epoch is recorded before they see it; one may stop the run after an epoch by setting
    ``model.stop_training`` (``layerkit tune`` prunes trials so).

    Raises:
        SpecError: a train: setting Keras refuses, at its line.
        DataError: the data cannot be loaded or does not fit the model.
        RunError: the run directory cannot be created or locked.
    """
    plan, options = new.plan, new.options
    spec, settings = plan.spec, plan.spec.train
    document = resolved_document(spec)
    document.setdefault("train", {})
    document["train"].update({"epochs": settings.epochs, "batch_size": settings.batch_size})
    source = new.source
    setup = RunSetup(
        source=str(Path(source).resolve()) if Path(source).exists() else source,
        skip_bad_images=options.skip_bad_images or spec.data.on_bad_image == "skip",
        resize=options.resize or spec.data.resize,
        augment=new.augment,
        precision=options.precision or "auto",
        mixed_precision=wants_mixed_precision(options.precision or "auto"),
        strategy=options.strategy,
        allow_large=options.allow_large,
        schedule_epochs=settings.epochs,
        dropout_until=dropout_epochs(settings),
        validation_split=settings.validation_split,
        seed=settings.seed,
        normalize=asdict(spec.data.normalize),
    )
    _check_recipe(spec)
    _check_strategy(spec, options.strategy)
    check_layout_runs(plan)
    out = options.out
    chief = is_chief(options.strategy)
    if not chief:  # another worker writes the run; this one's copy goes when it ends
        out = _worker_folder()
    existed = out is not None and out.is_dir()
    run = RunDir.create(spec.name, out)
    run.lock(notify)
    try:
        header = (
            f"# trained from {spec.file}"
            + (f" --variant {spec.variant}" if spec.variant else "")
            + (f" with --set {' --set '.join(options.overrides)}" if options.overrides else "")
        )
        run.write_spec(document, header)
        run.write_setup(setup)
        report = Report(console, output, notify)
        result = _fit(run, plan, setup, None, [], report, extra_callbacks)
        # a worker's result names the run the chief writes (its own copy goes at the end)
        return result if chief or options.out is None else replace(result, run=RunDir(options.out))
    except Exception:
        # stopped before any epoch finished (the data does not fit the model, or an error of
        # ours): leave no half-made run behind, so the same --out works once it is fixed
        if not (run.path / "state.json").exists():
            run.unlock()
            run.discard(keep_folder=existed)
        raise
    finally:
        run.unlock()
        if not chief:
            shutil.rmtree(run.path, ignore_errors=True)


def resume(
    path: Path,
    options: TrainOptions,
    console: Any,
    output: str = "plain",
    notify: Notify | None = None,
) -> TrainResult:
    """Continue the run at ``path`` from its last finished epoch (from the start if it was
    stopped before finishing one), with its own spec, data and settings (``options`` may only
    raise ``epochs``); reported as :func:`train` reports.

    Raises:
        TrainError: an option other than ``--epochs``, or nothing left to train.
        RunError: the run directory cannot be read or locked.
    """
    check_resume_options(options)
    strategy = RunDir.open(path, resuming=True).read_setup().strategy
    chief, shared = is_chief(strategy), RunDir(path)
    if not chief:  # the chief writes the run: this worker resumes from its own copy of it
        path = _worker_copy(path)
    run = RunDir.open(path, resuming=True)
    run.lock(notify)
    try:
        state = run.read_state() if run.finished else None  # None: killed before epoch 1
        setup = run.read_setup()
        spec = run.read_spec()
        epochs = options.epochs or spec.train.epochs
        done = state.epoch if state is not None else 0
        if done >= epochs:
            raise TrainError(
                f"the run has already finished {done} epochs; resume with --epochs N above "
                f"{done} to train on"
            )
        if epochs != spec.train.epochs:
            run.record_epochs(epochs)  # so a later resume knows the new target
            spec = replace(spec, train=replace(spec.train, epochs=epochs))
        plan = validate(spec)
        check_layout_runs(plan)
        if state is not None:
            run.check_checkpoint(state, spec.name)
        history = run.read_history()[:done]
        result = _fit(run, plan, setup, state, history, Report(console, output, notify))
        return result if chief else replace(result, run=shared)
    finally:
        run.unlock()
        if not chief:
            shutil.rmtree(run.path.parent, ignore_errors=True)


def _worker_copy(path: Path) -> Path:
    """A copy of the run at ``path`` (on storage every worker sees) for a worker other than the
    chief to resume from and write to, so that only the chief writes the run itself."""
    copy = _worker_folder() / path.name
    try:  # the chief takes the run at the same moment (its lock, its recovery, --epochs)
        shutil.copytree(path, copy, ignore=_not_copied, copy_function=_copy_unless_gone)
    except (OSError, shutil.Error) as error:
        shutil.rmtree(copy.parent, ignore_errors=True)  # no lock in it: nothing else would
        failed = (
            error.args[0]
            if error.args and isinstance(error.args[0], list)
            else [("", "", str(error))]
        )
        more = f", and {len(failed) - 1} more" if len(failed) > 1 else ""
        raise TrainError(
            f"could not copy the run '{path}' for this worker to resume from "
            f"({failed[0][2]}{more}); check that it is readable and that "
            f"{copy.parent.parent} (TMPDIR) has room for it"
        ) from None
    return copy


def _not_copied(folder: str, names: list[str]) -> set[str]:
    """What a worker's copy leaves out: the chief's lock, its TensorBoard logs and its writes in
    progress (temporaries, gone or renamed by the time they would be copied)."""
    return {n for n in names if n in ("lock", "tensorboard") or is_temporary(Path(folder, n))}


def _copy_unless_gone(source: str, destination: str) -> None:
    """Copy a file of the run unless the chief removed or renamed it since the folder was listed
    (its recovery settling a killed epoch's models): the copy goes without it, and this worker's
    own recovery settles the copy as the chief's settles the run."""
    try:
        shutil.copy2(source, destination)
    except FileNotFoundError:
        if os.path.lexists(source):
            raise  # a link to nothing, or nowhere to copy to: not a file the chief moved


def _worker_folder() -> Path:
    """A new temporary folder for the copy of a worker other than the chief. Copies left by
    workers that were killed (their lock names no live process) are removed first."""
    for old in Path(tempfile.gettempdir()).glob("layerkit-worker-*"):
        locks = [lock for lock in (old / "lock", *old.glob("*/lock")) if lock.is_file()]
        if locks and not any(holder_alive(lock.parent) for lock in locks):
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix="layerkit-worker-"))


def _check_strategy(spec: Spec, strategy: str | None) -> None:
    """What data-parallel training (JAX) cannot do is refused before the run starts: a batch
    that does not split evenly over the devices, and (not yet) TTA and whitening (the moments
    of the first conv2d's patches come from a forward pass over batches the devices need not
    divide)."""
    devices, batch = share(strategy).devices, spec.train.batch_size
    if batch % devices:
        raise TrainError(
            f"batch {batch} does not split evenly over {devices} devices, as --strategy "
            f"data-parallel needs: use a multiple of {devices}, such as "
            f"--batch-size {max(devices, batch - batch % devices)}"
        )
    if strategy == "data-parallel" and spec.train.tta and share(strategy) != Share():
        raise TrainError(
            "train.tta is not measured under --strategy data-parallel over several devices yet; "
            "remove tta: from the spec (--set train.tta=null) and measure it after training with "
            "layerkit evaluate RUN --tta flip"
        )
    init = spec.train.init
    if (
        strategy == "data-parallel"
        and init is not None
        and init.whiten
        and share(strategy) != Share()
    ):
        raise SpecError(
            "init.whiten is not measured under --strategy data-parallel over several devices yet",
            spec.train.locations.get("init", spec.inputs[0].location),
            "train.init.whiten",
            "Remove 'whiten: true' (dirac: true works), or train on one device.",
        )


def _fit(run: RunDir, plan: Plan, setup: RunSetup, state: RunState | None,
         history: list[dict[str, Any]], report: Report,
         extra_callbacks: Sequence[Any] = ()) -> TrainResult:  # fmt: skip
    """Train from ``state`` (None: from the start) to the spec's epochs, and say how it ended."""
    spec, settings = plan.spec, plan.spec.train
    device = _device_description(setup.strategy, settings.batch_size)
    mixed = setup.mixed_precision
    if mixed is None:  # a run from before the decision was recorded
        mixed = wants_mixed_precision(setup.precision)
    with dtype_policy("mixed_float16" if mixed else None), distribution_scope(setup.strategy):
        made = (
            restore_trainer(plan, run, state) if state is not None else build_trainer(plan, setup)
        )
        data = _load_data(plan, setup, report)
        if state is None:
            made = compile_trainer(plan, setup, made, data)
    if state is None:
        setup = replace(setup, loss=loss_description(made.loss, made.ends),
                        from_logits=from_logits(made.loss))  # fmt: skip
        run.write_setup(setup)
        run.write_environment(RunEnvironment(tuple(data.dataset.class_names),
                              tuple(data.dataset.skipped), device, environment()))  # fmt: skip
    initial_epoch = state.epoch if state is not None else 0
    shape = tuple(spec.input.shape)
    part = share(setup.strategy)
    batches = data.batches(shape, settings.batch_size, settings.seed, initial_epoch, part,
                           alternates_flips(plan, bool(setup.augment)))  # fmt: skip
    validation = data.validation(shape)
    validating = data.validation_batches(shape, settings.batch_size, part)
    skip_weight_decay(made.trainer.optimizer, made.trainer, settings.no_decay)
    scale_learning_rates(made.trainer.optimizer, made.trainer, settings.lr_scale)
    monitor = settings.monitor if validation is not None else settings.monitor.removeprefix("val_")
    _check_target(settings, validation is not None)
    best = state.best if state is not None else Best()
    control = Control(settings, monitor, state, run.path / "state.json")
    callbacks, recorder = run_callbacks(run, plan, setup, made, data, validation, monitor,
                                        history, best, device, initial_epoch, report,
                                        control)  # fmt: skip
    ctrl_c = CtrlC()
    callbacks += [*extra_callbacks, ctrl_c]
    status = "finished"
    try:
        with remembered(ctrl_c):
            made.trainer.fit(
                batches, steps_per_epoch=data.steps, epochs=settings.epochs,
                initial_epoch=initial_epoch, validation_data=validating,
                validation_batch_size=settings.batch_size if validating is validation else None,
                callbacks=callbacks, verbose=0, shuffle=False,
            )  # fmt: skip
    except KeyboardInterrupt:
        status = "interrupted"
    except Exception as error:
        if worker_count(setup.strategy) < 2 or not peer_lost(error):
            raise
        finish(run, recorder, "interrupted", report)  # metrics.json says so; state.json resumes
        leave_cluster()
        where = run.path if is_chief(setup.strategy) else "RUN (the chief's run directory)"
        raise TrainError(
            f"a worker of the cluster stopped ({_first_reason(error)}), and training cannot go "
            f"on without it; every finished epoch is kept: continue with "
            f"layerkit train --resume {where}"
        ) from None
    return finish(run, recorder, status, report)


def _first_reason(error: BaseException) -> str:
    """The engine's reason for a lost worker, in one short line."""
    text = str(error).split("Collective ops is aborted by: ")[-1].split(". ")[0]
    return " ".join(text.split())[:200]


def _device_description(strategy: str | None, batch_size: int) -> str:
    gpus = device_names()
    device = f"GPU ({', '.join(gpus)})" if gpus else f"CPU ({os.cpu_count()} cores)"
    if not strategy:
        return device
    replicas = replica_count(strategy)
    device += f", {strategy} strategy over {replicas} replica{'s' * (replicas != 1)}"
    workers = worker_count(strategy)
    if workers > 1:  # how the data is shared out, which differs between the engines
        each = f"{batch_size // workers} of every batch of {batch_size}"
        device += (
            f" on {workers} workers, each reading all the data and computing its {each}"
            if strategy == "multi-worker"
            else f" on {workers} processes, each feeding its {each}"
        )
    return device


def _load_data(plan: Plan, setup: RunSetup, report: Report) -> RunData:
    settings = plan.spec.train
    dataset = load_dataset(setup.source, plan.spec.input.shape, skip_bad=setup.skip_bad_images,
                           resize=setup.resize, notify=report.notify)  # fmt: skip
    _check_pixel_range(dataset.x, plan.spec.data.normalize.scale, report)
    train_index, val_index = split(dataset, settings.validation_split, settings.seed)
    steps = steps_per_epoch(len(train_index), settings.batch_size, share(setup.strategy))
    return RunData(dataset, train_index, val_index, steps)


def _check_pixel_range(x: Any, scale: float, report: Report) -> None:
    """Float images already within [0, 1] that ``data.normalize`` scales by 1/255 once more train
    a model that image files (0-255, as predict and export read them) would feed 255 times more."""
    if not np.issubdtype(x.dtype, np.floating) or not len(x) or abs(scale - 1 / 255) > 1e-9:
        return
    if float(np.max(x)) <= 1.0:
        report.warn(
            "warning: the training images are floats within [0, 1], and data.normalize scales "
            "them by 1/255 once more, which image files (0-255) given to predict or export would "
            "not match; give the pixels as 0-255 (x * 255), as image files hold them"
        )
