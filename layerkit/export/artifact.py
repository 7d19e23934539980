"""The model a deployer gets, and writing it: a trained model and its input scaling in; a Keras
model that takes raw pixels and gives class probabilities, what it expects (``NAME.preprocessing.json``)
and the artifact written through Keras's own ``model.export`` out.

The deployable model is the trained model behind the very layers training put in front of it
(:func:`layerkit.training.model.input_scaling`: ``(x * scale + offset - mean) / std``), so it
takes float32 pixels 0–255 in the model's own layout, (batch, height, width, channels) or, for a
model with ``channels_first`` layers, (batch, channels, height, width); where the model ends in
logits a softmax is added, so every artifact gives probabilities. An artifact is written under a temporary
name beside its destination and takes its name only when whole (:func:`.staging.staged`): a failed export
leaves nothing behind, and an existing artifact is replaced only when asked.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import keras
import numpy as np

from ..errors import one_line
from ..spec.settings import Normalize
from ..training.evaluate import Trained
from ..training.model import channel_axis, input_scaling
from ..training.recipe import model_output
from .formats import ExportError, Format

INPUT_NAME = "images"
_RESIZED = "bilinear (Pillow), as layerkit resized the training images: resize to this first"
_NOT_RESIZED = "none: the model was trained on images of exactly this size; give it that size"
CHANNELS = {1: "grey (L)", 3: "RGB", 4: "RGBA"}


def deployable_model(trained: Trained) -> tuple[keras.Model, bool]:
    """The trained model behind its input scaling, ending in probabilities, called once (Keras
    exports only a model that has been called); and whether a softmax was added."""
    model = trained.model
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ExportError(
            f"layerkit export handles models with one input and one output; '{model.name}' has "
            f"{len(model.inputs)} and {len(model.outputs)}"
        )
    shape = tuple(model.inputs[0].shape[1:])
    if any(size is None for size in shape):
        raise ExportError(
            f"the model's input {shape} has a free size; export a model with a fixed input size"
        )
    inputs = keras.Input(shape=shape, dtype="float32", name=INPUT_NAME)
    x = inputs
    for layer in input_scaling(trained.normalize, shape, channel_axis(model)):
        x = layer(x)
    x = model(x)
    logits = model_output(model).logits
    if logits:
        x = keras.layers.Softmax(name="probabilities")(x)
    deployable = keras.Model(inputs, x, name=f"{model.name}_deployable")
    deployable(np.zeros((1, *shape), "float32"))
    return deployable, logits


def scaling_text(normalize: Normalize) -> str:
    """The built-in scaling in words: ``x * 1/255``, ``(x * 1/255 - mean) / std``."""
    scale = "1/255" if abs(normalize.scale - 1 / 255) < 1e-12 else f"{normalize.scale:g}"
    text = f"x * {scale}" + (f" + {normalize.offset:g}" if normalize.offset else "")
    if normalize.mean is not None or normalize.std is not None:
        text = f"({text} - mean) / std"
    return text


def preprocessing(trained: Trained, softmax_added: bool, resize: bool) -> dict[str, Any]:
    """What the exported model takes and gives, for its ``NAME.preprocessing.json``: the same for every
    format of one trained model."""
    shape = [int(size) for size in trained.model.inputs[0].shape[1:]]
    normalize = trained.normalize
    image = len(shape) == 3
    first = channel_axis(trained.model) == 1
    channels, size = (shape[0], shape[1:]) if first else (shape[-1], shape[:2])
    layout = ("NCHW (batch, channels, height, width)" if first
              else "NHWC (batch, height, width, channels)")  # fmt: skip
    return {
        "input": {
            "name": INPUT_NAME,
            "shape": [None, *shape],
            "layout": layout if image else "batch first",
            "dtype": "float32",
            "value_range": [0, 255],
            "channels": CHANNELS.get(channels) if image else None,
            "note": "raw pixel values as read from image files (uint8 converted to float32, "
            "not scaled): the scaling below is built into the model",
        },
        "built_in": {
            "scaling": scaling_text(normalize),
            "scale": normalize.scale,
            "offset": normalize.offset,
            "mean": list(normalize.mean) if normalize.mean is not None else None,
            "std": list(normalize.std) if normalize.std is not None else None,
            # a .keras file outside its run does not record how its inputs were scaled
            "assumed": trained.run is None,
        },
        "resize": {
            "built_in": False,
            "to": size if image else None,
            "method": _RESIZED if resize else _NOT_RESIZED,
        },
        "output": {
            "shape": [None, int(trained.model.outputs[0].shape[-1])],
            "meaning": "probabilities",
            "softmax_added": softmax_added,
            "note": "the model ends in logits; a softmax was added on export"
            if softmax_added
            else "the model's own last activation gives them",
        },
        "class_names": list(trained.class_names) if trained.class_names else None,
    }


@contextmanager
def quietly() -> Iterator[None]:
    """Converters and runtimes talk (TensorFlow's C++ log, tf2onnx's log, deprecation warnings)
    straight to the terminal: keep it off file descriptors 1 and 2 and out of the log while they
    work. Python exceptions still come through."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    logging.disable(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(logging.NOTSET)
        for descriptor, copy in zip((1, 2), saved, strict=True):
            os.dup2(copy, descriptor)
            os.close(copy)
        os.close(devnull)


def convert(model: keras.Model, path: Path, form: Format) -> None:
    """``model.export`` to ``path`` in ``form``; a converter's failure becomes one line naming the
    layer and the operation it failed on, where its message names them."""
    try:
        with quietly():
            model.export(str(path), format=form.keras_format, verbose=False)
    except Exception as error:  # each converter raises its own kinds
        raise ExportError(
            failure(
                model, error, f"does not convert to {form.label}", f"the {form.label} converter"
            )
        ) from None


# how converters name the operation they lack: the TFLite converter (MLIR), tf2onnx
_OPERATION = (
    r"'tf\.(\w+)' op is neither",
    r"Custom ops: (\w+)",
    r"[Uu]nsupported ops?: [^']*'(\w+)'",
    r"op \[[^\]]*: (\w+)\] is not supported",
    r"No Op registered for (\w+)",
)


def failure(model: keras.Model, error: BaseException, what: str, lacking: str) -> str:
    """The one line for a model a converter (or a runtime) refused: the layer, the operation that
    ``lacking`` (the converter, the runtime) does not have, what to do; the error itself where it
    names neither."""
    message = str(error)
    layer = failing_layer(model, message)
    where = f"the layer '{layer.name}' ({type(layer).__name__})" if layer else "the model"
    for pattern in _OPERATION:
        found = re.search(pattern, message)
        if found:
            why = f"{lacking} has no operation {found.group(1)}"
            break
    else:
        why = one_line(error, 200)
    return (
        f"{where} {what}: {why}; export to another format, or use another layer (or layer "
        "setting) in the spec"
    )


def all_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every layer of ``model``, those of nested models included."""
    found = []
    for layer in model.layers:
        found.append(layer)
        if isinstance(layer, keras.Model):
            found += all_layers(layer)
    return found


def failing_layer(model: keras.Model, message: str) -> keras.layers.Layer | None:
    """The layer a converter's message names: as a part of an operation's path
    (``functional_1/resizing_1/resize/…``, where tracing may have numbered it), else as a word;
    the longest name first, so ``conv2d_1`` wins over ``conv2d``. None when none is named."""
    kinds = (keras.Model, keras.layers.InputLayer)
    layers = [layer for layer in all_layers(model) if not isinstance(layer, kinds)]
    layers.sort(key=lambda layer: -len(layer.name))
    for pattern in (r"/{}(?:_\d+)?/", r"(?<![\w]){}(?![\w])"):
        for layer in layers:
            if re.search(pattern.format(re.escape(layer.name)), message):
                return layer
    return None


def size_of(path: Path) -> int:
    """Bytes in the file, or in every file under the folder."""
    if path.is_file():
        return path.stat().st_size
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())
