"""Training a spec's model: data in, a run directory out, resumable at every epoch.

The model trained is exactly the spec's; input scaling and augmentation sit in a wrapper model
used only for training, so the saved models have the spec's parameter counts.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import keras
import yaml

from ..catalog import augmentations  # noqa: F401  (registers its layers, so checkpoints using them load)
from ..errors import SpecError, TrainError, did_you_mean
from ..model.compiler import build
from ..spec.document import Spec
from ..spec.plan import Plan
from ..spec.settings import TrainSettings
from ..spec.validation import validate
from .batches import EpochBatches
from .callbacks import (
    EarlyDropout,
    EpochSeeds,
    FlipValidation,
    MovingAverage,
    Recorder,
    metrics_record,
    optimizer_steps,
)
from .data import Dataset, Notify, load_dataset, split
from .model import check_fit, prepare_inputs, training_model
from .progress import JsonProgress, LiveProgress, PlainProgress
from .recipe import (
    ModelOutput,
    dropout_epochs,
    dropout_layers,
    flips,
    loss_description,
    make_loss,
    make_metrics,
    make_optimizer,
    model_output,
    set_batchnorm_momentum,
    skip_weight_decay,
    unwrapped,
)
from .runs import Best, RunDir, RunEnvironment, RunSetup, RunState
from .runtime import (
    device_names,
    distribution_scope,
    dtype_policy,
    environment,
    is_chief,
    replica_count,
    wants_mixed_precision,
)
from .start import NewRun, TrainOptions, check_resume_options


@dataclass(frozen=True)
class TrainResult:
    """How a run ended: ``status`` is ``finished``, ``reached target`` (``reason`` says which
    value), ``interrupted`` (Ctrl-C) or ``failed`` (``reason`` says why); the best epoch by the
    run's monitored metric, with its row of history.csv (empty before one)."""

    run: RunDir
    epochs_done: int
    status: str
    reason: str | None = None
    best_epoch: int | None = None
    best_metrics: dict[str, Any] = field(default_factory=dict)


# -- preparing ----------------------------------------------------------------------------------


def resolved_document(spec: Spec) -> dict[str, Any]:
    """The spec as trained, self-contained: included blocks and vars copied in."""
    document = dict(spec.document)
    blocks: dict[str, Any] = {}
    variables: dict[str, Any] = {}
    for included in spec.includes:
        text = yaml.safe_load(Path(included).read_text(encoding="utf-8")) or {}
        blocks.update(text.get("blocks") or {})
        variables.update(text.get("vars") or {})
    document.pop("include", None)
    if blocks or document.get("blocks"):
        document["blocks"] = {**blocks, **(document.get("blocks") or {})}
    if variables or document.get("vars"):
        document["vars"] = {**variables, **(document.get("vars") or {})}
    return document


def _check_recipe(spec: Spec) -> None:
    """Make the train: settings into Keras objects once before any data loads or any run
    directory is made, so that their mistakes are reported at their lines first."""
    settings = spec.train
    make_optimizer(settings, steps_per_epoch=1)
    make_loss(settings)
    _check_tta(spec)
    _check_target(settings, validating=bool(settings.validation_split))


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


def _check_restored(trainer: keras.Model, checkpoint: Path, expected: int | None) -> None:
    """A checkpoint whose optimizer state did not load (Keras only warns) would restart the
    schedule, momentum and weight average: refuse to go on rather than train on silently.
    ``expected`` is None for runs from before state.json held the count: any count but 0."""
    steps = optimizer_steps(trainer)
    if steps != expected and (expected is not None or steps == 0):
        counts = f"{steps} steps restored" + (f", {expected} expected" if expected else "")
        raise TrainError(
            f"the optimizer state in {checkpoint} did not load ({counts}); the run is left as it "
            "was — resume it with the Keras version and backend it was trained with"
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
    new: NewRun, console: Any, output: str = "plain", notify: Notify | None = None
) -> TrainResult:
    """Train a prepared spec (:func:`~layerkit.training.start.prepare`) into a new run directory
    and return where it went and how it ended.

    ``output`` is how progress is reported on ``console``: ``"live"`` (a progress bar, for a
    terminal), ``"plain"`` (a line per epoch) or ``"json"`` (a JSON object per line). Warnings
    (a cache or a record that could not be written) and download notes go to ``notify``; none
    are shown without it.

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
    out = options.out
    if options.strategy == "multi-worker" and not is_chief():
        import tempfile

        out = Path(tempfile.mkdtemp(prefix="layerkit-worker-"))
    existed = out is not None and out.is_dir()
    run = RunDir.create(spec.name, out)
    run.lock()
    try:
        header = f"# trained from {spec.file}" + (
            f" with --set {' --set '.join(options.overrides)}" if options.overrides else ""
        )
        run.write_spec(document, header)
        run.write_setup(setup)
        return _fit(run, plan, setup, None, [], _Report(console, output, notify))
    except Exception:
        # stopped before any epoch finished (the data does not fit the model, or an error of
        # ours): leave no half-made run behind, so the same --out works once it is fixed
        if not (run.path / "state.json").exists():
            run.unlock()
            run.discard(keep_folder=existed)
        raise
    finally:
        run.unlock()


def resume(
    path: Path,
    options: TrainOptions,
    console: Any,
    output: str = "plain",
    notify: Notify | None = None,
) -> TrainResult:
    """Continue the run at ``path`` from its last finished epoch, with its own spec, data and
    settings (``options`` may only raise ``epochs``); reported as :func:`train` reports.

    Raises:
        TrainError: an option other than ``--epochs``, or nothing left to train.
        RunError: the run directory cannot be read or locked.
    """
    check_resume_options(options)
    run = RunDir.open(path)
    run.lock()
    try:
        state = run.read_state()
        setup = run.read_setup()
        spec = run.read_spec()
        epochs = options.epochs or spec.train.epochs
        if state.epoch >= epochs:
            raise TrainError(
                f"the run has already finished {state.epoch} epochs; resume with --epochs N "
                f"above {state.epoch} to train on"
            )
        if epochs != spec.train.epochs:
            run.record_epochs(epochs)  # so a later resume knows the new target
            spec = replace(spec, train=replace(spec.train, epochs=epochs))
        plan = validate(spec)
        history = run.read_history()[: state.epoch]
        return _fit(run, plan, setup, state, history, _Report(console, output, notify))
    finally:
        run.unlock()


@dataclass(frozen=True)
class _Report:
    """Where a run reports: progress on ``console`` as ``output`` says, warnings to ``notify``."""

    console: Any
    output: str
    notify: Notify | None

    def warn(self, text: str) -> None:
        if self.notify is not None:
            self.notify(text)


@dataclass(frozen=True)
class _Trainer:
    """The spec's model, the training model around it (None until it is compiled), and its
    loss."""

    model: keras.Model
    trainer: keras.Model | None
    ends: ModelOutput
    loss: Any


@dataclass(frozen=True)
class _Data:
    """The run's data, split, as batches for training and arrays for validation."""

    dataset: Dataset
    train_index: Any
    val_index: Any
    steps: int  # per epoch

    def batches(self, shape: tuple, batch_size: int, seed: int, first_epoch: int) -> EpochBatches:
        dataset = self.dataset
        x_train = prepare_inputs(dataset.x[self.train_index], shape)
        y_train = keras.utils.to_categorical(dataset.y[self.train_index], len(dataset.class_names))
        return EpochBatches(x_train, y_train.astype("float32"), batch_size, seed, first_epoch)

    def validation(self, shape: tuple) -> tuple[Any, Any] | None:
        if not len(self.val_index):
            return None
        dataset = self.dataset
        return (
            prepare_inputs(dataset.x[self.val_index], shape),
            keras.utils.to_categorical(dataset.y[self.val_index], len(dataset.class_names)),
        )


def _fit(run: RunDir, plan: Plan, setup: RunSetup, state: RunState | None,
         history: list[dict[str, Any]], report: _Report) -> TrainResult:  # fmt: skip
    """Train from ``state`` (None: from the start) to the spec's epochs, and say how it ended."""
    spec, settings = plan.spec, plan.spec.train
    device = _device_description(setup.strategy)
    mixed = setup.mixed_precision
    if mixed is None:  # a run from before the decision was recorded
        mixed = wants_mixed_precision(setup.precision)
    with dtype_policy("mixed_float16" if mixed else None), distribution_scope(setup.strategy):
        made = _restore(plan, run, state) if state is not None else _build_model(plan, setup)
        data = _load_data(plan, setup, report)
        if state is None:
            made = _compile(plan, setup, made, data)
    if state is None:
        setup = replace(setup, loss=loss_description(made.loss, made.ends),
                        from_logits=_from_logits(made.loss))  # fmt: skip
        run.write_setup(setup)
        run.write_environment(RunEnvironment(tuple(data.dataset.class_names),
                              tuple(data.dataset.skipped), device, environment()))  # fmt: skip
    initial_epoch = state.epoch if state is not None else 0
    shape = tuple(spec.input.shape)
    batches = data.batches(shape, settings.batch_size, settings.seed, initial_epoch)
    validation = data.validation(shape)
    skip_weight_decay(made.trainer.optimizer, made.trainer, settings.no_decay)
    monitor = settings.monitor if validation is not None else settings.monitor.removeprefix("val_")
    _check_target(settings, validation is not None)
    best = state.best if state is not None else Best()
    callbacks, recorder = _callbacks(run, plan, setup, made, data, validation, monitor, history,
                                     best, device, initial_epoch, report)  # fmt: skip
    status = "finished"
    try:
        made.trainer.fit(
            batches, steps_per_epoch=data.steps, epochs=settings.epochs,
            initial_epoch=initial_epoch, validation_data=validation,
            validation_batch_size=settings.batch_size, callbacks=callbacks, verbose=0,
            shuffle=False,
        )  # fmt: skip
    except KeyboardInterrupt:
        status = "interrupted"
    return _finish(run, recorder, status, report)


def _device_description(strategy: str | None) -> str:
    gpus = device_names()
    device = f"GPU ({', '.join(gpus)})" if gpus else f"CPU ({os.cpu_count()} cores)"
    if strategy:
        replicas = replica_count(strategy)
        device += f", {strategy} strategy over {replicas} replica{'s' * (replicas != 1)}"
    return device


def _build_model(plan: Plan, setup: RunSetup) -> _Trainer:
    """The spec's model, new, with its loss; the training model is made once the data is in."""
    keras.utils.set_random_seed(plan.spec.train.seed)  # the initial weights, as `seed` promises
    model = build(plan, allow_large=setup.allow_large)
    # a loss that cannot take what the model outputs is refused before any data loads
    ends = model_output(model)
    return _Trainer(model, None, ends, make_loss(plan.spec.train, ends))


def _restore(plan: Plan, run: RunDir, state: RunState) -> _Trainer:
    """The training model of the state's checkpoint, checked to have its optimizer state."""
    checkpoint = run.checkpoints / state.checkpoint
    trainer = keras.saving.load_model(checkpoint)
    model = trainer.get_layer(plan.spec.name)
    _check_restored(trainer, checkpoint, state.optimizer_steps)
    ends, loss = model_output(model), trainer.loss
    _check_restored_loss(loss, ends)
    return _Trainer(model, trainer, ends, loss)


def _load_data(plan: Plan, setup: RunSetup, report: _Report) -> _Data:
    settings = plan.spec.train
    dataset = load_dataset(setup.source, plan.spec.input.shape, skip_bad=setup.skip_bad_images,
                           resize=setup.resize, notify=report.notify)  # fmt: skip
    train_index, val_index = split(dataset, settings.validation_split, settings.seed)
    steps = math.ceil(len(train_index) / settings.batch_size)
    return _Data(dataset, train_index, val_index, steps)


def _compile(plan: Plan, setup: RunSetup, made: _Trainer, data: _Data) -> _Trainer:
    """The new model in its training wrapper (scaling, augmentation), compiled."""
    settings, model = plan.spec.train, made.model
    check_fit(plan, model, data.dataset)
    if settings.batchnorm_momentum is not None:
        set_batchnorm_momentum(model, settings.batchnorm_momentum)
    trainer = training_model(model, plan, plan.spec.data.normalize, setup.augment)
    trainer.compile(
        optimizer=make_optimizer(settings, data.steps),
        loss=made.loss,
        metrics=make_metrics(settings),
        jit_compile="auto" if device_names() else False,
    )
    return replace(made, trainer=trainer)


def _reporter(report: _Report, epochs: int, steps: int, batch_size: int) -> PlainProgress:
    if report.output == "live":
        return LiveProgress(report.console, epochs, steps, batch_size)
    if report.output == "json":
        return JsonProgress(report.console, epochs)
    return PlainProgress(report.console, epochs)


def _callbacks(run: RunDir, plan: Plan, setup: RunSetup, made: _Trainer, data: _Data,
               validation: tuple[Any, Any] | None, monitor: str, history: list[dict[str, Any]],
               best: Best, device: str, initial_epoch: int,
               report: _Report) -> tuple[list[keras.callbacks.Callback], Recorder]:  # fmt: skip
    """The run's callbacks, in the order they must run, with the recorder among them; the
    reporter is told how the run starts."""
    spec, settings = plan.spec, plan.spec.train
    laid_out = setup.schedule_epochs or settings.epochs
    until, dropouts = dropout_epochs(replace(settings, epochs=laid_out)), dropout_layers(made.model)
    early = until is not None and until < settings.epochs  # dropout switched off after `until`
    scheduled = settings.schedule is not None and settings.schedule.name != "constant"
    reporter = _reporter(report, settings.epochs, data.steps, settings.batch_size)
    dataset = data.dataset
    reporter.start(
        {
            "spec": spec.name,
            "run": str(run.path),
            "device": device,
            "backend": keras.backend.backend(),
            "train_images": len(data.train_index),
            "validation_images": len(data.val_index),
            "classes": len(dataset.class_names),
            "skipped_images": len(dataset.skipped),
            "batch_size": settings.batch_size,
            "first_epoch": initial_epoch + 1,
            "epochs": settings.epochs,
            "augment": bool(setup.augment),
            "dropout_until": until if early else None,
            "dropout_layers": len(dropouts),
            "schedule_epochs": laid_out if scheduled else None,
            "loss": loss_description(made.loss, made.ends),
            "from_logits": _from_logits(made.loss),
        }
    )
    average = MovingAverage(enabled=bool(unwrapped(made.trainer.optimizer).use_ema))
    recorder = Recorder(run, made.model, settings.epochs, monitor, len(data.train_index), history,
                        best, reporter, average, settings.target)  # fmt: skip
    # TerminateOnNaN ends the epoch at the first NaN batch; the recorder then keeps the last good
    # one. The moving average and the TTA column must be in place before the recorder runs.
    callbacks: list[keras.callbacks.Callback] = [
        keras.callbacks.TerminateOnNaN(),
        EpochSeeds(settings.seed),
        average,
    ]
    if early and dropouts:  # before the recorder: it saves the spec's rates
        callbacks.append(EarlyDropout(dropouts, until))
    if settings.tta == "flip" and validation is not None:
        labels = dataset.y[data.val_index]
        callbacks.append(
            FlipValidation(validation[0], labels, settings.batch_size, average, made.ends)
        )
    callbacks += [reporter, recorder]
    if keras.backend.backend() == "tensorflow":
        callbacks.append(
            keras.callbacks.TensorBoard(log_dir=str(run.tensorboard), write_graph=False)
        )
    return callbacks, recorder


def _finish(run: RunDir, recorder: Recorder, status: str, report: _Report) -> TrainResult:
    """The run's outcome, also written to metrics.json."""
    if recorder.stopped is not None:
        status = "failed"
    elif recorder.reached is not None:
        status = "reached target"
    best = recorder.best
    try:
        run.write_json(
            "metrics.json", metrics_record(recorder.history, best, status, recorder.monitor)
        )
    except OSError as error:  # the run is still resumable from state.json
        report.warn(f"warning: could not update metrics.json: {error}")
    return TrainResult(run, len(recorder.history), status, recorder.reached or recorder.stopped,
                       best.epoch, dict(best.metrics))  # fmt: skip


def _from_logits(loss: Any) -> bool:
    return bool(getattr(loss, "from_logits", False))


def _check_restored_loss(loss: Any, ends: ModelOutput) -> None:
    """A run begun before layerkit matched the loss to the model's last layer may train a
    cross-entropy on logits; it is not continued silently."""
    if ends.logits and "crossentropy" in type(loss).__name__.lower() and not _from_logits(loss):
        raise TrainError(
            f"this run trains {loss_description(loss, ends)} on logits ({ends.reason}): it began "
            "before layerkit matched the loss to the last layer; train it anew"
        )
