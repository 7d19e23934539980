"""layerkit import MODEL.keras and keras:NAME: specs from Keras models, with repeats, that rebuild the
same configuration and, with the weights copied, the same outputs."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from layerkit import build, load_spec, summarize
from layerkit.cli import main

pytestmark = pytest.mark.slow

IGNORED = ("name", "build_config", "dtype")


def _config(layer) -> dict:
    config = layer.get_config()
    for key in IGNORED:
        config.pop(key, None)
    for key in ("layer", "backward_layer"):  # wrapped layers: compare without their names
        if isinstance(config.get(key), dict):
            config[key] = {
                k: v for k, v in config[key].get("config", {}).items() if k not in IGNORED
            }
    return config


def assert_same_model(original, rebuilt, inputs):
    """Same layers in the same order with the same configuration; the same outputs once the
    weights are copied layer by layer."""
    assert [type(layer).__name__ for layer in rebuilt.layers] == [
        type(layer).__name__ for layer in original.layers
    ]
    for mine, theirs in zip(rebuilt.layers, original.layers, strict=True):
        assert _config(mine) == _config(theirs), theirs.name
        mine.set_weights(theirs.get_weights())
    expected = original.predict(inputs, verbose=0)
    actual = rebuilt.predict(inputs, verbose=0)
    expected = expected if isinstance(expected, list | tuple) else [expected]
    actual = actual if isinstance(actual, list | tuple) else [actual]
    assert len(actual) == len(expected)
    for mine, theirs in zip(actual, expected, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)


def import_to(runner, tmp_path, source):
    target = tmp_path / "imported.yaml"
    result = runner.invoke(main, ["import", source, "-o", str(target)])
    assert result.exit_code == 0, result.output
    return target, result


@pytest.mark.parametrize(("name", "repeats"), [
    ("ResNet50", ["repeat: 2", "repeat: 3", "repeat: 5", "block1: {filters: 128, filters_2: 512}"]),
    ("MobileNetV2", ["repeat: 2", "repeat: 3"]),
    ("DenseNet121", ["repeat: 6", "repeat: 12", "repeat: 24", "repeat: 16"]),
])  # fmt: skip
def test_keras_application_imports_with_repeats_and_rebuilds_exactly(
    name, repeats, runner, tmp_path
):
    target, result = import_to(runner, tmp_path, f"keras:{name}")
    original = getattr(keras.applications, name)(weights=None)
    assert result.stdout.startswith(f"wrote {target}: {len(original.layers) - 1} layers;")
    text = target.read_text()
    assert "\nblocks:\n  block1:\n" in text
    for repeat in repeats:
        assert repeat in text
    spec = load_spec(target)
    rebuilt = build(spec)
    summary = summarize(rebuilt, spec)
    assert summary.ok, summary.problems
    assert summary.checked_count == len(original.layers) - 1 + 3
    image = np.random.default_rng(0).uniform(0, 255, (2, 224, 224, 3)).astype("float32")
    assert_same_model(original, rebuilt, image)


def test_a_saved_model_with_branches_shared_layers_and_recurrence_round_trips(runner, tmp_path):
    tokens = keras.Input((12,), dtype="int32", name="tokens")
    extra = keras.Input((4,), name="extra")
    embedded = keras.layers.Embedding(300, 16, mask_zero=True)(tokens)
    encoded = keras.layers.Bidirectional(keras.layers.GRU(8, reset_after=False))(embedded)
    shared = keras.layers.Dense(8, activation="tanh", kernel_initializer="he_normal",
                                kernel_regularizer=keras.regularizers.L2(1e-4))  # fmt: skip
    left, right = shared(encoded), shared(keras.layers.Dense(16)(extra))
    merged = keras.layers.Concatenate()([left, right, encoded])
    normed = keras.layers.LayerNormalization(epsilon=1e-3)(merged)
    label = keras.layers.Dense(3, activation="softmax", name="label")(normed)
    score = keras.layers.Dense(1, name="score")(merged)
    model = keras.Model([tokens, extra], [label, score], name="two_headed")
    path = tmp_path / "two_headed.keras"
    model.save(path)
    target, _ = import_to(runner, tmp_path, str(path))
    text = target.read_text()
    assert "inputs:\n  tokens: {shape: [12], dtype: int32}\n  extra: [4]\n" in text
    assert "- shared: {layer: dense" in text
    assert "outputs: [label, score]" in text
    spec = load_spec(target)
    rebuilt = build(spec)
    summary = summarize(rebuilt, spec)
    assert summary.ok, summary.problems
    rng = np.random.default_rng(1)
    inputs = [
        rng.integers(0, 300, (3, 12)).astype("int32"),
        rng.normal(size=(3, 4)).astype("float32"),
    ]
    assert_same_model(model, rebuilt, inputs)


def _json_config(layer) -> dict:
    """A layer's configuration as the saved file holds it (tuples are lists), without its name."""
    return json.loads(json.dumps(_config(layer)))


def test_a_model_with_values_yaml_would_misread_round_trips(runner, tmp_path):
    """epsilon=1e-6 (YAML 1.1 reads a plain 1e-06 as text), 1e-7, 1e20, negative numbers, tuples,
    text that reads as booleans, numbers or mappings ("yes", "1e5", "a: b"), a model called 2024
    and an input called "on": the imported spec validates, builds with every row checked, and its
    layers have the same configuration."""
    words = keras.Input((3,), dtype="string", name="words")
    features = keras.Input((8,), name="on")
    vocabulary = ["yes", "on", "a: b", "#x", "null", "1.5", "~", "Off"]
    ids = keras.layers.StringLookup(vocabulary=vocabulary, oov_token="1e5")(words)
    embedded = keras.layers.Embedding(
        len(vocabulary) + 1, 4,
        embeddings_initializer=keras.initializers.RandomNormal(stddev=1e-7, seed=2),
    )(ids)  # fmt: skip
    hidden = keras.layers.Dense(
        8, kernel_regularizer=keras.regularizers.L1L2(l1=1e-6, l2=1e20),
        bias_initializer=keras.initializers.Constant(-2.5),
    )(features)  # fmt: skip
    hidden = keras.layers.LayerNormalization(epsilon=1e-6)(hidden)
    hidden = keras.layers.BatchNormalization(epsilon=1e-6, momentum=0.999)(hidden)
    hidden = keras.layers.Rescaling(scale=1e-7, offset=-1e20)(hidden)
    hidden = keras.layers.Reshape((2, -1))(hidden)
    hidden = keras.layers.Cropping1D((0, 1))(hidden)
    merged = keras.layers.Concatenate()(
        [keras.layers.Flatten()(embedded), keras.layers.Flatten()(hidden)]
    )
    model = keras.Model([words, features], keras.layers.Dense(2)(merged), name="2024")
    path = tmp_path / "awkward.keras"
    model.save(path)
    target, _ = import_to(runner, tmp_path, str(path))
    text = target.read_text()
    assert "  - layer_normalization: {axis: [-1], epsilon: 1.0e-06}\n" in text
    assert (
        "oov_token: '1e5'" in text
        and "'yes', 'on', 'a: b', '#x', 'null', '1.5', '~', 'Off'" in text
    )
    assert "scale: 1.0e-07, offset: -1.0e+20" in text and "name: '2024'" in text
    validated = runner.invoke(main, ["validate", str(target)])
    assert validated.exit_code == 0, validated.output
    built = runner.invoke(main, ["build", str(target), "--plain"])
    assert built.exit_code == 0, built.output
    rebuilt = build(load_spec(target))
    saved = keras.saving.load_model(path)
    assert [type(layer).__name__ for layer in rebuilt.layers] == [
        type(layer).__name__ for layer in saved.layers
    ]
    for mine, theirs in zip(rebuilt.layers, saved.layers, strict=True):
        assert _json_config(mine) == _json_config(theirs), theirs.name
    lookup = next(layer for layer in rebuilt.layers if type(layer).__name__ == "StringLookup")
    assert list(lookup.get_config()["vocabulary"]) == vocabulary  # no booleans, no null


def test_a_nested_model_becomes_a_block_to_fill_in(runner, tmp_path):
    inner = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)], name="inner")
    inputs = keras.Input((8,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inner(inputs)), name="outer")
    path = tmp_path / "outer.keras"
    model.save(path)
    target = tmp_path / "outer.yaml"
    result = runner.invoke(main, ["import", str(path), "-o", str(target)])
    assert result.exit_code == 0
    assert (
        result.stderr
        == "not imported (marked in the spec): inner (Sequential): a nested model (Sequential)\n"
    )
    text = target.read_text()
    assert (
        "  nested_inner:  # NOT IMPORTED: a nested model (Sequential), 36 params, output (4,)\n"
        in text
    )
    built = runner.invoke(main, ["build", str(target)])
    assert (
        built.exit_code == 2
        and "unknown layer 'fill_in_the_layers_of_nested_inner'" in built.stderr
    )


def test_unknown_application_and_missing_file(runner, tmp_path):
    result = runner.invoke(main, ["import", "keras:ResNet51", "-o", str(tmp_path / "x.yaml")])
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: keras.applications has no model 'ResNet51'. Did you mean 'ResNet50'?"
    )
    missing = runner.invoke(
        main, ["import", str(tmp_path / "nope.keras"), "-o", str(tmp_path / "x.yaml")]
    )
    assert (
        missing.exit_code == 2
        and "is not a file; give a .keras file or keras:NAME" in missing.stderr
    )
    assert not (tmp_path / "x.yaml").exists()
