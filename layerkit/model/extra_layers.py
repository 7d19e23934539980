"""Layers layerkit ships beside ``keras.layers``, for architectures that need a layer Keras keeps
elsewhere or does not have.

* ``layer_scale`` (:class:`LayerScale`): a learned per-channel factor, exactly the ``LayerScale`` of
  ``keras.applications.ConvNeXt*`` (same weight, same output), so a spec can rebuild ConvNeXt;
* ``position_embedding`` (:class:`PositionEmbedding`): a learned vector per sequence position,
  added to a ``(batch, sequence, features)`` input, as in a Vision Transformer.

Takes Keras (imported here); gives the two layer classes, registered with Keras under the package
name ``layerkit`` so that ``.keras`` files holding them save and load once this module is imported.
The catalog lists them beside ``keras.layers`` (see :data:`layerkit.catalog.layers.LAYERKIT_LAYERS`),
so ``layerkit validate`` checks their arguments without importing this module; their parameter
formulas are in :mod:`layerkit.catalog.params`.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


def _positive_whole(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a whole number ≥ 1, received {value!r}")


@keras.saving.register_keras_serializable(package="layerkit")
class LayerScale(keras.layers.Layer):
    """Multiply the input by a learned factor per channel (its last axis), Touvron et al. 2021.

    The same layer as ``keras.src.applications.convnext.LayerScale``: one weight ``gamma`` of shape
    ``(projection_dim,)``, every entry starting at ``init_values``; the output is ``x * gamma``.

    Args:
        init_values: float, the starting value of every factor (ConvNeXt uses 1e-6).
        projection_dim: int, the number of channels: the size of the input's last axis.
    """

    def __init__(self, init_values: float, projection_dim: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _positive_whole("projection_dim", projection_dim)
        self.init_values = init_values
        self.projection_dim = projection_dim

    def build(self, input_shape: tuple) -> None:
        channels = input_shape[-1]
        if channels is not None and channels != self.projection_dim:
            raise ValueError(
                f"projection_dim is {self.projection_dim} but the input has {channels} channels "
                "(its last axis); they must be equal"
            )
        self.gamma = self.add_weight(
            shape=(self.projection_dim,),
            initializer=keras.initializers.Constant(self.init_values),
            trainable=True,
        )

    def call(self, x: Any) -> Any:
        return x * self.gamma

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"init_values": self.init_values, "projection_dim": self.projection_dim})
        return config


@keras.saving.register_keras_serializable(package="layerkit")
class PositionEmbedding(keras.layers.Layer):
    """Add a learned vector to each position of a sequence: ``inputs + embeddings[:length]``.

    The weight ``embeddings`` has shape ``(sequence_length, features)``, ``features`` being the
    size of the input's last axis. The input is ``(batch, sequence, features)`` with a sequence of
    at most ``sequence_length`` positions (a shorter one uses the first rows). Unlike keras_hub's
    ``PositionEmbedding``, which returns the embeddings alone, this returns the sum.

    Args:
        sequence_length: int, the most positions a sequence may have (a row of weights each).
        initializer: the initializer of the embeddings, by name or as a mapping.
    """

    def __init__(
        self, sequence_length: int, initializer: Any = "glorot_uniform", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        _positive_whole("sequence_length", sequence_length)
        self.sequence_length = sequence_length
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape: tuple) -> None:
        shape = tuple(input_shape)
        if len(shape) != 3 or shape[-1] is None:
            raise ValueError(
                "position_embedding takes sequences of shape (batch, sequence, features) with a "
                f"known number of features, received inputs of shape {shape}"
            )
        if shape[1] is not None and shape[1] > self.sequence_length:
            raise ValueError(
                f"the input has {shape[1]} positions, more than sequence_length "
                f"({self.sequence_length}); raise sequence_length to at least {shape[1]}"
            )
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.sequence_length, shape[-1]),
            initializer=self.initializer,
            trainable=True,
        )

    def call(self, inputs: Any) -> Any:
        length = ops.shape(inputs)[1]
        positions = ops.slice(self.embeddings, (0, 0), (length, ops.shape(self.embeddings)[1]))
        return inputs + ops.cast(positions, inputs.dtype)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "sequence_length": self.sequence_length,
                "initializer": keras.initializers.serialize(self.initializer),
            }
        )
        return config
