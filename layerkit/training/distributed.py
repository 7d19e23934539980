"""Training over several devices or processes: the ``--strategy`` a run trains with, made when the
program starts, and what each process then does with every batch.

Three strategies, one per engine's own way of going past one device:

* ``mirrored`` (TensorFlow): ``tf.distribute.MirroredStrategy`` over this machine's GPUs (or the
  CPU split into ``--cpu-replicas`` logical devices);
* ``multi-worker`` (TensorFlow): ``tf.distribute.MultiWorkerMirroredStrategy`` over the
  processes ``TF_CONFIG`` names. Every worker reads all the data; TensorFlow shards each global
  batch by data, so each worker computes its share of every batch;
* ``data-parallel`` (JAX): Keras's own distribution API, ``keras.distribution.DataParallel`` over
  every device — several processes when ``KERAS_DISTRIBUTION_JOB_ADDRESSES`` /
  ``_NUM_PROCESSES`` / ``_PROCESS_ID`` say so (``keras.distribution.initialize``). Each process
  feeds its own slice of every global batch (:class:`Share`).

The strategy must exist before anything touches the engine: TensorFlow configures collective ops
only before its context starts, and JAX fixes its devices when its backend starts. A worker whose
peers do not join within ``LAYERKIT_CLUSTER_TIMEOUT`` seconds (60) is stopped with one line; one
whose peer dies later stops with one line too (:func:`peer_lost`, :func:`leave_cluster`).
Only the chief (worker 0, process 0) writes the run directory; the others write theirs to a
temporary folder that is removed at the end.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from ..errors import TrainError

STRATEGIES = ("mirrored", "multi-worker", "data-parallel")
CLUSTER_TIMEOUT = 60  # seconds a worker waits for the others to join (LAYERKIT_CLUSTER_TIMEOUT)
_STRATEGIES: dict[str, Any] = {}
Say = Callable[[TrainError], tuple[str, str]]  # an error as shown, and where: stdout or stderr


@dataclass(frozen=True)
class Share:
    """This process's part of every global batch: slice ``index`` of ``processes`` equal slices,
    and the number of devices over all processes that a batch is split across (a JAX batch must
    split evenly over them; 1 where the engine takes any size)."""

    index: int = 0
    processes: int = 1
    devices: int = 1

    def trim(self, size: int) -> int:
        """The largest part of a batch of ``size`` that splits evenly over the devices."""
        return size - size % self.devices


def cluster_timeout() -> int:
    """Seconds a worker waits for the others: LAYERKIT_CLUSTER_TIMEOUT, or 60."""
    text = os.environ.get("LAYERKIT_CLUSTER_TIMEOUT") or str(CLUSTER_TIMEOUT)
    if not (text.strip().isascii() and text.strip().isdigit()) or int(text) < 1:
        raise TrainError(
            f"LAYERKIT_CLUSTER_TIMEOUT is '{text}'; give a whole number of seconds, such as 60"
        )
    return int(text)


def resume_strategy(path: Path) -> str | None:
    """The strategy the run at ``path`` trains with (its setup.json), read without the engine so
    that :func:`start_strategy` can make it first; None where it cannot be read (resuming says
    why, at its turn)."""
    from ..errors import LayerkitError
    from ..runs.directory import RunDir

    try:
        return RunDir.open(path, resuming=True).read_setup().strategy
    except (LayerkitError, OSError):
        return None


def start_strategy(name: str | None, cpu_replicas: int | None = None,
                   say: Say | None = None, resumed: bool = False) -> None:  # fmt: skip
    """Split the CPU into ``cpu_replicas`` devices where asked and make the strategy ``name``
    now, at the program's start, before anything touches the engine (see the module).

    Workers that do not form a cluster in time cannot be given up by an exception (TensorFlow
    waits for ever holding Python's lock, JAX aborts the process from its own thread): a small
    watcher process says the error as ``say`` renders it (default: a line on stderr) and ends
    this one (exit code 137)."""
    backend = keras.backend.backend()
    _check_engine(name, backend, resumed)
    if cpu_replicas and name not in ("mirrored", "data-parallel"):
        raise TrainError(
            "--cpu-replicas splits the CPU into devices for --strategy mirrored (TensorFlow) or "
            "data-parallel (JAX); give one of them, or leave --cpu-replicas out"
        )
    if backend == "jax":
        _start_jax(name, cpu_replicas, say or _plain)
        return
    if cpu_replicas:
        _split_tensorflow_cpu(cpu_replicas)
    if name == "multi-worker":
        import tensorflow as tf

        tf_config()  # its mistakes said in one line, before TensorFlow reads it

        # its default, 0, waits for ever for a peer that stops answering (no public setting)
        tf.distribute.MultiWorkerMirroredStrategy._check_health_initial_timeout = cluster_timeout()
        from .keras_multiworker import install

        install()  # Keras 3's fit fails with two workers without it (keras-team/keras#20585)
        fix = "start every worker with the same TF_CONFIG cluster, each with its own task index"
        with _joining(say or _plain, fix):  # the strategy waits for every worker to join
            _strategy(name)
    elif name is not None:
        _strategy(name)


def _check_engine(name: str | None, backend: str, resumed: bool) -> None:
    if name is None:
        return
    if name not in STRATEGIES:
        raise TrainError(f"unknown strategy '{name}'; layerkit has {', '.join(STRATEGIES)}")
    needed = "jax" if name == "data-parallel" else "tensorflow"
    if resumed and backend != needed:  # the run's own strategy: only the engine can change
        raise TrainError(
            f"this run trains with --strategy {name}, which runs on {needed}, and this process "
            f"uses {backend}: resume it with KERAS_BACKEND={needed}"
        )
    if name == "data-parallel" and backend != "jax":
        raise TrainError(
            f"--strategy data-parallel is Keras's distribution API, which runs on JAX; this run "
            f"uses {backend}: set KERAS_BACKEND=jax, or use --strategy mirrored / multi-worker "
            "on TensorFlow"
        )
    if name != "data-parallel" and backend != "tensorflow":
        raise TrainError(
            f"--strategy {name} needs the TensorFlow backend (tf.distribute); this run uses "
            f"{backend}: use --strategy data-parallel on JAX"
        )


def _plain(error: TrainError) -> tuple[str, str]:
    return f"error: {error}", "stderr"


def _start_jax(name: str | None, cpu_replicas: int | None, say: Say) -> None:
    import jax

    if cpu_replicas:  # before JAX's backend starts, as --cpu-replicas does for TensorFlow
        jax.config.update("jax_num_cpu_devices", cpu_replicas)
    if name != "data-parallel":
        return
    if jax_cluster():
        _join_jax_cluster(jax, say)
    _STRATEGIES[name] = keras.distribution.DataParallel(
        devices=jax.devices(),
        auto_shard_dataset=False,  # each process feeds its own slice
    )
    keras.distribution.set_distribution(_STRATEGIES[name])


def jax_cluster() -> bool:
    """Whether Keras's environment variables describe several processes."""
    count = os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES") or "1"
    return count.strip() not in ("", "1") or "," in os.environ.get(
        "KERAS_DISTRIBUTION_JOB_ADDRESSES", ""
    )


def _join_jax_cluster(jax: Any, say: Say) -> None:
    """``keras.distribution.initialize()`` from Keras's environment variables; JAX's own
    timeouts (300 s to join, 100 s of missed heartbeats) set to LAYERKIT_CLUSTER_TIMEOUT and, for
    joining, a minute more, so that layerkit's (:func:`_joining`) comes first."""
    fix = ("start every process with the same KERAS_DISTRIBUTION_JOB_ADDRESSES (process 0's "
           "address first) and KERAS_DISTRIBUTION_NUM_PROCESSES, each with its own "
           "KERAS_DISTRIBUTION_PROCESS_ID")  # fmt: skip
    original = jax.distributed.initialize
    seconds = cluster_timeout()
    jax.distributed.initialize = functools.partial(
        original, initialization_timeout=seconds + 60, heartbeat_timeout_seconds=seconds
    )
    try:
        with _joining(say, fix):
            keras.distribution.initialize()
    except Exception as error:  # a bad address or count: JAX says which in its own words
        raise TrainError(f"the cluster could not start ({' '.join(str(error).split())[:200]}); "
                         f"{fix}") from None  # fmt: skip
    finally:
        jax.distributed.initialize = original


# the watcher: waits for its stdin to close (the cluster formed, or this process ended); if it
# stays open past the timeout, says the error and kills the process that is stuck joining
_WATCHER = """
import os, select, signal, sys
seconds, text, stream, pid = sys.argv[1:]
if not select.select([sys.stdin], [], [], float(seconds))[0]:
    print(text, file=sys.stdout if stream == "stdout" else sys.stderr, flush=True)
    os.kill(int(pid), signal.SIGKILL)
"""


@contextlib.contextmanager
def _joining(say: Say, fix: str) -> Iterator[None]:
    """While the processes join: given up after LAYERKIT_CLUSTER_TIMEOUT seconds by a watcher
    process (see :func:`start_strategy`); meanwhile what the engine's C++ code prints on stdout
    ("[Gloo] Rank 0 is connected…") goes to stderr, so that stdout keeps only results."""
    import subprocess

    seconds = cluster_timeout()
    text, stream = say(TrainError(f"the workers did not form a cluster within {seconds} s "
                                  f"(LAYERKIT_CLUSTER_TIMEOUT); {fix}"))  # fmt: skip
    sys.stdout.flush()
    stdout = os.dup(1)
    watcher = subprocess.Popen([sys.executable, "-c", _WATCHER, str(seconds), text, stream,
                                str(os.getpid())], stdin=subprocess.PIPE, stdout=stdout)  # fmt: skip
    os.dup2(2, 1)
    try:
        yield
    finally:
        watcher.stdin.close()  # type: ignore[union-attr]
        watcher.wait()
        os.dup2(stdout, 1)
        os.close(stdout)


def _split_tensorflow_cpu(replicas: int) -> None:
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


def _strategy(name: str) -> Any:
    if name not in _STRATEGIES:
        import tensorflow as tf

        if name == "multi-worker":  # the cluster and this worker's place come from TF_CONFIG
            _STRATEGIES[name] = tf.distribute.MultiWorkerMirroredStrategy()
        else:
            gpus = tf.config.list_logical_devices("GPU")
            devices = [device.name for device in gpus or tf.config.list_logical_devices("CPU")]
            _STRATEGIES[name] = tf.distribute.MirroredStrategy(devices=devices)
    return _STRATEGIES[name]


def distribution_scope(strategy: str | None) -> Any:
    """A context in which to build and compile: the TensorFlow strategy's scope, or nothing
    special (Keras's data-parallel distribution is set for the whole process)."""
    if strategy in (None, "data-parallel"):
        return contextlib.nullcontext()
    return _strategy(strategy).scope()


def replica_count(strategy: str) -> int:
    if strategy == "data-parallel":
        import jax

        return jax.device_count()
    return _strategy(strategy).num_replicas_in_sync


def share(strategy: str | None) -> Share:
    """What this process feeds of every batch: all of it, except under data-parallel (JAX),
    where each process feeds its slice and a batch must split evenly over every device."""
    if strategy != "data-parallel":
        return Share()
    import jax

    return Share(jax.process_index(), jax.process_count(), jax.device_count())


def worker_count(strategy: str | None) -> int:
    """How many processes train the run together."""
    if strategy == "multi-worker":
        cluster = tf_config().get("cluster") or {}
        return sum(len(cluster.get(kind) or []) for kind in ("chief", "worker")) or 1
    return share(strategy).processes


def is_chief(strategy: str | None) -> bool:
    """Whether this process writes the run: the only one, the chief (or worker 0) of the
    TF_CONFIG cluster of a multi-worker run, or process 0 of a data-parallel JAX cluster. Other
    workers write their copy to a temporary folder, as Keras asks. Only a multi-worker run reads
    TF_CONFIG."""
    if strategy == "data-parallel":
        return share(strategy).index == 0
    if strategy != "multi-worker":
        return True
    config = tf_config()
    task = config.get("task") or {}
    if not task:
        return True
    has_chief = "chief" in (config.get("cluster") or {})
    return task.get("type") == "chief" or (
        not has_chief and task.get("type") == "worker" and str(task.get("index")) == "0"
    )


def tf_config() -> dict[str, Any]:
    """TF_CONFIG, checked as TensorFlow will read it: JSON naming a cluster and, where it has
    one, this worker's task within it."""
    text = os.environ.get("TF_CONFIG") or "{}"
    fix = ('TF_CONFIG must be JSON like {"cluster": {"worker": ["host1:12345", '
           '"host2:12345"]}, "task": {"type": "worker", "index": 0}} (docs/distributed.md)')  # fmt: skip
    try:
        config = json.loads(text)
    except ValueError as error:
        raise TrainError(f"TF_CONFIG is not JSON ({error}); {fix}") from None
    if not isinstance(config, dict):
        raise TrainError(f"TF_CONFIG is not a JSON object; {fix}")
    cluster, task = config.get("cluster") or {}, config.get("task") or {}
    if not cluster:
        return config
    if not isinstance(cluster, dict) or not isinstance(task, dict) or not task:
        raise TrainError(f"TF_CONFIG names a cluster but not this worker's task in it; {fix}")
    kind, index = task.get("type"), str(task.get("index"))
    members = cluster.get(kind) if isinstance(kind, str) else None
    if not isinstance(members, list) or not index.isascii() or not index.isdigit():
        raise TrainError(f"TF_CONFIG's task {json.dumps(task)} is not one of its cluster's; {fix}")
    if int(index) >= len(members):
        raise TrainError(
            f"TF_CONFIG's task is {kind} {index}, but its cluster has {len(members)} "
            f"{kind}{'s' * (len(members) != 1)} (numbered from 0); {fix}"
        )
    return config


def peer_lost(error: BaseException) -> bool:
    """Whether a step failed because another worker stopped: TensorFlow aborts the collective
    ops of the others (UnavailableError) once the dead one misses its heartbeats; JAX's
    collectives (Gloo on the CPU) fail at once on the broken connection."""
    text = str(error)
    if keras.backend.backend() == "jax":
        return any(mark in text for mark in ("Gloo", "UNAVAILABLE", "heartbeat", "Connection"))
    import tensorflow as tf

    return isinstance(error, tf.errors.UnavailableError) or "Collective ops is aborted" in text


def leave_cluster() -> None:
    """After a lost peer under JAX, end the process without JAX's shutdown, which waits for the
    lost process at a barrier and then aborts with a core dump: the error is said by then."""
    if keras.backend.backend() != "jax":
        return

    def leave() -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(2)

    atexit.register(leave)  # runs before JAX's own exit handler, which was registered first
