"""Training a spec's model: data in, a run directory out, resumable at every epoch.

The model trained is exactly the spec's; input scaling and augmentation sit in a wrapper model
used only for training, so the saved models have the spec's parameter counts.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np
import yaml

from . import (
    __version__,
    augmentations,  # noqa: F401  (registers its layers, so checkpoints using them load)
)
from .compiler import build, make_layer
from .data import Dataset, check_samples, load_dataset, resolve_source, split
from .errors import LayerkitError, SpecError, did_you_mean, listed
from .progress import JsonProgress, LiveProgress, PlainProgress
from .recipe import (
    ModelOutput,
    as_probabilities,
    dropout_epochs,
    dropout_layers,
    flips,
    learning_rate_at,
    loss_description,
    make_loss,
    make_metrics,
    make_optimizer,
    mirrored,
    model_output,
    set_batchnorm_momentum,
    skip_weight_decay,
    unwrapped,
)
from .registry import default_registry
from .runs import RunDir
from .settings import Normalize, TrainSettings
from .spec import Spec, load_spec
from .validation import Plan, validate


class TrainError(LayerkitError):
    """Training cannot start or go on, and why."""


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
    overrides: tuple[str, ...] = ()
    precision: str | None = None  # None, "auto": mixed float16 on a GPU, float32 on the CPU
    strategy: str | None = None  # "mirrored": data-parallel over every GPU (TensorFlow backend)
    allow_large: bool = False  # build models over the parameter limit


@dataclass(frozen=True)
class TrainResult:
    run: RunDir
    epochs_done: int
    status: str
    best: dict[str, Any]


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


def environment() -> dict[str, Any]:
    info: dict[str, Any] = {
        "layerkit": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "numpy": np.__version__,
        "devices": device_names(),
        "command": " ".join(sys.argv),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        info["tensorflow"] = tf.__version__
    return info


def device_names() -> list[str]:
    """Accelerators the backend sees; empty on a CPU-only machine."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return [device.name for device in tf.config.list_physical_devices("GPU")]
    if backend == "jax":
        import jax

        return [str(device) for device in jax.devices() if device.platform != "cpu"]
    if backend == "torch":
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return []


def distribution_scope(strategy: str | None) -> Any:
    """A context in which to build and compile: the strategy's scope, or nothing special."""
    import contextlib

    if strategy is None:
        return contextlib.nullcontext()
    return _strategy(strategy).scope()


def replica_count(strategy: str) -> int:
    return _strategy(strategy).num_replicas_in_sync


_STRATEGIES: dict[str, Any] = {}


def _strategy(name: str) -> Any:
    if name not in ("mirrored", "multi-worker"):
        raise TrainError(f"unknown strategy '{name}'; layerkit has 'mirrored' and 'multi-worker'")
    if keras.backend.backend() != "tensorflow":
        raise TrainError(
            "--strategy mirrored needs the TensorFlow backend (tf.distribute); "
            f"this run uses {keras.backend.backend()}"
        )
    if name not in _STRATEGIES:
        import tensorflow as tf

        if name == "multi-worker":  # the cluster and this worker's place come from TF_CONFIG
            _STRATEGIES[name] = tf.distribute.MultiWorkerMirroredStrategy()
        else:
            gpus = tf.config.list_logical_devices("GPU")
            devices = [device.name for device in gpus or tf.config.list_logical_devices("CPU")]
            _STRATEGIES[name] = tf.distribute.MirroredStrategy(devices=devices)
    return _STRATEGIES[name]


def is_chief() -> bool:
    """Whether this process writes the run: the only one, or the chief (or worker 0) of a
    TF_CONFIG cluster. Other workers write their copy to a temporary folder, as Keras asks."""
    import json

    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = config.get("task") or {}
    if not task:
        return True
    has_chief = "chief" in (config.get("cluster") or {})
    return task.get("type") == "chief" or (
        not has_chief and task.get("type") == "worker" and task.get("index") == 0
    )


def split_cpu(replicas: int) -> None:
    """Make TensorFlow see the CPU as ``replicas`` logical devices, to try data-parallel training
    without GPUs. Must run before TensorFlow has started using its devices."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(replicas)]
        )
    except RuntimeError:
        raise TrainError("--cpu-replicas must be set before TensorFlow starts") from None


def _check_fit(plan: Plan, model: keras.Model, dataset: Dataset) -> None:
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise TrainError("layerkit train handles models with one input and one output")
    classes = model.outputs[0].shape[-1]
    if classes != len(dataset.class_names):
        last = plan.layers[-1]
        raise SpecError(
            f"the model ends in {classes} outputs but the data has {len(dataset.class_names)} "
            f"classes ({listed(dataset.class_names, 5)})",
            last.location,
            last.path,
            f"Make the last layer {len(dataset.class_names)} units wide (e.g. --set vars.classes="
            f"{len(dataset.class_names)} where the spec has such a var).",
        )
    check_samples(dataset.x, tuple(model.inputs[0].shape[1:]), "the spec's input")


def prepare_inputs(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Samples as float32 in the model's input shape (grey images get their channel axis)."""
    x = x.astype("float32", copy=False)
    return x.reshape((len(x), *shape)) if x.shape[1:] != shape else x


def training_model(
    model: keras.Model, plan: Plan, normalize: Normalize, augment: bool
) -> keras.Model:
    """The spec's model behind input scaling and (when asked) the augmentation layers."""
    inputs = keras.Input(shape=model.inputs[0].shape[1:], name="images")
    x = keras.layers.Rescaling(normalize.scale, normalize.offset, name="scale")(inputs)
    if normalize.mean is not None or normalize.std is not None:
        channels = model.inputs[0].shape[-1]
        mean = np.broadcast_to(np.array(normalize.mean or 0.0, "float32"), (channels,))
        std = np.broadcast_to(np.array(normalize.std or 1.0, "float32"), (channels,))
        x = keras.layers.Normalization(mean=mean, variance=std**2, name="standardize")(x)
    if augment:
        for index, layer in enumerate(plan.augment):
            x = make_layer(layer, default_registry(), f"augment_{index}")(x)
    return keras.Model(inputs, model(x), name=f"{model.name}_training")


# -- what happens around each validation ----------------------------------------------------------


class MovingAverage(keras.callbacks.Callback):
    """The optimizer's exponential moving average of the weights (``train.ema``), swapped into the
    model for every validation and for the saved best/last models, and swapped back to go on
    training. Checkpoints keep the raw weights and the average, so a resume is exact."""

    def __init__(self, enabled: bool) -> None:
        super().__init__()
        self.enabled = enabled

    def _swap(self) -> None:
        optimizer = unwrapped(self.model.optimizer)
        if not self.enabled or not optimizer.built:
            return
        variables = optimizer._trainable_variables
        pairs = zip(variables, optimizer._model_variables_moving_average, strict=True)
        for variable, average in pairs:
            if average is not None:
                value = keras.ops.convert_to_numpy(variable)
                variable.assign(keras.ops.convert_to_numpy(average))
                average.assign(value)

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        """Within this block the model holds the averaged weights."""
        self._swap()
        try:
            yield
        finally:
            self._swap()

    def on_test_begin(self, logs: dict | None = None) -> None:
        self._swap()

    def on_test_end(self, logs: dict | None = None) -> None:
        self._swap()


class EarlyDropout(keras.callbacks.Callback):
    """``train.early_dropout``: the dropout layers act in the first ``until`` epochs only, then
    are switched off for the rest of training ("early dropout", Liu et al., 2023: dropout helps a
    model that underfits early on, and holds it back at the end). The compiled training step is
    rebuilt once, at the switch; each epoch's end gives the layers their rates back, so the saved
    models and checkpoints keep the spec's rates (a resumed run switches them off again)."""

    def __init__(self, layers: list[keras.layers.Layer], until: int) -> None:
        super().__init__()
        self.layers = layers
        self.until = until
        self.rates = [layer.rate for layer in layers]
        self.switched = False

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if epoch < self.until:
            return
        for layer in self.layers:
            layer.rate = 0.0
        if not self.switched:  # the step compiled so far has the rates built in
            self.model.make_train_function(force=True)
            self.switched = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for layer, rate in zip(self.layers, self.rates, strict=True):
            layer.rate = rate


class EpochSeeds(keras.callbacks.Callback):
    """Every random draw of an epoch (dropout masks, augmentation) a function of the run's seed and
    the epoch alone: at each epoch's start every random generator in the training model is set
    from them. Keras saves no generator state with a model, so without this a resumed run would
    draw other masks and crops than the uninterrupted run did."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.seed = seed

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        for index, generator in enumerate(seed_generators(self.model)):
            state = _derived_seed(self.seed, epoch, index)
            generator.state.assign(
                keras.ops.convert_to_tensor([state, 0], dtype=generator.state.dtype)
            )


def seed_generators(model: keras.Model) -> list[Any]:
    """The random generators of ``model``'s layers, nested ones included, in layer order (the
    same for a model built from a spec and the same model loaded from a checkpoint)."""
    found: dict[int, Any] = {}
    for layer in model._flatten_layers(include_self=True):
        found.update((id(generator), generator) for generator in layer._seed_generators)
    return list(found.values())


def _derived_seed(*numbers: int) -> int:
    """A seed below 2**31 (every backend's seed type holds it) drawn from ``numbers``."""
    return int(np.random.SeedSequence(list(numbers)).generate_state(1)[0] & 0x7FFF_FFFF)


class EpochBatches(keras.utils.PyDataset):
    """The training samples as one endless stream of batches, epoch after epoch from
    ``first_epoch``, each epoch in an order drawn from the run's seed and the epoch alone, so a
    resumed run sees the batches the uninterrupted one saw. (Keras's own shuffle of arrays depends
    on how many epochs the process has run, and under TensorFlow repeats one order every epoch
    once a global seed is set.) ``fit`` cuts the stream into epochs with ``steps_per_epoch``."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, seed: int,
                 first_epoch: int) -> None:  # fmt: skip
        super().__init__()
        self.x = x
        self.y = y
        self.batch_size = batch_size
        self.steps = math.ceil(len(x) / batch_size)
        self.seed = seed
        self.first_epoch = first_epoch
        self._order: tuple[int, np.ndarray] | None = None  # the last epoch's order, kept

    @property
    def num_batches(self) -> int | None:
        return None  # endless

    def order(self, epoch: int) -> np.ndarray:
        """The samples' order in ``epoch`` (0-based)."""
        if self._order is None or self._order[0] != epoch:
            rng = np.random.default_rng(_derived_seed(self.seed, epoch))
            self._order = (epoch, rng.permutation(len(self.x)))
        return self._order[1]

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        epoch, step = divmod(index, self.steps)
        order = self.order(self.first_epoch + epoch)
        chosen = order[step * self.batch_size : (step + 1) * self.batch_size]
        return self.x[chosen], self.y[chosen]


class FlipValidation(keras.callbacks.Callback):
    """``train.tta: flip``: after each epoch, validation accuracy from the average of the
    probabilities for each image and its mirror image, logged as ``val_accuracy_tta`` (a model
    that outputs logits has them softmaxed first, as ``layerkit evaluate --tta flip`` does)."""

    def __init__(self, x: np.ndarray, labels: np.ndarray, batch_size: int,
                 average: MovingAverage, output: ModelOutput) -> None:  # fmt: skip
        super().__init__()
        self.x = x
        self.labels = labels
        self.batch_size = batch_size
        self.average = average
        self.output = output

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        with self.average.applied():
            plain = self.model.predict(self.x, batch_size=self.batch_size, verbose=0)
            flipped = self.model.predict(mirrored(self.x), batch_size=self.batch_size, verbose=0)
        both = as_probabilities(plain, self.output) + as_probabilities(flipped, self.output)
        accuracy = float(np.mean(np.argmax(both, axis=-1) == self.labels))
        if logs is not None:
            logs["val_accuracy_tta"] = accuracy


# -- recording each epoch --------------------------------------------------------------------------


class Recorder(keras.callbacks.Callback):
    """After every epoch: checkpoint, models, history, metrics, plot, then state.json last."""

    def __init__(self, run: RunDir, inner: keras.Model, epochs: int, monitor: str,
                 train_count: int, history: list[dict[str, Any]], best: dict[str, Any],
                 reporter: PlainProgress, average: MovingAverage | None = None,
                 target: tuple[str, float] | None = None) -> None:  # fmt: skip
        super().__init__()
        self.average = average or MovingAverage(enabled=False)
        self.target = target
        self.run = run
        self.inner = inner
        self.epochs = epochs
        self.monitor = monitor
        self.train_count = train_count
        self.history = history
        self.best = best
        self.reporter = reporter
        self.started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        seconds = time.perf_counter() - self.started
        row: dict[str, Any] = {"epoch": epoch + 1}
        row.update(
            {key: float(value) for key, value in (logs or {}).items() if key != "learning_rate"}
        )
        row["lr"] = learning_rate_at(self.model.optimizer)
        row["seconds"] = round(seconds, 3)
        row["images_per_second"] = round(self.train_count / seconds, 1)
        if not all(math.isfinite(value) for key, value in row.items() if key.endswith("loss")):
            self.model.stop_training = True
            self.best["stopped"] = f"the loss became {row.get('loss')} at epoch {epoch + 1}"
            return  # keep the last good checkpoint; record nothing from this epoch
        try:
            self.record(epoch, row)
        except OSError as error:  # a full disk, a removed folder: keep the last good epoch
            self.model.stop_training = True
            where = f" {error.filename}" if error.filename else ""
            self.best["stopped"] = f"could not write{where}: {error.strerror or error}"
            return
        self.reporter.report(row)
        if self.target is not None and _reached(row, *self.target):
            metric, value = self.target
            self.best["reached"] = (
                f"{metric} {row[metric]:.4f} reached the target {value} at epoch {epoch + 1}"
            )
            self.model.stop_training = True

    def record(self, epoch: int, row: dict[str, Any]) -> None:
        """Write everything for a finished epoch; state.json last, so a failure part-way leaves
        the previous epoch as the one a resume starts from."""
        checkpoint = self.run.checkpoint(epoch + 1)
        self.run.save_model(self.model, checkpoint)  # raw weights and optimizer state: resumable
        value = row.get(self.monitor)
        improved = value is not None and (
            self.best.get("value") is None
            or (
                value < self.best["value"] if "loss" in self.monitor else value > self.best["value"]
            )
        )
        best = dict(self.best)
        with self.average.applied():  # the saved models hold the averaged weights, if any
            self.run.save_model(self.inner, self.run.last_model)
            if improved:
                self.run.save_model(self.inner, self.run.best_model)
        if improved:
            best.update({"value": value, "epoch": epoch + 1, "metrics": dict(row)})
        history = [*self.history, row]
        self.run.write_history(history)
        self.run.write_json("metrics.json", metrics_record(history, best, "running", self.monitor))
        plot_curves(self.run.path / "curves.png", history)
        self.run.write_json(
            "state.json",
            {
                "epoch": epoch + 1,
                "checkpoint": checkpoint.name,
                # what the checkpoint's optimizer has counted (mixed precision skips a step
                # whose gradients overflow), for the resume to check against
                "optimizer_steps": optimizer_steps(self.model),
                "best": best,
                "monitor": self.monitor,
            },
        )
        self.history.append(row)
        self.best.update(best)
        self.run.prune_checkpoints(keep=checkpoint)


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


def optimizer_steps(trainer: keras.Model) -> int:
    """The steps the optimizer has taken (the schedule's position)."""
    return int(keras.ops.convert_to_numpy(unwrapped(trainer.optimizer).iterations))


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


def _reached(row: dict[str, Any], metric: str, value: float) -> bool:
    if metric not in row:
        return False
    return row[metric] <= value if "loss" in metric else row[metric] >= value


def metrics_record(history: list[dict], best: dict, status: str, monitor: str) -> dict[str, Any]:
    last = history[-1] if history else {}
    seconds = sum(row["seconds"] for row in history)
    return {
        "status": status,
        "epochs": len(history),
        "monitor": monitor,
        "best_epoch": best.get("epoch"),
        "best": best.get("metrics", {}),
        "last": last,
        "seconds": round(seconds, 1),
        "images_per_second": round(
            sum(row["images_per_second"] * row["seconds"] for row in history) / seconds, 1
        ) if seconds else None,
    }  # fmt: skip


def plot_curves(path: Path, history: list[dict[str, Any]]) -> None:
    """Loss and every metric against epoch, training and validation, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .files import atomic_output

    names = [
        key
        for key in history[0]
        if key not in ("epoch", "lr", "seconds", "images_per_second") and not key.startswith("val_")
    ]
    figure, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.6), squeeze=False)
    epochs = [row["epoch"] for row in history]
    for axis, name in zip(axes[0], names, strict=True):
        axis.plot(epochs, [row[name] for row in history], marker="o", label="training")
        if f"val_{name}" in history[0]:
            axis.plot(
                epochs, [row[f"val_{name}"] for row in history], marker="o", label="validation"
            )
        axis.set_xlabel("epoch")
        axis.set_title(name)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    with atomic_output(path) as temporary:
        figure.savefig(temporary, dpi=90, format="png")
    plt.close(figure)


# -- the run --------------------------------------------------------------------------------------


def train(
    spec_source: str | Path | None, options: TrainOptions, console: Any, output: str = "plain"
) -> TrainResult:
    """Train a spec (or resume a run) and return where it went and how it ended.

    ``output`` is how progress is reported on ``console``: ``"live"`` (a progress bar, for a
    terminal), ``"plain"`` (a line per epoch) or ``"json"`` (a JSON object per line).

    Raises:
        SpecError, SpecErrors: the spec, or its train: settings, are invalid.
        DataError: the data cannot be loaded or does not fit the model.
        RunError: the run directory cannot be created, resumed or locked.
    """
    if options.resume is not None:
        return _resume(options.resume, options, console, output)
    if spec_source is None:
        raise TrainError("give a SPEC to train, or --resume RUN_DIR")
    spec = load_spec(spec_source, options.overrides)
    settings = spec.train
    if options.epochs is not None or options.batch_size is not None:
        settings = replace(
            settings,
            epochs=options.epochs or settings.epochs,
            batch_size=options.batch_size or settings.batch_size,
        )
    spec = replace(spec, train=settings)
    plan = validate(spec)
    source = resolve_source(
        options.data, spec.data.source, spec.file, spec.data.locations.get("source")
    )
    augment = bool(plan.augment) if options.augment is None else options.augment
    if augment and not plan.augment:
        raise TrainError(
            "--augment was given but the spec has no 'augment:' list; add one (see docs/training.md)"
        )
    document = resolved_document(spec)
    document.setdefault("train", {})
    document["train"].update({"epochs": settings.epochs, "batch_size": settings.batch_size})
    setup = {
        "source": str(Path(source).resolve()) if Path(source).exists() else source,
        "skip_bad_images": options.skip_bad_images or spec.data.on_bad_image == "skip",
        "resize": options.resize or spec.data.resize,
        "augment": augment,
        "precision": options.precision or "auto",
        # decided once: a resume loads the optimizer under the same policy, whatever the device
        "mixed_precision": _mixed(options.precision or "auto"),
        "strategy": options.strategy,
        "allow_large": options.allow_large,
        # the epochs the learning-rate schedule and early dropout are laid out over; a resume
        # with another --epochs keeps both as they were
        "schedule_epochs": settings.epochs,
        # the last epoch with dropout under early_dropout; null: the dropout layers act in every
        # epoch, a resume's added ones too
        "dropout_until": dropout_epochs(settings),
    }
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
        from .files import write_text_atomically

        write_text_atomically(
            run.path / "spec.yaml", header + "\n" + yaml.safe_dump(document, sort_keys=False)
        )
        run.write_json("setup.json", setup)
        return _fit(run, plan, setup, 0, [], {}, None, console, output)
    except Exception:
        # stopped before any epoch finished (the data does not fit the model, or an error of
        # ours): leave no half-made run behind, so the same --out works once it is fixed
        if not (run.path / "state.json").exists():
            run.unlock()
            run.discard(keep_folder=existed)
        raise
    finally:
        run.unlock()


def _resume(path: Path, options: TrainOptions, console: Any, output: str) -> TrainResult:
    given = {"--data": options.data, "--batch-size": options.batch_size,
             "--augment/--no-augment": options.augment, "--out": options.out,
             "--precision": options.precision, "--strategy": options.strategy,
             "--skip-bad-images": options.skip_bad_images or None,
             "--resize": options.resize or None, "--allow-large": options.allow_large or None}  # fmt: skip
    changed = [name for name, value in given.items() if value is not None]
    if changed or options.overrides:
        raise TrainError(
            f"a resumed run keeps its spec, data, batch size, augmentation, precision and "
            f"strategy; only --epochs may change (received "
            f"{', '.join(changed + [f'--set {o}' for o in options.overrides])})"
        )
    run = RunDir.open(path)
    run.lock()
    try:
        state = run.read_json("state.json")
        setup = run.read_json("setup.json")
        spec = load_spec(run.path / "spec.yaml")
        epochs = options.epochs or spec.train.epochs
        if state["epoch"] >= epochs:
            raise TrainError(
                f"the run has already finished {state['epoch']} epochs; resume with --epochs N "
                f"above {state['epoch']} to train on"
            )
        if epochs != spec.train.epochs:
            _record_epochs(run, epochs)  # so a later resume knows the new target
            spec = replace(spec, train=replace(spec.train, epochs=epochs))
        plan = validate(spec)
        history = run.read_history()[: state["epoch"]]
        checkpoint = run.checkpoints / state["checkpoint"]
        return _fit(
            run,
            plan,
            setup,
            state["epoch"],
            history,
            dict(state["best"]),
            checkpoint,
            console,
            output,
            checkpoint_steps=state.get("optimizer_steps"),
        )
    finally:
        run.unlock()


def _record_epochs(run: RunDir, epochs: int) -> None:
    from .files import write_text_atomically

    text = (run.path / "spec.yaml").read_text(encoding="utf-8")
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    document = yaml.safe_load(text)
    document.setdefault("train", {})["epochs"] = epochs
    write_text_atomically(
        run.path / "spec.yaml", header + yaml.safe_dump(document, sort_keys=False)
    )


def _mixed(precision: str) -> bool:
    """Whether a run trains under mixed float16: ``mixed``, or ``auto`` with a GPU present."""
    return precision == "mixed" or (precision == "auto" and bool(device_names()))


@contextlib.contextmanager
def dtype_policy(name: str | None) -> Iterator[None]:
    """Keras's global dtype policy set to ``name`` (when given) while models are made or loaded,
    and put back after, so a run in this process leaves the next one as it found it."""
    previous = keras.mixed_precision.global_policy()
    if name is not None:
        keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _fit(run: RunDir, plan: Plan, setup: dict[str, Any], initial_epoch: int,
         history: list[dict[str, Any]], best: dict[str, Any], checkpoint: Path | None,
         console: Any, output: str, checkpoint_steps: int | None = None) -> TrainResult:  # fmt: skip
    spec, settings = plan.spec, plan.spec.train
    gpus = device_names()
    device = f"GPU ({', '.join(gpus)})" if gpus else f"CPU ({os.cpu_count()} cores)"
    strategy = setup.get("strategy")
    if strategy:
        replicas = replica_count(strategy)
        device += f", {strategy} strategy over {replicas} replica{'s' * (replicas != 1)}"
    shape = tuple(spec.input.shape)
    mixed = setup.get("mixed_precision")
    if mixed is None:  # a run from before the decision was recorded
        mixed = _mixed(setup["precision"])
    with dtype_policy("mixed_float16" if mixed else None), distribution_scope(strategy):
        if checkpoint is None:
            keras.utils.set_random_seed(settings.seed)  # the initial weights, as `seed` promises
            model = build(plan, allow_large=setup.get("allow_large", False))
            # a loss that cannot take what the model outputs is refused before any data loads
            ends = model_output(model)
            loss = make_loss(settings, ends)
        else:
            trainer = keras.saving.load_model(checkpoint)
            model = trainer.get_layer(spec.name)
            _check_restored(trainer, checkpoint, checkpoint_steps)
            ends, loss = model_output(model), trainer.loss
            _check_restored_loss(loss, ends)
        dataset = load_dataset(setup["source"], spec.input.shape, skip_bad=setup["skip_bad_images"],
                               resize=setup["resize"])  # fmt: skip
        train_index, val_index = split(dataset, settings.validation_split, settings.seed)
        steps = math.ceil(len(train_index) / settings.batch_size)
        if checkpoint is None:
            _check_fit(plan, model, dataset)
            if settings.batchnorm_momentum is not None:
                set_batchnorm_momentum(model, settings.batchnorm_momentum)
            trainer = training_model(model, plan, spec.data.normalize, setup["augment"])
            trainer.compile(
                optimizer=make_optimizer(settings, steps),
                loss=loss,
                metrics=make_metrics(settings),
                jit_compile="auto" if gpus else False,
            )
    if checkpoint is None:
        setup.update(loss=loss_description(loss, ends), from_logits=_from_logits(loss))
        run.write_json("setup.json", setup)
        run.write_json("environment.json", {**environment(), "device": device,
                       "class_names": list(dataset.class_names), "skipped_images": list(dataset.skipped)})  # fmt: skip
    x_train = prepare_inputs(dataset.x[train_index], shape)
    y_train = keras.utils.to_categorical(dataset.y[train_index], len(dataset.class_names))
    batches = EpochBatches(x_train, y_train.astype("float32"), settings.batch_size, settings.seed,
                           initial_epoch)  # fmt: skip
    validation = None
    if len(val_index):
        validation = (
            prepare_inputs(dataset.x[val_index], shape),
            keras.utils.to_categorical(dataset.y[val_index], len(dataset.class_names)),
        )
    skip_weight_decay(trainer.optimizer, trainer, settings.no_decay)
    monitor = settings.monitor if validation is not None else settings.monitor.removeprefix("val_")
    _check_target(settings, validation is not None)
    laid_out = setup.get("schedule_epochs", settings.epochs)
    until, dropouts = dropout_epochs(replace(settings, epochs=laid_out)), dropout_layers(model)
    early = until is not None and until < settings.epochs  # dropout switched off after `until`
    scheduled = settings.schedule is not None and settings.schedule.name != "constant"
    reporter = (
        LiveProgress(console, settings.epochs, steps, settings.batch_size)
        if output == "live"
        else JsonProgress(console, settings.epochs)
        if output == "json"
        else PlainProgress(console, settings.epochs)
    )
    reporter.start(
        {
            "spec": spec.name,
            "run": str(run.path),
            "device": device,
            "backend": keras.backend.backend(),
            "train_images": len(train_index),
            "validation_images": len(val_index),
            "classes": len(dataset.class_names),
            "skipped_images": len(dataset.skipped),
            "batch_size": settings.batch_size,
            "first_epoch": initial_epoch + 1,
            "epochs": settings.epochs,
            "augment": bool(setup["augment"]),
            "dropout_until": until if early else None,
            "dropout_layers": len(dropouts),
            "schedule_epochs": laid_out if scheduled else None,
            "loss": loss_description(loss, ends),
            "from_logits": _from_logits(loss),
        }
    )
    average = MovingAverage(enabled=bool(unwrapped(trainer.optimizer).use_ema))
    recorder = Recorder(run, model, settings.epochs, monitor, len(train_index), history, best,
                        reporter, average, settings.target)  # fmt: skip
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
        labels = dataset.y[val_index]
        callbacks.append(FlipValidation(validation[0], labels, settings.batch_size, average, ends))
    callbacks += [reporter, recorder]
    if keras.backend.backend() == "tensorflow":
        callbacks.append(
            keras.callbacks.TensorBoard(log_dir=str(run.tensorboard), write_graph=False)
        )
    status = "finished"
    try:
        trainer.fit(
            batches, steps_per_epoch=steps, epochs=settings.epochs, initial_epoch=initial_epoch,
            validation_data=validation, validation_batch_size=settings.batch_size,
            callbacks=callbacks, verbose=0, shuffle=False,
        )  # fmt: skip
    except KeyboardInterrupt:
        status = "interrupted"
    if "stopped" in best:
        status = "failed"
    elif "reached" in best:
        status = "reached target"
    try:
        run.write_json(
            "metrics.json",
            metrics_record(
                history, {k: v for k, v in best.items() if k != "stopped"}, status, monitor
            ),
        )
    except OSError as error:  # the run is still resumable from state.json
        print(f"warning: could not update metrics.json: {error}", file=sys.stderr)
    return TrainResult(run, len(history), status, best)


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
