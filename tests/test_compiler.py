"""build: spec → keras.Model, and Keras's own objections as located spec errors."""

from __future__ import annotations

import numpy as np
import pytest

from layerkit import SpecError, build, load_spec, validate

from .conftest import CIFAR

pytestmark = pytest.mark.slow

# The published summary of the reference network: (output shape without batch, params) per row.
PUBLISHED_ROWS = [
    ((32, 32, 32), 896), ((32, 32, 32), 128), ((32, 32, 32), 9248), ((32, 32, 32), 128),
    ((16, 16, 32), 0), ((16, 16, 32), 0),
    ((16, 16, 64), 18496), ((16, 16, 64), 256), ((16, 16, 64), 36928), ((16, 16, 64), 256),
    ((8, 8, 64), 0), ((8, 8, 64), 0),
    ((8, 8, 128), 73856), ((8, 8, 128), 512), ((8, 8, 128), 147584), ((8, 8, 128), 512),
    ((4, 4, 128), 0), ((4, 4, 128), 0),
    ((2048,), 0), ((1024,), 2098176), ((1024,), 4096), ((1024,), 0),
    ((100,), 102500), ((100,), 400), ((10,), 1010),
]  # fmt: skip


@pytest.fixture(scope="module")
def cifar_model():
    return build(load_spec(CIFAR))


def test_reference_network_totals(cifar_model):
    trainable = sum(int(np.prod(w.shape)) for w in cifar_model.trainable_weights)
    non_trainable = sum(int(np.prod(w.shape)) for w in cifar_model.non_trainable_weights)
    assert (cifar_model.count_params(), trainable, non_trainable) == (2_494_982, 2_491_838, 3_144)


def test_reference_network_every_row(cifar_model):
    rows = [
        (tuple(layer.output.shape[1:]), layer.count_params()) for layer in cifar_model.layers[1:]
    ]
    assert rows == PUBLISHED_ROWS


def test_reference_network_activations_and_rates(cifar_model):
    layers = cifar_model.layers[1:]
    assert [layer.activation.__name__ for layer in layers if hasattr(layer, "filters")] == [
        "relu"
    ] * 6
    dense = [layer for layer in layers if type(layer).__name__ == "Dense"]
    assert [layer.activation.__name__ for layer in dense] == ["relu", "relu", "softmax"]
    rates = [layer.rate for layer in layers if type(layer).__name__ == "Dropout"]
    assert rates == [0.2, 0.3, 0.4, 0.5]


def test_reference_network_runs_forward(cifar_model):
    probabilities = cifar_model.predict(np.zeros((2, 32, 32, 3), "float32"), verbose=0)
    assert probabilities.shape == (2, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_names_are_the_same_on_every_build():
    first = [layer.name for layer in build(load_spec(CIFAR)).layers]
    second = [layer.name for layer in build(load_spec(CIFAR)).layers]
    assert first == second
    assert first[1:4] == ["conv2d", "batch_normalization", "conv2d_1"]


def test_explicit_names_are_kept_and_not_reused():
    model = build(
        load_spec(
            "input: [4]\nlayers:\n  - dense: {units: 2, name: dense_1}\n  - dense: {units: 2}\n  - dense: {units: 2}\n"
        )
    )
    assert [layer.name for layer in model.layers[1:]] == ["dense_1", "dense", "dense_2"]


def error_of(text: str) -> SpecError:
    with pytest.raises(SpecError) as caught:
        build(load_spec(text))
    return caught.value


def test_shape_keras_rejects_is_located_at_the_layer():
    error = error_of(
        "input: [4, 4, 3]\nlayers:\n  - flatten\n  - conv2d: {filters: 8, kernel_size: 7}\n"
    )
    assert error.location.line == 4 and error.location.column == 5
    assert error.path == "layers[1].conv2d"
    assert error.message.startswith("Conv2D cannot take its input of shape (None, 48): ")
    assert error.fix == "Check this layer's arguments against the shape the layer before it gives."


def test_negative_output_size():
    error = error_of("input: [4, 4, 3]\nlayers:\n  - conv2d: {filters: 8, kernel_size: 7}\n")
    assert "Computed output size would be zero or negative" in error.message
    assert "\x1b" not in error.message and "\n" not in error.message


def test_bad_value_is_located_at_the_argument():
    error = error_of(
        "input: [4, 4, 3]\nlayers:\n  - conv2d: {filters: 8, kernel_size: 3, padding: sam}\n"
    )
    text = error.format()
    # Keras prints the allowed values from a set, in no fixed order
    assert text.startswith(
        "<string>:3:51: error: layers[0].conv2d.padding: Keras rejected argument 'padding' of "
        "Conv2D: The `padding` argument must be a list/tuple or one of {"
    )
    assert text.endswith("}. Received: sam")


def test_zero_units():
    error = error_of("input: [4]\nlayers:\n  - dense: {units: 0}\n")
    assert error.location.column == 20
    assert error.message == (
        "Keras rejected argument 'units' of Dense: Received an invalid value for `units`, "
        "expected a positive integer. Received: units=0"
    )


def test_unknown_activation():
    error = error_of("input: [4]\nlayers:\n  - dense: {units: 3, activation: rleu}\n")
    assert error.path == "layers[0].dense.activation"
    assert "Could not interpret activation function identifier: rleu" in error.message


def test_wrapped_layers_build_with_exact_params():
    model = build(
        load_spec(
            "input: {shape: [20], dtype: int32}\n"
            "layers:\n"
            "  - embedding: {input_dim: 1000, output_dim: 16}\n"
            "  - bidirectional: {layer: {lstm: {units: 8, return_sequences: true}}}\n"
            "  - time_distributed: {layer: {dense: {units: 4}}}\n"
            "  - global_max_pooling1d\n"
        )
    )
    # Embedding 1000*16; LSTM 4*(16*8 + 8*8 + 8) = 800, twice; Dense 16*4 + 4
    assert [layer.count_params() for layer in model.layers[1:]] == [16_000, 1_600, 68, 0]
    assert model.output.shape == (None, 4)


TINY = "input: [4]\nlayers:\n  - dense: {units: 2}\n"


@pytest.mark.parametrize("given", [TINY, CIFAR], ids=["text", "path"])
def test_a_path_or_text_is_refused_with_the_way_to_load_it(given):
    with pytest.raises(TypeError) as caught:
        build(given)
    assert str(caught.value) == (
        "build() expects a Spec (from layerkit.load_spec) or a Plan (from layerkit.validate). "
        f"Received: {type(given).__name__}. Read it first: build(layerkit.load_spec(...)) "
        "(load_spec takes a path or YAML text)."
    )


def test_a_plan_is_built_as_it_is_and_a_spec_validated_first():
    spec = load_spec(TINY)
    plan = validate(spec)
    assert build(plan).count_params() == build(spec).count_params() == 4 * 2 + 2


def test_a_plan_refuses_a_registry_other_than_its_own():
    import json

    from layerkit.catalog.layers import CATALOG_PATH, LayerRegistry

    plan = validate(load_spec(TINY))
    other = LayerRegistry(json.loads(CATALOG_PATH.read_text(encoding="utf-8")))
    with pytest.raises(ValueError, match="a plan's layer names mean the registry it was validated"):
        build(plan, registry=other)
    assert build(plan, registry=plan.registry).count_params() == 10


def test_the_several_outputs_of_a_layer_fed_on_are_one_located_error():
    """An LSTM with return_state gives three tensors, which no spec item can pick from yet: the
    next item says so at its line (it was an AttributeError from the error path itself)."""
    text = (
        "input: [10, 4]\nlayers:\n  - lstm: {units: 8, return_state: true, id: enc}\n"
        "  - op: {get_item: 1, inputs: enc}\n"
    )
    error = error_of(text)
    assert error.format() == (
        "<string>:4:5: error: layers[1].op.get_item: op 'get_item' takes the output of 'enc' "
        "(line 3), which gives 3 tensors [(None, 8), (None, 8), (None, 8)]: a spec item cannot "
        "pick one of them yet. Keras says: 'tuple' object has no attribute 'shape'. Leave out "
        "what makes that layer give several outputs (return_state), or take them all with a "
        "merge layer such as concatenate."
    )
