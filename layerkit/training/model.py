"""The model a run trains: the spec's model behind input scaling and augmentation (and, with
``train.lookahead``, the layer that keeps its slow weights), and the checks that it fits the data. The saved models are the spec's own, without the wrapper."""

from __future__ import annotations

import keras
import numpy as np

from ..data.dataset import Dataset, check_samples
from ..errors import SpecError, TrainError, listed
from ..model.compiler import make_layer
from ..spec.plan import Plan
from ..spec.settings import Normalize
from .lookahead import slow_weights_layer


def check_fit(plan: Plan, model: keras.Model, dataset: Dataset) -> None:
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
    """The spec's model behind input scaling and (when asked) the augmentation layers, made from
    the registry the plan was validated (and the model built) with."""
    inputs = keras.Input(shape=model.inputs[0].shape[1:], name="images")
    x = inputs
    for layer in input_scaling(normalize, model.inputs[0].shape[1:], channel_axis(model)):
        x = layer(x)
    if augment:
        for index, layer in enumerate(plan.augment):
            x = make_layer(layer, plan.registry, f"augment_{index}")(x)
    if plan.spec.train.lookahead is not None:  # keeps Lookahead's slow weights in the checkpoints
        x = slow_weights_layer(model)(x)
    return keras.Model(inputs, model(x), name=f"{model.name}_training")


def channel_axis(model: keras.Model) -> int:
    """The axis of a sample's channels: 1 for a model with a ``channels_first`` layer (its
    samples are ``[channels, height, width]``), else the last."""
    first = any(getattr(layer, "data_format", None) == "channels_first" for layer in model.layers)
    return 1 if first else -1


def input_scaling(normalize: Normalize, shape: tuple[int | None, ...],
                  axis: int = -1) -> list[keras.layers.Layer]:  # fmt: skip
    """The layers that scale samples of ``shape`` (without the batch axis) before the spec's
    model, ``(x * scale + offset - mean) / std`` with a mean and std per channel of ``axis``
    (counted with the batch axis, as :func:`channel_axis` gives it): in front of the model in
    training, and applied to the samples that evaluate and predict give a trained model — one
    definition for both, so they cannot drift apart."""
    layers: list[keras.layers.Layer] = [
        keras.layers.Rescaling(normalize.scale, normalize.offset, name="scale")
    ]
    if normalize.mean is not None or normalize.std is not None:
        channels = (shape[axis - 1] if axis > 0 else shape[axis],)
        mean = np.broadcast_to(np.array(normalize.mean or 0.0, "float32"), channels)
        std = np.broadcast_to(np.array(normalize.std or 1.0, "float32"), channels)
        layers.append(keras.layers.Normalization(axis=axis, mean=mean, variance=std**2,
                                                 name="standardize"))  # fmt: skip
    return layers


def scale_inputs(x: np.ndarray, normalize: Normalize, shape: tuple[int, ...], axis: int = -1,
                 batch_size: int = 256) -> np.ndarray:  # fmt: skip
    """Samples in the model's input shape, scaled by :func:`input_scaling`'s layers."""
    scaling = keras.Sequential([keras.Input(shape), *input_scaling(normalize, shape, axis)])
    return scaling.predict(prepare_inputs(x, shape), batch_size=batch_size, verbose=0)
