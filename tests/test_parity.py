"""The parity specs against keras.applications: same counts, same weights, same outputs."""

from __future__ import annotations

import numpy as np
import pytest

from layerkit import build, load_spec, summarize

from .conftest import SPECS

pytestmark = pytest.mark.slow

PARITY = {
    "vgg16.yaml": ("VGG16", 138_357_544),
    "resnet50.yaml": ("ResNet50", 25_636_712),
    "mobilenet_v2.yaml": ("MobileNetV2", 3_538_984),
    "densenet121.yaml": ("DenseNet121", 8_062_504),
}

# EfficientNet B0-B3 are the variants of one spec: the application, input size and total params
EFFICIENTNET = {
    "b0": ("EfficientNetB0", 224, 5_330_571),
    "b1": ("EfficientNetB1", 240, 7_856_239),
    "b2": ("EfficientNetB2", 260, 9_177_569),
    "b3": ("EfficientNetB3", 300, 12_320_535),
}


def weight_count(weights) -> int:
    return sum(int(np.prod(weight.shape)) for weight in weights)


def operations(model) -> list[tuple[str, str]]:
    """The functional graph's nodes in order: (name, class), ops (``Add``, ``Multiply``) included."""
    return [(node.name, type(node).__name__) for node in model._operations]


def assert_same_model(
    spec, application: str, total: int, size: int = 224, same_graph: bool = False
):
    """Build the spec and keras.applications.<application>(weights=None) and compare them; with
    ``same_graph``, also every node of the graph in order, layers and keras.ops calls alike, by
    name and class (so model.summary() shows the same rows)."""
    import keras

    # the reference first, in a fresh session, so its unnamed layers get Keras's first names
    # (normalization, not normalization_3); the spec names every layer itself
    keras.backend.clear_session()
    reference = getattr(keras.applications, application)(weights=None)
    ours = build(spec)

    # the same counts, and the spec's own expectations hold
    for model in (ours, reference):
        assert model.count_params() == total
    assert weight_count(ours.trainable_weights) == weight_count(reference.trainable_weights)
    assert weight_count(ours.non_trainable_weights) == weight_count(reference.non_trainable_weights)
    assert summarize(ours, spec).ok
    if same_graph:
        assert operations(ours) == operations(reference)

    # the same weights, layer by layer under the same names
    def shapes(model):
        return sorted(tuple(weight.shape) for weight in model.weights)

    assert shapes(ours) == shapes(reference)
    weighted = [layer for layer in reference.layers if layer.weights]
    assert sorted(layer.name for layer in ours.layers if layer.weights) == sorted(
        layer.name for layer in weighted
    )
    for layer in weighted:
        ours.get_layer(layer.name).set_weights(layer.get_weights())

    # so the same function: equal outputs on a random image
    image = np.random.default_rng(0).random((1, size, size, 3)).astype("float32") * 255.0
    np.testing.assert_allclose(
        ours.predict(image, verbose=0), reference.predict(image, verbose=0), rtol=1e-4, atol=1e-6
    )
    return ours


@pytest.mark.parametrize("spec_name", list(PARITY))
def test_spec_matches_keras_applications(spec_name):
    application, total = PARITY[spec_name]
    assert_same_model(load_spec(SPECS / spec_name), application, total)


@pytest.mark.parametrize("variant", list(EFFICIENTNET))
def test_efficientnet_variant_matches_keras(variant):
    application, size, total = EFFICIENTNET[variant]
    spec = load_spec(SPECS / "efficientnet.yaml", variant=variant)
    assert_same_model(spec, application, total, size, same_graph=True)


def test_mobilenet_v3_small_matches_keras_with_its_ops():
    spec = load_spec(SPECS / "mobilenet_v3_small.yaml")
    ours = assert_same_model(spec, "MobileNetV3Small", 2_554_968, same_graph=True)
    # its nine hard sigmoids are keras.ops calls in the graph, not layers, as in Keras:
    # x + 3.0 and then * (1.0 / 6.0) around a ReLU(6.0)
    import keras

    ops = [node for node in ours._operations if not isinstance(node, keras.layers.Layer)]
    assert [(node.name, type(node).__name__) for node in ops[:2]] == [
        ("add", "Add"),
        ("multiply", "Multiply"),
    ]
    assert len(ops) == 18
