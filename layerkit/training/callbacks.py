"""What happens around each epoch of a run, one concern per callback: the weight average, early
dropout, per-epoch random draws, flip TTA, and the recorder that writes the run directory."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np

from ..runs.directory import RunDir
from ..runs.records import Best, RunState, metrics_record
from .batches import derived_seed
from .control import Control
from .optimizers import learning_rate_at, unwrapped
from .progress import PlainProgress
from .recipe import ModelOutput, tta_probabilities


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
            state = derived_seed(self.seed, epoch, index)
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


class FlipValidation(keras.callbacks.Callback):
    """``train.tta: flip``: after each epoch, validation accuracy from the average of the
    probabilities for each image and its mirror image (and, with ``tta_translate``, its shifted
    views: :func:`~layerkit.training.recipe.tta_probabilities`), logged as ``val_accuracy_tta`` (a
    model that outputs logits has them softmaxed first, as ``layerkit evaluate --tta flip``
    does)."""

    def __init__(self, x: np.ndarray, labels: np.ndarray, batch_size: int, average: MovingAverage,
                 output: ModelOutput, translate: int = 0) -> None:  # fmt: skip
        super().__init__()
        self.x = x
        self.labels = labels
        self.batch_size = batch_size
        self.average = average
        self.output = output
        self.translate = translate

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        def predict(images: np.ndarray) -> np.ndarray:
            return self.model.predict(images, batch_size=self.batch_size, verbose=0)

        with self.average.applied():
            both = tta_probabilities(predict, self.x, self.output, self.translate)
        accuracy = float(np.mean(np.argmax(both, axis=-1) == self.labels))
        if logs is not None:
            logs["val_accuracy_tta"] = accuracy


class Recorder(keras.callbacks.Callback):
    """After every epoch: checkpoint, models, history, metrics, plot, then state.json last.

    It keeps the history and the best epoch so far, and why it stopped the run early, if it did:
    ``stopped`` (a loss that is not finite, a write that failed), ``reached`` (the target) or
    ``control.stopped`` (early stopping); ``control`` also counts the plateau schedule and sets
    the next epoch's rate, its counters written into state.json with each epoch."""

    def __init__(self, run: RunDir, inner: keras.Model, epochs: int, monitor: str,
                 train_count: int, history: list[dict[str, Any]], best: Best,
                 reporter: PlainProgress, average: MovingAverage | None = None,
                 target: tuple[str, float] | None = None,
                 control: Control | None = None) -> None:  # fmt: skip
        super().__init__()
        self.average = average or MovingAverage(enabled=False)
        self.target = target
        self.control = control
        self.run = run
        self.inner = inner
        self.epochs = epochs
        self.monitor = monitor
        self.train_count = train_count
        self.history = history
        self.best = best
        self.reporter = reporter
        self.started = 0.0
        self.stopped: str | None = None
        self.reached: str | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self.control is not None:
            self.control.start(self.model.optimizer)

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
            self.stopped = f"the loss became {row.get('loss')} at epoch {epoch + 1}"
            return  # keep the last good checkpoint; record nothing from this epoch
        try:
            self.record(epoch, row)
        except OSError as error:  # a full disk, a removed folder: keep the last good epoch
            self.model.stop_training = True
            where = f" {error.filename}" if error.filename else ""
            self.stopped = f"could not write{where}: {error.strerror or error}"
            return
        self.reporter.report(row)
        if self.target is not None and _reached(row, *self.target):
            metric, value = self.target
            self.reached = (
                f"{metric} {row[metric]:.4f} reached the target {value} at epoch {epoch + 1}"
            )
            self.model.stop_training = True

    def record(self, epoch: int, row: dict[str, Any]) -> None:
        """Write everything for a finished epoch, then state.json, which commits it: the epoch's
        models take their names only after it, so a failure or a kill part-way leaves the
        previous epoch as the one a resume starts from and model_best.keras the model of the
        best epoch state.json names (:meth:`RunDir.recover` drops what an abandoned epoch left).
        """
        checkpoint = self.run.checkpoint(epoch + 1)
        self.run.save_model(self.model, checkpoint)  # raw weights and optimizer state: resumable
        value = row.get(self.monitor)
        improved = self.best.improved_by(value, self.monitor)
        best = Best(value, epoch + 1, dict(row)) if improved else self.best
        with self.average.applied():  # the saved models hold the averaged weights, if any
            self.run.save_model(self.inner, self.run.epoch_model("last", epoch + 1))
            if improved:
                self.run.save_model(self.inner, self.run.epoch_model("best", epoch + 1))
        history = [*self.history, row]
        self.run.write_history(history)
        self.run.write_json("metrics.json", metrics_record(history, best, "running", self.monitor))
        plot_curves(self.run.path / "curves.png", history)
        control = self.control  # early stopping's and the plateau schedule's counters
        counted = control.count(epoch + 1, row) if control is not None else None
        counters = control.record(counted) if control is not None and counted else {}
        state = RunState(epoch + 1, checkpoint.name, best, self.monitor,
                         optimizer_steps(self.model), **counters)  # fmt: skip
        self.run.write_state(state)
        self.history.append(row)
        self.best = best
        if control is not None and counted is not None:
            control.commit(counted, self.model)  # the next epoch's rate; stop after this one?
        self.run.publish(state)
        self.run.prune_checkpoints(keep=checkpoint)


def optimizer_steps(trainer: keras.Model) -> int:
    """The steps the optimizer has taken (the schedule's position)."""
    return int(keras.ops.convert_to_numpy(unwrapped(trainer.optimizer).iterations))


def _reached(row: dict[str, Any], metric: str, value: float) -> bool:
    if metric not in row:
        return False
    return row[metric] <= value if "loss" in metric else row[metric] >= value


def plot_curves(path: Path, history: list[dict[str, Any]]) -> None:
    """Loss and every metric against epoch, training and validation, as a PNG (ticks on whole
    epochs)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from ..files import atomic_output

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
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole: no 1.5
        axis.set_title(name)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    with atomic_output(path) as temporary:
        figure.savefig(temporary, dpi=90, format="png")
    plt.close(figure)
