"""Lookahead on top of a run's optimizer (``train.lookahead``; Zhang et al., 2019, and with
``ramp`` airbench's form of it): a second, slow copy of the trained weights that every ``every`` optimizer steps moves
``alpha`` of the way towards the weights the optimizer trains (the fast ones), which then restart
from it. With ``ramp`` the fraction falls over the run, from 1 at its first step (the slow weights
follow the fast ones) to ``alpha`` at its last, as airbench's does.

Takes the spec's model and the ``train.lookahead`` setting; gives the layer that keeps the slow
weights inside the training wrapper (:class:`SlowWeights`: it passes its input through, and is
there so that the checkpoints save and restore the slow weights, and a resume is exact) and the
callback that updates them (:class:`LookaheadUpdate`). The saved models are the spec's own: they
hold the fast weights (their moving average, with ``train.ema``).
"""

from __future__ import annotations

from typing import Any

import keras

from ..spec.settings import Lookahead
from .optimizers import unwrapped

LAYER_NAME = "lookahead_slow_weights"


@keras.saving.register_keras_serializable(package="layerkit")
class SlowWeights(keras.layers.Layer):
    """Lookahead's slow weights, one non-trainable variable per trainable weight of the model it
    follows (``shapes``, in the order of ``model.trainable_weights``). Its call passes its input
    through: it sits in the training wrapper only so that checkpoints hold the slow weights."""

    def __init__(self, shapes: list[list[int]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shapes = [list(shape) for shape in shapes]

    def build(self, input_shape: Any) -> None:
        self.slow = [
            self.add_weight(
                shape=tuple(shape), initializer="zeros", trainable=False, name=f"slow_{index}"
            )
            for index, shape in enumerate(self.shapes)
        ]

    def call(self, inputs: Any) -> Any:
        return inputs

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "shapes": self.shapes}


def slow_weights_layer(model: keras.Model) -> SlowWeights:
    """A new :class:`SlowWeights` for the trainable weights of ``model``."""
    return SlowWeights([list(weight.shape) for weight in model.trainable_weights], name=LAYER_NAME)


class LookaheadUpdate(keras.callbacks.Callback):
    """After every ``every``-th optimizer step (counted over the whole run, so a resumed run
    updates at the steps the uninterrupted one did): slow += alpha × (fast − slow), then fast =
    slow, alpha as ``setting.fraction`` gives it for that step of a run of ``steps`` (its
    schedule's length, which a resume with more epochs keeps). A new run starts the slow weights
    at the initial weights; a resumed one has them from its checkpoint."""

    def __init__(self, model: keras.Model, slow: SlowWeights, setting: Lookahead,
                 steps: int) -> None:  # fmt: skip
        super().__init__()
        self.fast = list(model.trainable_weights)
        self.slow = slow
        self.every = setting.every
        self.setting = setting
        self.total = steps
        self.count = 0  # at least the optimizer's steps so far (see on_train_batch_end)
        if [list(weight.shape) for weight in self.fast] != slow.shapes:
            raise ValueError("the slow weights do not match the model's trainable weights")

    def steps(self) -> int:
        optimizer = unwrapped(self.model.optimizer)
        return int(keras.ops.convert_to_numpy(optimizer.iterations))

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.count = self.steps()
        if self.count == 0:  # a new run: the slow weights start where the fast ones do
            for fast, slow in zip(self.fast, self.slow.slow, strict=True):
                slow.assign(keras.ops.copy(fast))  # a buffer of its own (JAX donates each one)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        # Reading the optimizer's step count waits for the step to finish, so it is read only
        # where a count of batches reaches a multiple of `every`. The count is never below the
        # steps: a step that a mixed-precision loss scale skips is no step, and then the count is
        # set back to the steps and reaches the multiple again, as the steps do.
        self.count += 1
        if self.count % self.every:
            return
        self.count = self.steps()
        if self.count % self.every == 0:
            self.update(self.setting.fraction(self.count, self.total))

    def update(self, alpha: float) -> None:
        """slow += alpha × (fast − slow); fast = slow."""
        for fast, slow in zip(self.fast, self.slow.slow, strict=True):
            moved = slow + alpha * (keras.ops.cast(fast, slow.dtype) - slow)
            slow.assign(moved)
            fast.assign(keras.ops.copy(keras.ops.cast(moved, fast.dtype)))
