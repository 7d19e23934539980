"""Checking an exported artifact: the artifact, real images and the Keras model's probabilities
for them in; the artifact's own probabilities, computed by its own runtime — TensorFlow's
``tf.saved_model.load`` serving signature, an onnxruntime ``InferenceSession``, the LiteRT
``Interpreter`` — and how far they agree with the Keras model's out (:class:`Agreement`).

The artifact is fed raw pixels (float32, 0–255), as a deployer would; the Keras side is layerkit's
own ``predict`` path (the run's scaling applied, then the model, softmaxed where it ends in
logits). They agree when every image's top-1 class is the same and no probability differs by more
than the format's tolerance. An image whose two best classes the Keras model scores within the
tolerance of each other is a near-tie: its top-1 may differ without the artifact being wrong.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from .artifact import INPUT_NAME, failure, quietly
from .formats import ExportError, Format

BATCH = 64


@dataclass(frozen=True)
class Agreement:
    """How an artifact's probabilities compare with the Keras model's on the same images."""

    images: int
    description: str  # where the images came from
    agree: int  # images whose top-1 class is the same
    near_ties: int  # of the others, those the Keras model scores as a tie within the tolerance
    max_difference: float  # the largest |probability difference|, over every image and class
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.agree + self.near_ties == self.images and self.max_difference <= self.tolerance

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def compare(keras_p: np.ndarray, artifact_p: np.ndarray, tolerance: float,
            description: str) -> Agreement:  # fmt: skip
    """Top-1 agreement and the largest probability difference of two (images, classes) arrays."""
    if artifact_p.shape != keras_p.shape:
        raise ExportError(
            f"the exported model gives outputs of shape {artifact_p.shape}, the Keras model "
            f"{keras_p.shape}; report it"
        )
    ours, theirs = keras_p.argmax(axis=1), artifact_p.argmax(axis=1)
    rows = np.arange(len(ours))
    differ = ours != theirs
    tie = keras_p[rows, ours] - keras_p[rows, theirs] <= tolerance
    return Agreement(
        images=len(ours),
        description=description,
        agree=int((~differ).sum()),
        near_ties=int((differ & tie).sum()),
        max_difference=float(np.abs(keras_p - artifact_p).max()) if len(ours) else 0.0,
        tolerance=tolerance,
    )


def run_artifact(path: Path, form: Format, pixels: np.ndarray, model: keras.Model) -> np.ndarray:
    """The artifact's outputs for ``pixels`` (float32 0–255, batch first), by its own runtime;
    a runtime that cannot load or run it is one line, naming the layer of ``model`` (the model
    exported) it fails on where it can."""
    runners = {"savedmodel": _saved_model, "onnx": _onnx, "tflite": _tflite}
    x = pixels.astype("float32")
    try:
        with quietly():
            predict = runners[form.name](path)
            return np.concatenate([predict(x[i : i + BATCH]) for i in range(0, len(x), BATCH)])
    except ExportError:
        raise
    except Exception as error:  # each runtime raises its own kinds
        what = f"converts to {form.label} but does not run in {form.runtime} (nothing written)"
        raise ExportError(failure(model, error, what, form.runtime)) from None


def _saved_model(path: Path) -> Any:
    import tensorflow as tf

    serve = tf.saved_model.load(str(path)).signatures["serving_default"]

    def predict(x: np.ndarray) -> np.ndarray:
        (output,) = serve(**{INPUT_NAME: tf.constant(x)}).values()
        return output.numpy()

    return predict


def _onnx(path: Path) -> Any:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def predict(x: np.ndarray) -> np.ndarray:
        return session.run(None, {name: x})[0]

    return predict


def _tflite(path: Path) -> Any:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    details = interpreter.get_input_details()[0]
    output = interpreter.get_output_details()[0]["index"]

    def predict(x: np.ndarray) -> np.ndarray:
        interpreter.resize_tensor_input(details["index"], x.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(details["index"], x)
        interpreter.invoke()
        return np.array(interpreter.get_tensor(output))

    return predict
