"""The parameter estimate made before building, and the limit it enforces."""

from __future__ import annotations

import time

import pytest

from layerkit import SpecError, build, load_spec, validate
from layerkit.cli import main
from layerkit.model.estimate import estimate_params

from .conftest import EXAMPLES, SPECS, machine_pace

pytestmark = pytest.mark.slow
SHIPPED = sorted([*SPECS.glob("*.yaml"), *EXAMPLES.glob("*.yaml")])


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_estimate_is_exact_for_every_shipped_spec(path):
    plan = validate(load_spec(path))
    total, _ = estimate_params(plan)
    assert total == build(plan).count_params()


# every formula of layerkit.catalog.params, with the arguments that change it
FORMULA_SPECS = {
    "convolutions": (
        "input: [12, 12, 4]\nlayers:\n"
        "  - conv2d: {filters: 6, kernel_size: [3, 2], groups: 2, use_bias: false}\n"
        "  - depthwise_conv2d: {kernel_size: 3, depth_multiplier: 2}\n"
        "  - separable_conv2d: {filters: 5, kernel_size: 2, depth_multiplier: 3, use_bias: false}\n"
        "  - conv2d_transpose: {filters: 3, kernel_size: 3, strides: 2}\n"
        "  - conv2d: {filters: 2, kernel_size: 1, data_format: channels_first}\n"
    ),
    "normalizations": (
        "input: [8, 6]\nlayers:\n"
        "  - batch_normalization: {center: false}\n"
        "  - layer_normalization: {scale: false}\n"
        "  - group_normalization: {groups: 3, center: false}\n"
        "  - dense: {units: 3, use_bias: false}\n"
    ),
    "recurrent": (
        "input: [7, 5]\nlayers:\n"
        "  - gru: {units: 4, return_sequences: true}\n"
        "  - gru: {units: 3, reset_after: false, return_sequences: true}\n"
        "  - lstm: {units: 2, use_bias: false, return_sequences: true}\n"
        "  - bidirectional: {layer: {simple_rnn: {units: 3, return_sequences: true}}}\n"
        "  - time_distributed: {layer: {dense: {units: 2}}}\n"
    ),
    "tokens": "input: {shape: [9], dtype: int32}\nlayers:\n  - embedding: {input_dim: 50, output_dim: 4}\n",
}


@pytest.mark.parametrize("text", FORMULA_SPECS.values(), ids=FORMULA_SPECS.keys())
def test_every_parameter_formula_matches_keras_layer_by_layer(text):
    plan = validate(load_spec(text))
    _, per_node = estimate_params(plan)
    model = build(plan)
    assert list(per_node.values()) == [layer.count_params() for layer in model.layers[1:]]
    assert all(count > 0 for count in per_node.values())


def test_an_unknown_size_leaves_the_estimate_to_the_build():
    """A batch norm over an axis of unknown size has no parameter count before building; the
    build then says where and why (found by the property tests)."""
    plan = validate(load_spec("name: x\ninput: [null]\nlayers:\n  - batch_normalization\n"))
    assert estimate_params(plan) is None
    with pytest.raises(SpecError) as caught:
        build(plan)
    assert caught.value.format().startswith(
        "<string>:4:5: error: layers[0].batch_normalization: BatchNormalization cannot take its "
        "input of shape (None, None)"
    )


HUGE = "input: [32, 32, 3]\nlayers:\n  - flatten\n  - dense: {units: 1000000}\n  - dense: {units: 10}\n"


def test_a_huge_model_is_refused_before_anything_is_built():
    started = time.perf_counter()
    with pytest.raises(SpecError) as caught:
        build(load_spec(HUGE))
    # refused, not allocated (12 GB of weights): 10 s on the development machine
    assert time.perf_counter() - started < 10 * machine_pace()
    assert caught.value.format() == (
        "<string>:4:5: error: layers[1].dense: the model would hold at least 3,083,000,010 "
        "parameters (12.3 GB of weights), over the limit of 1,000,000,000; this layer alone has "
        "3,073,000,000. Check the sizes (a missing pooling before a dense layer, a unit count with "
        "extra zeros), or pass --allow-large if the model really is this big."
    )


def test_allow_large_lets_a_model_over_the_limit_build(monkeypatch):
    import layerkit.model.estimate

    monkeypatch.setattr(layerkit.model.estimate, "DEFAULT_LIMIT", 1000)
    monkeypatch.setattr(layerkit.model.estimate.check_size, "__defaults__", (1000,))
    spec = load_spec("input: [64]\nlayers:\n  - dense: {units: 64}\n")
    with pytest.raises(SpecError, match="over the limit of 1,000"):
        build(spec)
    assert build(spec, allow_large=True).count_params() == 64 * 64 + 64


def test_cli_build_refuses_and_allows(runner, write_spec):
    spec = write_spec(HUGE)
    result = runner.invoke(main, ["build", str(spec)])
    assert result.exit_code == 2
    assert "over the limit of 1,000,000,000" in result.stderr and "--allow-large" in result.stderr
