"""Where and how a run computes: devices, data-parallel strategies, precision, and the record of
the environment a run started in."""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np

from .. import __version__
from ..errors import TrainError


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
CLUSTER_TIMEOUT = 60  # seconds a worker waits for the others to join (LAYERKIT_CLUSTER_TIMEOUT)


def resume_strategy(path: Path) -> str | None:
    """The strategy the run at ``path`` trains with (its setup.json), read without TensorFlow so
    that :func:`start_strategy` can make it first; None where it cannot be read (resuming says
    why, at its turn)."""
    from ..errors import LayerkitError
    from ..runs.directory import RunDir

    try:
        return RunDir.open(path).read_setup().strategy
    except (LayerkitError, OSError):
        return None


def start_strategy(name: str | None) -> None:
    """Create the distribution strategy now, at the program's start, before anything touches
    TensorFlow's context: MultiWorkerMirroredStrategy configures collective ops, which TensorFlow
    accepts only before its context is initialised (a later start raised "Collective ops must be
    configured at program startup"). A worker whose peers do not join within
    ``LAYERKIT_CLUSTER_TIMEOUT`` seconds stops with one line instead of waiting for ever."""
    if name is None:
        return
    if name == "multi-worker" and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        seconds = int(os.environ.get("LAYERKIT_CLUSTER_TIMEOUT") or CLUSTER_TIMEOUT)
        # its default, 0, waits for ever for a peer that never comes (no public setting)
        tf.distribute.MultiWorkerMirroredStrategy._check_health_initial_timeout = seconds
        from .keras_multiworker import install

        install()  # Keras 3's fit fails with two workers without it (keras-team/keras#20585)
    _strategy(name)


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


def peer_lost(error: BaseException) -> bool:
    """Whether a multi-worker step failed because another worker stopped: TensorFlow aborts the
    collective ops of the others (UnavailableError) once the dead one misses its heartbeats."""
    import tensorflow as tf

    return isinstance(error, tf.errors.UnavailableError) or "Collective ops is aborted" in str(
        error
    )


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
