"""Turn a spec's ``train:`` settings into what the model side of training needs: the loss
(matched to whether the model ends in probabilities or logits), the metrics, batch-norm momentum
and early dropout, flip TTA's views and their average, and whether the batches flip images on
alternate epochs. Names are looked up in registries introspected from
Keras (any class, in CamelCase or snake_case), shared with
:mod:`~layerkit.training.optimizers`; an unknown name or a bad argument is a SpecError at its line
in the spec.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from ..catalog.layers import lookup_key, to_snake_case
from ..errors import SpecError, did_you_mean
from ..spec.plan import Plan
from ..spec.settings import Choice, TrainSettings


def keras_classes(module: Any, base: type) -> dict[str, type]:
    """Every public subclass of ``base`` in ``module``, by lookup key of its name."""
    found = {}
    for name in dir(module):
        value = getattr(module, name)
        if inspect.isclass(value) and issubclass(value, base) and value is not base:
            found[lookup_key(name)] = value
    return found


def make_named(
    choice: Choice, registry: dict[str, type], what: str, path: str, **extra: Any
) -> Any:
    """An instance of the class ``choice`` names in ``registry``, with its arguments and
    ``extra``; an unknown name or arguments Keras rejects are a SpecError at its line."""
    cls = registry.get(lookup_key(choice.name))
    if cls is None:
        names = sorted({to_snake_case(cls.__name__) for cls in registry.values()})
        raise SpecError(
            f"unknown {what} '{choice.name}'",
            choice.location,
            path,
            did_you_mean(choice.name, names) or f"Use one of: {', '.join(names)}.",
        )
    try:
        return cls(**{**choice.args, **extra})
    except (TypeError, ValueError) as error:
        raise SpecError(
            f"Keras rejected {what} {cls.__name__}({_args_text(choice.args)}): {error}",
            choice.location,
            path,
        ) from None


def _args_text(args: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in args.items())


def set_batchnorm_momentum(model: keras.Model, momentum: float) -> int:
    """Set ``momentum`` on every BatchNormalization layer, nested ones included; returns how many."""
    count = 0
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum
            count += 1
    return count


DROPOUT_LAYERS = (keras.layers.Dropout, keras.layers.GaussianDropout, keras.layers.AlphaDropout)


def dropout_epochs(settings: TrainSettings) -> int | None:
    """How many of the first epochs keep dropout on under ``train.early_dropout``: the fraction of
    ``epochs``, rounded up. None when the setting is absent: the dropout layers then act in every
    epoch, however many a resume adds."""
    if settings.early_dropout is None:
        return None
    return math.ceil(round(settings.early_dropout * settings.epochs, 6))


def dropout_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every dropout layer (Dropout, the SpatialDropout layers, Gaussian and Alpha dropout) in
    ``model``, nested ones included."""
    return [layer for layer in model._flatten_layers(include_self=False)
            if isinstance(layer, DROPOUT_LAYERS)]  # fmt: skip


# Activations whose outputs are probabilities, which a cross-entropy takes as they are; any other
# end (none, relu, log_softmax, ...) gives logits, which the cross-entropy must softmax first.
PROBABILITY_ACTIVATIONS = ("softmax", "sigmoid")
# Losses defined on raw scores: they take a last layer without softmax as it is.
SCORE_LOSSES = ("hinge", "squaredhinge", "categoricalhinge")


@dataclass(frozen=True)
class ModelOutput:
    """What a model's output holds, judged by the activation that ends it."""

    activation: str | None  # "softmax", "sigmoid", "relu", ...; None for a last layer without one
    layer: str  # the name of the layer that makes the output

    @property
    def logits(self) -> bool:
        """Whether the outputs are logits (unnormalized scores) rather than probabilities."""
        return self.activation not in PROBABILITY_ACTIVATIONS

    @property
    def reason(self) -> str:
        """Why the outputs are (or are not) logits, for messages."""
        if self.activation is None:
            return "the last layer has no softmax"
        if self.logits:
            return f"the last layer ends in {self.activation}, not softmax"
        return f"the last layer ends in {self.activation}"


def model_output(model: keras.Model) -> ModelOutput:
    """The activation that ends ``model``'s (first) output: the output layer's ``activation``,
    or a final ``Softmax``, ``Activation`` or ``ReLU``-like layer's; a nested model (the spec's
    model inside the training wrapper) is looked into."""
    layer = model.outputs[0]._keras_history.operation
    while isinstance(layer, keras.Model) and getattr(layer, "outputs", None):
        layer = layer.outputs[0]._keras_history.operation
    if isinstance(layer, keras.layers.Softmax):
        return ModelOutput("softmax", layer.name)
    activation = getattr(layer, "activation", None)
    if activation is None:  # a layer without one (pooling, normalization), or an activation layer
        kinds = (keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.ELU, keras.layers.PReLU)
        name = type(layer).__name__.lower() if isinstance(layer, kinds) else None
        return ModelOutput(name, layer.name)
    name = activation if isinstance(activation, str) else getattr(activation, "__name__", None)
    return ModelOutput(None if name in (None, "linear") else name, layer.name)


def as_probabilities(outputs: np.ndarray, output: ModelOutput) -> np.ndarray:
    """A model's outputs as probabilities: softmaxed where they are logits."""
    if not output.logits:
        return outputs
    shifted = np.exp(outputs - outputs.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def make_loss(settings: TrainSettings, output: ModelOutput | None = None) -> keras.losses.Loss:
    """Labels reach the loss one-hot, so cross-entropy is the categorical one (label smoothing
    needs it); ``crossentropy`` and ``sparse_categorical_crossentropy`` are taken to mean it.

    Where ``output`` says the model ends without softmax or sigmoid, the loss takes logits
    (``from_logits=True``); a loss that cannot is refused at the spec's ``train.loss`` line, and so
    is a ``from_logits`` in the spec that contradicts the model. Without ``output`` (before the
    model is built) the outputs are taken to be probabilities."""
    choice = settings.loss or Choice("categorical_crossentropy", {}, default_location())
    if lookup_key(choice.name) in ("crossentropy", "sparsecategoricalcrossentropy"):
        choice = Choice("categorical_crossentropy", choice.args, choice.location)
    registry = keras_classes(keras.losses, keras.losses.Loss)
    extra: dict[str, Any] = {}
    cls = registry.get(lookup_key(choice.name))
    if output is not None and cls is not None:
        extra.update(_logits_argument(cls, choice, output))
    if settings.label_smoothing:
        if cls is not None and "label_smoothing" not in inspect.signature(cls).parameters:
            raise SpecError(
                f"label_smoothing applies to cross-entropy losses; loss {cls.__name__} takes none",
                settings.locations.get("label_smoothing", choice.location),
                "train.label_smoothing",
                "Remove label_smoothing, or use categorical_crossentropy.",
            )
        extra["label_smoothing"] = settings.label_smoothing
    return make_named(choice, registry, "loss", "train.loss", **extra)


def _logits_argument(cls: type, choice: Choice, output: ModelOutput) -> dict[str, Any]:
    """``{"from_logits": True}`` for a model that outputs logits; nothing for one that outputs
    probabilities, or for a loss defined on raw scores (hinge)."""
    takes_logits = "from_logits" in inspect.signature(cls).parameters
    given = choice.args.get("from_logits")
    name = to_snake_case(cls.__name__)
    if given is not None and bool(given) != output.logits:
        state = "logits" if output.logits else "probabilities"
        raise SpecError(
            f"loss {name} has from_logits: {str(bool(given)).lower()}, but the model's outputs "
            f"are {state}: {output.reason} (layer {output.layer})",
            choice.location,
            "train.loss",
            "Remove from_logits: layerkit sets it from the model's last layer.",
        )
    if not output.logits or lookup_key(cls.__name__) in SCORE_LOSSES:
        return {}
    if not takes_logits:
        raise SpecError(
            f"loss {name} needs probabilities, but the model outputs logits: {output.reason} "
            f"(layer {output.layer})",
            choice.location,
            "train.loss",
            "Add activation: softmax to the last layer, or use categorical_crossentropy, which "
            "then takes the logits as they are.",
        )
    return {"from_logits": True}


def loss_description(loss: Any, output: ModelOutput) -> str:
    """``categorical_crossentropy``, or ``categorical_crossentropy (from logits: the last layer
    has no softmax)``: the loss a run trains with, for its start line and setup.json."""
    name = getattr(loss, "name", None) or to_snake_case(type(loss).__name__)
    if getattr(loss, "from_logits", False):
        return f"{name} (from logits: {output.reason})"
    return name


def make_metrics(settings: TrainSettings) -> list[Any]:
    metrics = []
    location = settings.locations.get("metrics", default_location())
    for name in settings.metrics:
        key = lookup_key(name)
        if key in ("accuracy", "acc"):
            metrics.append(keras.metrics.CategoricalAccuracy(name="accuracy"))
        elif key.startswith("top") and key[3:].isdigit():
            k = int(key[3:])
            metrics.append(keras.metrics.TopKCategoricalAccuracy(k=k, name=f"top{k}"))
        else:
            raise SpecError(
                f"unknown metric '{name}'",
                location,
                "train.metrics",
                did_you_mean(name, ["accuracy", "top5"]) or "Use accuracy or topK (e.g. top5).",
            )
    return metrics


def default_location() -> Any:
    """Where a setting the spec leaves out is said to be."""
    from ..errors import Location

    return Location("<defaults>", 1, 1)


def alternates_flips(plan: Plan, augment: bool) -> bool:
    """Whether the batches mirror images on alternate epochs: ``alternating_flip`` is in the
    ``augment:`` list and the run augments (see
    :class:`~layerkit.catalog.augmentations.AlternatingFlip`)."""
    return augment and any(layer.class_name == "AlternatingFlip" for layer in plan.augment)


def flips(shape: tuple[int | None, ...]) -> bool:
    """Whether flip TTA applies to inputs of this shape (batch axis left out): images, as
    ``(height, width)`` or ``(height, width, channels)``."""
    return len(shape) in (2, 3)


def mirrored(x: np.ndarray) -> np.ndarray:
    """A batch of images mirrored left to right (the width axis is the third of a batch)."""
    return x[:, :, ::-1]


def shifted(x: np.ndarray, pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """A batch of images shifted ``pixels`` down and right, and up and left (the border filled by
    reflection): the two translated views of :func:`tta_probabilities`."""
    pad = [(0, 0), (pixels, pixels), (pixels, pixels)] + [(0, 0)] * (x.ndim - 3)
    padded = np.pad(x, pad, mode="reflect")
    height, width = x.shape[1], x.shape[2]
    return padded[:, :height, :width], padded[:, 2 * pixels :, 2 * pixels :][:, :height, :width]


def tta_probabilities(predict: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                      output: ModelOutput, translate: int = 0) -> np.ndarray:  # fmt: skip
    """Flip TTA's class probabilities for a batch of images: the average of ``predict``'s for each
    image and its mirror image (softmaxed first where they are logits). With ``translate`` (as
    airbench's test-time augmentation) that average counts half, and the same average for the
    image shifted ``translate`` pixels down and right, and up and left, a quarter each: six views.
    """

    def with_mirror(images: np.ndarray) -> np.ndarray:
        plain = as_probabilities(predict(images), output)
        return (plain + as_probabilities(predict(mirrored(images)), output)) / 2

    average = with_mirror(x)
    if not translate:
        return average
    one, other = shifted(x, translate)
    return average / 2 + (with_mirror(one) + with_mirror(other)) / 4
