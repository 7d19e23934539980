"""Where and how a run computes: its devices, its precision, and the record of the environment a run
started in. (Several devices or processes: :mod:`~layerkit.training.distributed`.)"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import time
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np

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
