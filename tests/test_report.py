"""summarize: rows and totals checked against expect:, FLOPs counted per layer."""

from __future__ import annotations

import pytest

from layerkit import build, load_spec, summarize
from layerkit.model.flops import count_flops

from .conftest import CIFAR

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cifar_summary():
    spec = load_spec(CIFAR)
    return summarize(build(spec), spec)


def test_reference_summary_matches_everything(cifar_summary):
    assert cifar_summary.ok
    assert cifar_summary.problems == ()
    assert len(cifar_summary.rows) == 25
    assert all(row.ok and row.checked for row in cifar_summary.rows)
    totals = {total.key: (total.actual, total.expected) for total in cifar_summary.totals}
    assert totals == {
        "total_params": (2_494_982, 2_494_982),
        "trainable_params": (2_491_838, 2_491_838),
        "non_trainable_params": (3_144, 3_144),
    }
    assert cifar_summary.checked_count == 28


def test_rows_carry_the_spec_line(cifar_summary):
    # the six convolutions are all written on line 20, inside the block; the dense layers at top level
    conv_lines = {row.location.line for row in cifar_summary.rows if row.type == "Conv2D"}
    assert conv_lines == {20}
    assert [row.location.line for row in cifar_summary.rows if row.type == "Dense"] == [30, 33, 35]


def conv_macs(height, width, out_channels, kernel, in_channels):
    return height * width * out_channels * kernel * kernel * in_channels


def test_flops_are_multiply_adds_per_layer(cifar_summary):
    by_name = {row.name: row.flops for row in cifar_summary.rows}
    assert by_name["conv2d"] == conv_macs(32, 32, 32, 3, 3)
    assert by_name["conv2d_1"] == conv_macs(32, 32, 32, 3, 32)
    assert by_name["conv2d_5"] == conv_macs(8, 8, 128, 3, 128)
    assert by_name["dense"] == 2048 * 1024
    assert by_name["batch_normalization"] == 32 * 32 * 32  # one multiply-add per element
    assert by_name["max_pooling2d"] == 0 and by_name["dropout"] == 0
    expected = (
        conv_macs(32, 32, 32, 3, 3) + conv_macs(32, 32, 32, 3, 32)
        + conv_macs(16, 16, 64, 3, 32) + conv_macs(16, 16, 64, 3, 64)
        + conv_macs(8, 8, 128, 3, 64) + conv_macs(8, 8, 128, 3, 128)
        + 2048 * 1024 + 1024 * 100 + 100 * 10
        + 2 * 32 * 32 * 32 + 2 * 16 * 16 * 64 + 2 * 8 * 8 * 128 + 1024 + 100
    )  # fmt: skip
    assert cifar_summary.flops == expected == 40_949_836
    assert cifar_summary.flops_complete


def test_flops_of_other_layer_kinds():
    model = build(
        load_spec(
            "input: [16, 16, 8]\nlayers:\n"
            "  - depthwise_conv2d: {kernel_size: 3, padding: same}\n"
            "  - separable_conv2d: {filters: 4, kernel_size: 3, padding: same}\n"
            "  - conv2d: {filters: 6, kernel_size: 3, groups: 2, padding: same}\n"
            "  - conv2d_transpose: {filters: 2, kernel_size: 2, strides: 2}\n"
            "  - reshape: {target_shape: [32, 64]}\n"
            "  - lstm: {units: 5}\n"
        )
    )
    layers = model.layers[1:]
    counts = [
        count_flops(layer, tuple(layer.input.shape), tuple(layer.output.shape)) for layer in layers
    ]
    assert counts == [
        16 * 16 * 8 * 9,  # depthwise: one 3x3 filter per channel
        16 * 16 * 8 * 9 + 16 * 16 * 8 * 4,  # separable: depthwise then pointwise
        16 * 16 * 6 * 9 * 2,  # grouped: each output sees in_channels / groups = 2
        16 * 16 * 6 * 4 * 2,  # transpose: every input position × kernel × filters
        0,
        32 * 4 * (64 * 5 + 5 * 5),  # LSTM: 4 gates, input and recurrent products, 32 steps
    ]


def test_weighted_layer_without_a_formula_is_unknown_not_guessed():
    model = build(
        load_spec(
            "input: [4, 8]\nlayers:\n  - einsum_dense: {equation: 'abc,cd->abd', output_shape: [4, 3]}\n"
        )
    )
    summary = summarize(model)
    assert summary.rows[0].flops is None
    assert not summary.flops_complete


def test_a_changed_filter_count_fails_the_rows_it_touches(tmp_path):
    text = CIFAR.read_text(encoding="utf-8").replace(
        "conv_block: {filters: 64, dropout: 0.3}", "conv_block: {filters: 48, dropout: 0.3}"
    )
    path = tmp_path / "cifar_changed.yaml"
    path.write_text(text, encoding="utf-8")
    spec = load_spec(path)
    summary = summarize(build(spec), spec)
    assert not summary.ok
    # 64 → 48 filters changes the second block's rows and the next convolution's params
    assert [row.index for row in summary.rows if not row.ok] == list(range(7, 14))
    assert summary.problems == (
        "row 7 conv2d_2 (expected as conv2d_21): output shape (None, 16, 16, 48), expected "
        "(None, 16, 16, 64); params 13,872, expected 18,496",
        "row 8 batch_normalization_2 (expected as batch_normalization_21): output shape "
        "(None, 16, 16, 48), expected (None, 16, 16, 64); params 192, expected 256",
        "row 9 conv2d_3 (expected as conv2d_22): output shape (None, 16, 16, 48), expected "
        "(None, 16, 16, 64); params 20,784, expected 36,928",
        "row 10 batch_normalization_3 (expected as batch_normalization_22): output shape "
        "(None, 16, 16, 48), expected (None, 16, 16, 64); params 192, expected 256",
        "row 11 max_pooling2d_1 (expected as max_pooling2d_11): output shape (None, 8, 8, 48), "
        "expected (None, 8, 8, 64)",
        "row 12 dropout_1 (expected as dropout_12): output shape (None, 8, 8, 48), expected "
        "(None, 8, 8, 64)",
        "row 13 conv2d_4 (expected as conv2d_23): params 55,424, expected 73,856",
        "total params 2,455,654, expected 2,494,982",
        "trainable params 2,452,574, expected 2,491,838",
        "non-trainable params 3,080, expected 3,144",
    )


def test_row_count_mismatch_is_a_problem():
    spec = load_spec(
        "input: [4]\nlayers: [flatten]\nexpect:\n  rows:\n    - {params: 0}\n    - {params: 5}\n"
    )
    summary = summarize(build(spec), spec)
    assert summary.problems == ("expect.rows lists 2 rows, the model has 1 layer",)


def test_summary_without_spec_checks_nothing():
    summary = summarize(build(load_spec("input: [4]\nlayers:\n  - dense: {units: 3}\n")))
    assert summary.ok and summary.checked_count == 0
    assert summary.rows[0].params == 15


def test_summarize_refuses_text_and_takes_the_plan():
    from layerkit import validate

    text = "input: [4]\nlayers:\n  - dense: {units: 3}\n"
    plan = validate(load_spec(text))
    model = build(plan)
    with pytest.raises(TypeError, match=r"summarize\(\) expects a Spec .* Received: str"):
        summarize(model, text)
    summary = summarize(model, plan)
    assert summary.ok and [row.params for row in summary.rows] == [4 * 3 + 3]
