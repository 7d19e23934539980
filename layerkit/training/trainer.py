"""The model side of a run: the spec's model, its training wrapper and its loss.

Takes a validated plan and either builds the model new (then compiles it in its training
wrapper once the data is known) or restores the training model of a run's checkpoint, checked
to carry its optimizer state and a loss that matches the model's last layer. Gives a
:class:`Trainer`; :class:`RunData` is the run's data, split, as the fit consumes it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import keras

from ..data.dataset import Dataset
from ..errors import SpecError, TrainError
from ..model.compiler import build
from ..runs.directory import RunDir
from ..runs.records import RunSetup, RunState
from ..spec.plan import Plan
from .batches import EpochBatches, ValidationBatches
from .callbacks import optimizer_steps
from .distributed import Share, share
from .initialization import initialize, whitening_problem, whitening_sample
from .model import check_fit, prepare_inputs, training_model
from .optimizers import make_optimizer
from .recipe import (
    ModelOutput,
    loss_description,
    make_loss,
    make_metrics,
    model_output,
    set_batchnorm_momentum,
)
from .runtime import device_names


@dataclass(frozen=True)
class Trainer:
    """The spec's model, the training model around it (None until it is compiled), and its
    loss."""

    model: keras.Model
    trainer: keras.Model | None
    ends: ModelOutput
    loss: Any


@dataclass(frozen=True)
class RunData:
    """The run's data, split, as batches for training and arrays for validation."""

    dataset: Dataset
    train_index: Any
    val_index: Any
    steps: int  # per epoch

    def batches(self, shape: tuple, batch_size: int, seed: int, first_epoch: int,
                share: Share, alternate_flips: bool = False) -> EpochBatches:  # fmt: skip
        dataset = self.dataset
        x_train = prepare_inputs(dataset.x[self.train_index], shape)
        y_train = keras.utils.to_categorical(dataset.y[self.train_index], len(dataset.class_names))
        return EpochBatches(x_train, y_train.astype("float32"), batch_size, seed, first_epoch,
                            share, alternate_flips)  # fmt: skip

    def validation(self, shape: tuple) -> tuple[Any, Any] | None:
        if not len(self.val_index):
            return None
        dataset = self.dataset
        return (
            prepare_inputs(dataset.x[self.val_index], shape),
            keras.utils.to_categorical(dataset.y[self.val_index], len(dataset.class_names)),
        )

    def validation_batches(self, shape: tuple, batch_size: int, share: Share) -> Any:
        """What ``fit`` validates on: the arrays, or under data-parallel each process's slice of
        every batch (:class:`~layerkit.training.batches.ValidationBatches`)."""
        arrays = self.validation(shape)
        if arrays is None or share == Share():
            return arrays
        return ValidationBatches(*arrays, batch_size, share)


def build_trainer(plan: Plan, setup: RunSetup) -> Trainer:
    """The spec's model, new, with its loss; the training model is made once the data is in."""
    keras.utils.set_random_seed(plan.spec.train.seed)  # the initial weights, as `seed` promises
    model = build(plan, allow_large=setup.allow_large)
    # a loss that cannot take what the model outputs is refused before any data loads
    ends = model_output(model)
    return Trainer(model, None, ends, make_loss(plan.spec.train, ends))


def restore_trainer(plan: Plan, run: RunDir, state: RunState) -> Trainer:
    """The training model of the state's checkpoint, checked to have its optimizer state."""
    checkpoint = run.checkpoints / state.checkpoint
    trainer = keras.saving.load_model(checkpoint)
    model = trainer.get_layer(plan.spec.name)
    _check_restored(trainer, checkpoint, state.optimizer_steps)
    ends, loss = model_output(model), trainer.loss
    _check_restored_loss(loss, ends)
    return Trainer(model, trainer, ends, loss)


def compile_trainer(plan: Plan, setup: RunSetup, made: Trainer, data: RunData) -> Trainer:
    """The new model, initialised as ``train.init`` asks, in its training wrapper (scaling,
    augmentation), compiled."""
    settings, model = plan.spec.train, made.model
    check_fit(plan, model, data.dataset)
    if settings.batchnorm_momentum is not None:
        set_batchnorm_momentum(model, settings.batchnorm_momentum)
    if settings.init is not None:  # a new run only: a resumed one has its checkpoint's weights
        _check_whitening(plan, model)
        images = data.dataset.x[whitening_sample(data.train_index, settings.seed)]
        initialize(model, settings.init, images, plan.spec.data.normalize)
    trainer = training_model(model, plan, plan.spec.data.normalize, setup.augment)
    metrics = make_metrics(settings)
    # data-parallel validation fills its last batch with copies weighted 0, which only Keras's
    # weighted metrics leave out (batches.ValidationBatches); no other batch has weights
    weighted = share(setup.strategy) != Share()
    trainer.compile(
        optimizer=make_optimizer(settings, data.steps),
        loss=made.loss,
        metrics=None if weighted else metrics,
        weighted_metrics=metrics if weighted else None,
        jit_compile="auto" if device_names() else False,
    )
    return replace(made, trainer=trainer)


def _check_whitening(plan: Plan, model: keras.Model) -> None:
    settings = plan.spec.train
    problem = whitening_problem(model) if settings.init.whiten else None
    if problem is not None:
        raise SpecError(
            f"init.whiten sets the first conv2d from patches of the training images, but {problem}",
            settings.locations.get("init", plan.spec.inputs[0].location),
            "train.init.whiten",
            "Remove 'whiten: true'.",
        )


def from_logits(loss: Any) -> bool:
    """Whether ``loss`` takes logits rather than probabilities."""
    return bool(getattr(loss, "from_logits", False))


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


def _check_restored_loss(loss: Any, ends: ModelOutput) -> None:
    """A run begun before layerkit matched the loss to the model's last layer may train a
    cross-entropy on logits; it is not continued silently."""
    if ends.logits and "crossentropy" in type(loss).__name__.lower() and not from_logits(loss):
        raise TrainError(
            f"this run trains {loss_description(loss, ends)} on logits ({ends.reason}): it began "
            "before layerkit matched the loss to the last layer; train it anew"
        )
