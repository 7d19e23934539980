"""Where and how a run computes: its devices, its precision, and the record of the environment a run
started in. (Several devices or processes: :mod:`~layerkit.training.distributed`.)"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import sys
import time
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np

from ..errors import SpecError
from ..spec.plan import Plan
from ..version import __version__


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


def check_layout_runs(plan: Plan) -> None:
    """TensorFlow has channels_first (NCHW) kernels for convolution and pooling on a GPU, and on
    a CPU only in some builds (through oneDNN): a model with such a layer on a CPU without them is
    refused at the layer's line before a run starts, instead of failing in its first step."""
    if keras.backend.backend() != "tensorflow" or device_names():
        return
    layer = next((node for node in plan.layers if not node.operation
                  and node.args.get("data_format") == "channels_first"
                  and _SPATIAL.search(node.class_name)), None)  # fmt: skip
    if layer is not None and not channels_first_runs():
        raise SpecError(
            f"{layer.class_name} has data_format: channels_first, which TensorFlow computes on a "
            "GPU but not on this CPU (its kernels here take channels_last only)",
            layer.location,
            layer.path,
            "Use channels_last (the default: drop data_format, input [height, width, channels]), "
            "or train on a GPU, or under KERAS_BACKEND=jax.",
        )


def channels_first_runs() -> bool:
    """Whether TensorFlow computes a channels_first (NCHW) convolution here (one of 1x1)."""
    import tensorflow as tf

    try:
        tf.nn.conv2d(tf.zeros((1, 1, 2, 2)), tf.zeros((1, 1, 1, 1)), 1, "SAME", data_format="NCHW")
    except (tf.errors.UnimplementedError, tf.errors.InvalidArgumentError):
        return False
    return True


_SPATIAL = re.compile(r"^(?!Global).*(Conv|Pooling)")


def wants_mixed_precision(precision: str) -> bool:
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
