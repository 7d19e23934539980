"""The transformer-era reference specs against Keras: ConvNeXtTiny against keras.applications,
the ViT spec against the same network written directly with keras.layers.

Each test compares the three parameter totals, the sorted weight shapes and, after copying the
weights across layer by layer, the outputs on a random input.
"""

from __future__ import annotations

import numpy as np
import pytest

from layerkit import build, load_spec, summarize

from .conftest import SPECS

pytestmark = pytest.mark.slow

CONVNEXT_TINY_PARAMS = 28_589_128
VIT_PARAMS = 141_898


def weight_count(weights) -> int:
    return sum(int(np.prod(weight.shape)) for weight in weights)


def shapes(model) -> list[tuple[int, ...]]:
    return sorted(tuple(weight.shape) for weight in model.weights)


def assert_same_counts(ours, reference, total: int) -> None:
    for model in (ours, reference):
        assert model.count_params() == total
    assert weight_count(ours.trainable_weights) == weight_count(reference.trainable_weights)
    assert weight_count(ours.non_trainable_weights) == weight_count(reference.non_trainable_weights)
    assert shapes(ours) == shapes(reference)


def flat_layers(model):
    """The model's operations in order, a nested Sequential's layers in its place."""
    import keras

    for operation in model.operations:
        if isinstance(operation, keras.Sequential):
            yield from operation.layers
        elif not isinstance(operation, keras.layers.InputLayer):
            yield operation


def test_convnext_tiny_matches_keras_applications():
    import keras

    # Keras numbers its unnamed op nodes (add, add_1, ...) per session: start one, so the
    # reference's read as in a fresh process, as layerkit's do
    keras.backend.clear_session()
    reference = keras.applications.ConvNeXtTiny(weights=None)
    spec = load_spec(SPECS / "convnext_tiny.yaml")
    ours = build(spec)

    assert_same_counts(ours, reference, CONVNEXT_TINY_PARAMS)
    assert summarize(ours, spec).ok

    # the same layers in the same order under the same names and classes, once Keras's nested
    # stem and downsampling Sequentials are read as the two layers each holds
    def rows(model):
        return [(layer.name, type(layer).__name__) for layer in flat_layers(model)]

    assert rows(ours) == rows(reference)

    # so the weights copy across by name, the nested ones from the Sequential's own layers
    for layer in flat_layers(reference):
        if getattr(layer, "weights", None):  # an op node (the residual add) has none
            ours.get_layer(layer.name).set_weights(layer.get_weights())

    image = np.random.default_rng(0).random((1, 224, 224, 3)).astype("float32") * 255.0
    np.testing.assert_allclose(
        ours.predict(image, verbose=0), reference.predict(image, verbose=0), rtol=1e-4, atol=1e-6
    )


def keras_vit(position_embedding):
    """The ViT of specs/vit.yaml written directly with keras.layers, under the spec's names."""
    import keras
    from keras import layers

    image = keras.Input((32, 32, 3), name="input")
    x = layers.Conv2D(64, 4, strides=4, name="patch_embedding")(image)
    x = layers.Reshape((64, 64), name="patches")(x)
    x = position_embedding(name="position_embedding")(x)
    for i in range(4):
        name = f"encoder_{i}"
        normed = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_ln1")(x)
        attention = layers.MultiHeadAttention(num_heads=4, key_dim=16, name=f"{name}_attention")
        x = layers.Add(name=f"{name}_add1")([x, attention(normed, normed)])
        y = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_ln2")(x)
        y = layers.Dense(128, activation="gelu", name=f"{name}_mlp1")(y)
        y = layers.Dropout(0.1, name=f"{name}_dropout")(y)
        y = layers.Dense(64, name=f"{name}_mlp2")(y)
        x = layers.Add(name=f"{name}_add2")([x, y])
    x = layers.LayerNormalization(epsilon=1e-6, name="head_ln")(x)
    x = layers.GlobalAveragePooling1D(name="head_pool")(x)
    outputs = layers.Dense(10, activation="softmax", name="head")(x)
    return keras.Model(image, outputs, name="vit")


def test_vit_matches_the_same_network_written_in_keras():
    import keras

    class AddedPositions(keras.layers.Layer):
        """A learned (tokens, width) table added to the tokens: this test's own layer."""

        def build(self, input_shape):
            self.table = self.add_weight(shape=tuple(input_shape[1:]), initializer="random_normal")

        def call(self, tokens):
            return tokens + self.table

    spec = load_spec(SPECS / "vit.yaml")
    ours = build(spec)
    reference = keras_vit(AddedPositions)

    assert_same_counts(ours, reference, VIT_PARAMS)
    assert summarize(ours, spec).ok

    # the same layers in the same order, named and typed alike (the position embedding aside)
    def rows(model):
        return [(layer.name, type(layer).__name__) for layer in model.operations]

    assert [row for row in rows(ours) if row[0] != "position_embedding"] == [
        row for row in rows(reference) if row[0] != "position_embedding"
    ]
    assert rows(ours)[3] == ("position_embedding", "PositionEmbedding")

    for layer in reference.layers:
        if layer.weights:
            ours.get_layer(layer.name).set_weights(layer.get_weights())

    images = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(
        ours.predict(images, verbose=0), reference.predict(images, verbose=0), rtol=1e-4, atol=1e-6
    )
