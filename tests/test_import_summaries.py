"""layerkit import on the summaries people paste, each printed here by Keras itself from a model
built here: a transformer encoder, TimeDistributed layers, nested models, an encoder-decoder whose
LSTM returns its states, a summary printed after fit (an "Optimizer params" line),
show_trainable=True, and keras.ops calls (op: items)."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest
from keras import layers

from layerkit import build, load_spec, summarize
from layerkit.cli import main
from layerkit.importer import import_summary

from .keras2_printout import printout
from .test_import import row_params

pytestmark = pytest.mark.slow


def keras3_summary(model, **options) -> str:
    """``model.summary()`` as Keras 3 prints it when not on a terminal (narrow, names cut)."""
    lines: list[str] = []
    model.summary(print_fn=lambda line, **kwargs: lines.append(line), **options)
    return "\n".join(lines) + "\n"


def imported(runner, tmp_path, printed: str, *options: str):
    """Import the printout; give the spec's text, the command's output and the checked summary
    of the rebuilt model (which must match every row and total)."""
    source = tmp_path / "summary.txt"
    source.write_text(printed, encoding="utf-8")
    target = tmp_path / "imported.yaml"
    result = runner.invoke(main, ["import", str(source), "-o", str(target), *options])
    assert result.exit_code == 0, result.output
    assert "not imported" not in result.output
    spec = load_spec(target)
    rebuilt = build(spec)
    checked = summarize(rebuilt, spec)
    assert checked.ok, checked.problems
    return target.read_text(encoding="utf-8"), result.output, rebuilt


def test_a_transformer_encoder_gets_heads_from_its_count_and_named_inputs(runner, tmp_path):
    tokens = keras.Input((16, 32), name="tokens")
    normed = layers.LayerNormalization(name="ln1")(tokens)
    attention = layers.MultiHeadAttention(4, 8, name="attention")(normed, normed)
    attended = layers.Add(name="attended")([tokens, attention])
    mlp = layers.Dense(64, activation="gelu", name="mlp1")(layers.LayerNormalization()(attended))
    block = layers.Add(name="block")([attended, layers.Dense(32, name="mlp2")(mlp)])
    # query, value and key from one tensor, values narrower than keys
    crossed = layers.MultiHeadAttention(2, 16, value_dim=8, name="crossed")(block, block, block)
    model = keras.Model(tokens, crossed)
    text, _, rebuilt = imported(runner, tmp_path, keras3_summary(model))
    assert (
        "  - multi_head_attention: {num_heads: 4, key_dim: 8, id: attention, inputs: {query: ln1, "
        "value: ln1}}  # not in the summary: "
        "num_heads × key_dim = 32: 4×8 written, 1×32, 2×16, 8×4, 16×2 fit as well\n"
    ) in text
    assert (
        "  - multi_head_attention: {num_heads: 2, key_dim: 16, value_dim: 8, inputs: {query: "
        "block, value: block, key: block}}"
    ) in text
    assert row_params(rebuilt) == row_params(model) and rebuilt.count_params() == 11_728


def test_time_distributed_layers_are_read_from_the_step_shapes(runner, tmp_path):
    model = keras.Sequential(
        [
            keras.Input((5, 32, 32, 3)),
            layers.TimeDistributed(layers.Conv2D(8, 3, padding="same")),
            layers.TimeDistributed(layers.MaxPooling2D()),
            layers.TimeDistributed(layers.Flatten()),
            layers.TimeDistributed(layers.Dense(16, use_bias=False)),
            layers.LSTM(8),
            layers.Dense(2),
        ]
    )
    text, _, rebuilt = imported(runner, tmp_path, keras3_summary(model), "--input", "5,32,32,3")
    assert (
        "  - time_distributed: {layer: {conv2d: {filters: 8, kernel_size: 3, padding: same}}}  # "
        "not in the summary: the wrapped layer (a Conv2D fits the shapes and params), kernel_size "
        "(square assumed), activation\n"
    ) in text
    assert "  - time_distributed: {layer: {max_pooling2d: {pool_size: 2}}}" in text
    assert "  - time_distributed: {layer: {flatten: {}}}" in text
    assert "  - time_distributed: {layer: {dense: {units: 16, use_bias: false}}}" in text
    assert row_params(rebuilt) == row_params(model)


AUGMENTATION = [layers.RandomFlip("horizontal"), layers.RandomRotation(0.1)]


def test_a_nested_augmentation_model_becomes_a_comment_and_gives_the_input(runner, tmp_path):
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.Sequential(AUGMENTATION, name="augmentation"),
            layers.Conv2D(8, 3, activation="relu"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(10),
        ]
    )
    text, output, _ = imported(runner, tmp_path, keras3_summary(model))
    assert "input: [32, 32, 3]\n" in text
    assert (
        "  - conv2d: {filters: 8, kernel_size: 3}  # not in the summary: kernel_size (square "
        "assumed), activation; a nested model 'augmentation' (Sequential, 0 params, output "
        "[32, 32, 3]) came before this layer: preprocessing such as augmentation, whose layers "
        "the summary does not show; add them here if the model needs them\n"
    ) in text
    assert (
        "check: the summary has no input row: the input shape [32, 32, 3] is the output of the "
        "nested model that opens it; check it, or give --input" in output
    )


def test_a_nested_model_with_weights_is_a_block_to_fill_in_that_build_names(tmp_path):
    backbone = keras.Sequential(
        [keras.Input((32, 32, 3)), layers.Conv2D(8, 3), layers.Conv2D(8, 3)], name="backbone"
    )
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.Sequential(AUGMENTATION, name="augmentation"),
            backbone,
            layers.GlobalAveragePooling2D(),
            layers.Dense(10),
        ]
    )
    source = tmp_path / "nested.txt"
    source.write_text(keras3_summary(model), encoding="utf-8")
    report = import_summary(source)
    assert report.not_imported == ["backbone (Sequential) at line 7: a nested model (Sequential)"]
    lines = report.text.splitlines()
    assert (
        "  nested_backbone:  # NOT IMPORTED: a nested model (Sequential), 808 params, output "
        "(28, 28, 8)"
    ) in lines
    assert "  total_params: 898" in lines
    target = tmp_path / "nested.yaml"
    target.write_text(report.text, encoding="utf-8")
    with pytest.raises(Exception, match="fill_in_the_layers_of_nested_backbone"):
        build(load_spec(target))


def test_an_encoder_decoder_whose_lstm_returns_its_states(runner, tmp_path):
    source, target = keras.Input((10, 8), name="src"), keras.Input((12, 6), name="dst")
    _, state_h, state_c = layers.LSTM(64, return_state=True, name="encoder")(source)
    decoded = layers.LSTM(64, return_sequences=True, name="decoder")(
        target, initial_state=[state_h, state_c]
    )
    model = keras.Model([source, target], layers.Dense(6)(decoded))
    printed = keras3_summary(model)
    assert "encoder[0][1]" in printed and "[(None, 64)," in printed
    text, _, rebuilt = imported(runner, tmp_path, printed)
    assert (
        "  - lstm: {units: 64, return_sequences: true, inputs: dst}  # its initial state "
        "(encoder[0][1], encoder[0][2]) is not passed: a spec cannot take one output of a layer "
        "that gives several; the parameters are the same\n"
    ) in text
    assert "return_state (the row shows 3 outputs" in text
    assert rebuilt.count_params() == model.count_params() == 37_254
    # the list of outputs cut short, as the printout had it
    lines = printed.splitlines()
    row = next(n for n, line in enumerate(lines) if "encoder (LSTM)" in line)
    lines[row + 1] = lines[row + 1].replace("(None, 64),", "(None, …   ")
    del lines[row + 2]
    assert "[(None, 64)," in lines[row] and "(None, …" in lines[row + 1]
    text, _, _ = imported(runner, tmp_path, "\n".join(lines) + "\n", "--force")
    assert "return_state (the row shows several outputs" in text


def test_a_summary_printed_after_fit_counts_the_model_without_its_optimizer(runner, tmp_path):
    model = keras.Sequential([keras.Input((20,)), layers.Dense(32), layers.Dense(1)])
    model.compile("adam", "mse")
    model.fit(np.zeros((8, 20)), np.zeros((8, 1)), verbose=0)
    printed = keras3_summary(model)
    assert "Optimizer params: 1,412" in printed and "Total params: 2,117" in printed
    text, _, _ = imported(runner, tmp_path, printed)
    assert "  total_params: 705\n  trainable_params: 705\n" in text


def test_show_trainable_marks_the_frozen_layers(runner, tmp_path):
    model = keras.Sequential(
        [keras.Input((16,)), layers.Dense(8), layers.BatchNormalization(), layers.Dense(4)]
    )
    model.layers[0].trainable = False
    text, _, rebuilt = imported(runner, tmp_path, keras3_summary(model, show_trainable=True))
    assert "  - dense: {units: 8, trainable: false}" in text
    assert [len(rebuilt.trainable_weights), rebuilt.count_params()] == [4, 204]
    assert "  trainable_params: 52\n  non_trainable_params: 152\n" in text


def hard_swish_model():
    """Keras's own way of writing MobileNetV3's hard swish and a head, with keras.ops calls."""
    images = keras.Input((16, 16, 3))
    x = layers.Conv2D(8, 3, padding="same")(images)
    gate = keras.ops.multiply(layers.ReLU(6.0)(keras.ops.add(x, 3.0)), 1.0 / 6.0)
    x = layers.Multiply()([x, gate])
    x = keras.ops.relu6(x)
    pooled = keras.ops.mean(x, axis=[1, 2])
    return keras.Model(images, layers.Dense(4)(pooled))


@pytest.mark.parametrize("style", ["keras3", "keras2-wrap"])
def test_keras_ops_rows_become_op_items_with_their_constants_noted(style, runner, tmp_path):
    model = hard_swish_model()
    if style == "keras3":
        printed = keras3_summary(model)
    else:  # tf.keras printed a TensorFlow function as a TFOpLambda row
        printed = printout(model, "wrap")
        assert "tf.math.relu6" in printed and "(TFOpLambda)" in printed
    text, _, rebuilt = imported(runner, tmp_path, printed)
    assert (
        "  - op: {add: 0.0}  # not in the summary: the constant of add (one input: a keras.ops "
        "call)\n"
    ) in text
    assert re.search(
        r"  - op: \{multiply: 1\.0, id: \w+\}  # not in the summary: the constant", text
    )
    assert "  - op: {relu6: null}\n" in text
    assert "  - op: {mean: {axis: [1, 2]}}\n" in text
    assert row_params(rebuilt) == row_params(model)


def test_inception_resnets_custom_scale_layer_becomes_the_two_ops_it_computes(runner, tmp_path):
    from keras.src.applications.inception_resnet_v2 import CustomScaleLayer

    images = keras.Input((8, 8, 16))
    branch = layers.Conv2D(16, 1, name="up")(layers.Conv2D(8, 3, padding="same")(images))
    scaled = CustomScaleLayer(0.17, name="block35_1")([images, branch])
    model = keras.Model(images, layers.Activation("relu")(scaled))
    printed = keras3_summary(model)
    assert "(CustomScaleLayer)" in printed
    text, _, rebuilt = imported(runner, tmp_path, printed)
    assert (
        "  - op: {multiply: 1.0, id: block35_1_scaled}  # not in the summary: the scale of "
        "CustomScaleLayer (inputs[0] + inputs[1] * scale, as two ops)\n"
        "  - op: {add: null, inputs: [input, block35_1_scaled]}\n"
    ) in text
    assert rebuilt.count_params() == model.count_params() == 1_304


# keras.applications models whose printed summaries rebuild exactly (issue 17 item 2; the whole
# list is measured by hand, see docs/import.md): ops and a free input size, Fused-MBConv blocks, a
# custom layer and names cut so short that the wiring must be told apart by the shapes, and
# parallel branches whose cut names are told apart by the order Keras prints them in
APPLICATIONS = ["MobileNetV3Small", "EfficientNetV2B0", "InceptionResNetV2", "NASNetMobile"]


@pytest.mark.parametrize("layout", ["narrow", "wide"])
@pytest.mark.parametrize("name", APPLICATIONS)
def test_keras_applications_rebuild_from_their_printed_summaries(
    name, layout, runner, tmp_path, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "200")  # else rich cuts a wide table at 80 columns
    model = getattr(keras.applications, name)(weights=None)
    options = {"line_length": 160} if layout == "wide" else {}
    _, _, rebuilt = imported(runner, tmp_path, keras3_summary(model, **options))
    assert rebuilt.count_params() == model.count_params()
    # the layers with weights, in order (a CustomScaleLayer is rebuilt as two ops: one row more)
    assert [n for n in row_params(rebuilt) if n] == [n for n in row_params(model) if n]


def test_an_op_whose_arguments_the_summary_does_not_show_is_marked(tmp_path):
    tokens = keras.Input((6, 4))
    turned = keras.ops.transpose(layers.Dense(4)(tokens), (0, 2, 1))
    model = keras.Model(tokens, keras.ops.sqrt(keras.ops.abs(turned)))
    source = tmp_path / "ops.txt"
    source.write_text(keras3_summary(model), encoding="utf-8")
    report = import_summary(source)
    assert [entry.split(" at line ")[1].split(": ", 1)[1] for entry in report.not_imported] == [
        "the arguments of keras.ops.transpose are not in the summary"
    ]
    assert "  - op: {absolute: null}\n  - op: {sqrt: null}\n" in report.text
