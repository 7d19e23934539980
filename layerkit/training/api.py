"""``layerkit.train``: the ``layerkit train`` command as a Python function, for programs that drive
training themselves — a notebook, a sweep, or Ray Train's ``TensorflowTrainer``, which sets
``TF_CONFIG`` in each worker process and calls a function there (docs/distributed.md).

Takes a spec (a path, or a :class:`~layerkit.spec.document.Spec`) and the command's options as
keyword arguments; gives the :class:`~layerkit.training.run_callbacks.TrainResult`. The same
stages run as for the command: the spec checked and the data found without TensorFlow, then the
strategy made before anything else touches the engine, then :mod:`~layerkit.training.loop`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import TrainError
from ..spec.document import Spec


def train(
    spec: str | Path | Spec | None = None,
    *,
    data: str | Path | None = None,
    out: str | Path | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    strategy: str | None = None,
    cpu_replicas: int | None = None,
    resume: str | Path | None = None,
    overrides: Sequence[str] = (),
    variant: str | None = None,
    progress: bool = True,
) -> Any:
    """Train ``spec``'s model into a new run directory (``out``, default ``runs/NAME/…``), or
    continue the run at ``resume`` (then only ``epochs`` may be given), as ``layerkit train``
    does; progress lines go to stderr unless ``progress=False``.

    ``strategy`` is ``"mirrored"``, ``"multi-worker"`` (TensorFlow; the cluster comes from
    ``TF_CONFIG``) or ``"data-parallel"`` (JAX; several processes from
    ``KERAS_DISTRIBUTION_*``). It is made before anything else in the process touches the
    engine: call ``train`` before other TensorFlow or JAX work in a worker process.

    Returns the run's outcome: ``run.path``, ``status``, ``epochs_done``, ``best_epoch`` and
    ``best_metrics``.

    Raises:
        SpecError, SpecErrors: the spec, at its lines.
        DataError, TrainError, RunError: the data, the options, or the run directory.
    """
    from .start import TrainOptions, prepare

    options = TrainOptions(
        data=None if data is None else str(data), epochs=epochs, batch_size=batch_size,
        out=None if out is None else Path(out), resume=None if resume is None else Path(resume),
        overrides=tuple(overrides), strategy=strategy, variant=variant,
    )  # fmt: skip
    new = None
    if spec is not None and resume is not None:
        raise TrainError("give a spec to train or resume=RUN_DIR, not both")
    if resume is None:
        if spec is None:
            raise TrainError("give a spec to train, or resume=RUN_DIR")
        if not isinstance(spec, Spec):
            from ..spec.loader import load_spec

            spec = load_spec(Path(spec), options.overrides, variant)
        new = prepare(spec, options)
    _start(strategy if new is not None else None, options.resume, cpu_replicas)
    from rich.console import Console

    from . import loop

    console = Console(stderr=True, no_color=True, highlight=False, width=200, quiet=not progress)
    notify = (lambda text: print(text, file=sys.stderr)) if progress else None
    if new is None:
        return loop.resume(options.resume, options, console, "plain", notify)
    return loop.train(new, console, "plain", notify)


def _start(strategy: str | None, resume: Path | None, cpu_replicas: int | None) -> None:
    """The strategy (a resumed run's own), made now; an engine already started says how."""
    from .distributed import resume_strategy, start_strategy

    try:
        start_strategy(resume_strategy(resume) if resume is not None else strategy, cpu_replicas,
                       resumed=resume is not None)  # fmt: skip
    except RuntimeError as error:  # TensorFlow: "Collective ops must be configured at startup"
        raise TrainError(
            f"the strategy could not be made ({' '.join(str(error).split())[:160]}): call "
            "layerkit.train before anything else in this process uses TensorFlow"
        ) from None
