"""Train a layerkit spec with Ray Train's ``TensorflowTrainer``: N Ray workers, one
``tf.distribute.MultiWorkerMirroredStrategy`` cluster, one run directory (written by worker 0).

Ray starts the workers, gives each a ``TF_CONFIG`` naming all of them and its own index, and calls
``train_func`` in each; ``layerkit.train(..., strategy="multi-worker")`` reads that ``TF_CONFIG``,
exactly as ``layerkit train --strategy multi-worker`` does when started by hand on each machine.

    pip install "ray[train]"
    python examples/ray_tensorflow_trainer.py --spec specs/cifar.yaml \\
        --data /data/cifar10/train.tar.gz --out /tmp/runs/cifar --workers 2 --epochs 2

Every path is made absolute: Ray workers run in their own working directory. On a cluster of
several machines, the spec and data must be at the same path on each, and ``--out`` on storage
that worker 0 can write (the other workers write their copy to a temporary folder, removed).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import ray
from ray.train import Checkpoint, RunConfig, ScalingConfig
from ray.train.tensorflow import TensorflowTrainer


def train_func(config: dict) -> None:
    """Runs in each Ray worker, after Ray has set TF_CONFIG there."""
    # Ray also sets TF_USE_LEGACY_KERAS=1 (for tf.keras 2). layerkit uses Keras 3 and never
    # tf.keras, so it trains the same either way; dropped so that nothing reaches for tf_keras.
    os.environ.pop("TF_USE_LEGACY_KERAS", None)
    import layerkit  # the strategy is made inside train(), before TensorFlow does anything else

    result = layerkit.train(
        config["spec"], data=config["data"], out=config["out"],
        strategy="multi-worker", epochs=config["epochs"],
    )  # fmt: skip
    # Every worker must report (Ray Train V2 waits for all). The driver keeps only metrics that
    # come with a checkpoint: worker 0 attaches its run directory, which Ray copies under
    # RunConfig's storage_path (the others' copies are temporary and already removed).
    metrics = {"status": result.status, "epochs_done": result.epochs_done,
               "run": str(result.run.path), **result.best_metrics}  # fmt: skip
    chief = ray.train.get_context().get_world_rank() == 0
    ray.train.report(metrics, checkpoint=Checkpoint.from_directory(result.run.path) if chief
                     else None)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", required=True, help="layerkit spec (YAML)")
    parser.add_argument("--data", required=True, help="data folder or archive")
    parser.add_argument("--out", required=True, help="run directory to create")
    parser.add_argument("--workers", type=int, default=2, help="Ray workers (default 2)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default: the spec's)")
    args = parser.parse_args()

    config = {"spec": str(Path(args.spec).resolve()), "data": str(Path(args.data).resolve()),
              "out": str(Path(args.out).resolve()), "epochs": args.epochs}  # fmt: skip
    # layerkit must be importable in the workers: pass on this process's PYTHONPATH (a source
    # checkout); a pip-installed layerkit needs nothing.
    env = {key: os.environ[key] for key in ("PYTHONPATH", "TF_CPP_MIN_LOG_LEVEL",
                                            "LAYERKIT_CACHE", "LAYERKIT_CLUSTER_TIMEOUT")
           if key in os.environ}  # fmt: skip
    # A local Ray with one CPU per worker (ScalingConfig asks 1 each); on a cluster, address="auto".
    ray.init(num_cpus=args.workers, runtime_env={"env_vars": env})
    trainer = TensorflowTrainer(
        train_func,
        train_loop_config=config,
        scaling_config=ScalingConfig(num_workers=args.workers, use_gpu=False),
        # Ray's records and its copy of the run, in a new ray_train_run-DATE folder each time (a
        # fixed RunConfig(name=...) would reload that folder's earlier checkpoint list)
        run_config=RunConfig(storage_path="/tmp/ray_results"),
    )
    result = trainer.fit()  # raises if a worker failed
    print(result.metrics)  # worker 0's: status, epochs_done, run, best epoch's metrics
    print("copy of the run:", result.checkpoint.path)


if __name__ == "__main__":
    main()
