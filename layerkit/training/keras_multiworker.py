"""Two fixes to Keras 3's TensorFlow trainer under MultiWorkerMirroredStrategy with more than one
worker, where ``fit`` fails on every worker (keras-team/keras#20585, open in Keras 3.15):

* before training, Keras builds the model from one batch by *averaging the distributed batch
  across workers* (``strategy.reduce("MEAN", batch, axis=None)``), which raises "Attempt to convert
  a value (PerReplica…) to a Tensor"; the build needs only the shapes, so one replica's part is
  taken instead;
* after each step it averages the logs across workers with ``axis=0``, which a scalar (the loss,
  a metric) does not have ("Invalid reduction dimension 0 for input with 0 dimensions"); scalars
  are averaged without an axis.

:func:`install` applies both, once, and only when the strategy is multi-worker; a single process
and the mirrored strategy keep Keras's code. ``tests/test_multiworker.py`` fails once a Keras
release fixes the bug, so the fixes can go.
"""

from __future__ import annotations

from typing import Any

_INSTALLED: list[bool] = []


def install() -> None:
    """Replace the two Keras functions (see the module); idempotent."""
    if _INSTALLED:
        return
    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    keras_reduce = trainer.reduce_per_replica

    def reduce_per_replica(values: Any, strategy: Any, reduction: str) -> Any:
        if not trainer._collective_all_reduce_multi_worker(strategy) or reduction not in (
            "auto", "mean"
        ):  # fmt: skip
            return keras_reduce(values, strategy, reduction)

        def mean(value: Any) -> Any:
            if not isinstance(value, tf.distribute.DistributedValues):
                return value
            rank = strategy.experimental_local_results(value)[0].shape.rank
            return strategy.reduce("MEAN", value, axis=None if rank == 0 else 0)

        return tree.map_structure(mean, values)

    def maybe_symbolic_build(self: Any, iterator: Any = None, data_batch: Any = None) -> None:
        if self._distribute_strategy is None:
            return
        if iterator is not None:
            for _, _, batches in iterator:
                batch = next(batches)
                data_batch = tree.map_structure(
                    lambda x: (
                        self.distribute_strategy.experimental_local_results(x)[0]
                        if isinstance(x, tf.distribute.DistributedValues)
                        else x
                    ),
                    batch,
                )
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    trainer.reduce_per_replica = reduce_per_replica
    trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    _INSTALLED.append(True)
