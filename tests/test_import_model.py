"""layerkit import MODEL.keras and keras:NAME: specs from Keras models, with repeats, that rebuild the
same configuration and, with the weights copied, the same outputs."""

from __future__ import annotations

import json
import re

import keras
import numpy as np
import pytest

from layerkit import build, load_spec, summarize
from layerkit.cli import main
from layerkit.importer import import_loaded_model, import_model

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


# Keras's own custom layers in keras.applications that a spec writes as the ops they compute:
# InceptionResNetV2's CustomScaleLayer is inputs[0] + inputs[1] * scale
WRITTEN_AS_OPS = {"CustomScaleLayer": ["Multiply", "Add"]}
APPLICATIONS = sorted(
    name
    for name in dir(keras.applications)
    if name[:1].isupper() and callable(getattr(keras.applications, name))
)
# The .keras file route differs from keras:NAME only in how the model is rebuilt (from the file's
# config.json), which depends on the layer types, and every model of one keras.applications module
# uses the same types: one of each module (not a Base or Large one) goes through a saved file too
# (15 of 40; saving and re-reading all 40 cost minutes of CI for the big ones, checking no more).
THROUGH_A_FILE = {
    min(names, key=lambda name: ("Large" in name or "Base" in name, name))
    for names in (
        [n for n in APPLICATIONS if getattr(keras.applications, n).__module__ == module]
        for module in {getattr(keras.applications, n).__module__ for n in APPLICATIONS}
    )
}


def _steps(model) -> list:
    """Every layer and operation of a model, in order, as (class, parameter count); a nested
    Sequential model by its layers."""
    found = []
    for step in model.layers if isinstance(model, keras.Sequential) else model.operations:
        name = type(step).__name__
        if isinstance(step, keras.Sequential):
            found += _steps(step)
        elif name in WRITTEN_AS_OPS:
            found += [(op, 0) for op in WRITTEN_AS_OPS[name]]
        elif name != "InputLayer":
            found.append((name, step.count_params() if hasattr(step, "count_params") else 0))
    return found


def _weighted(model) -> list:
    """The layers that hold weights, in order, nested Sequential models by their layers."""
    found = []
    for layer in model.layers:
        found += _weighted(layer) if isinstance(layer, keras.Sequential) else [layer]
    return [layer for layer in found if layer.weights]


def assert_same_steps(original, rebuilt, inputs):
    """The same layers and operations in the same order with the same parameter counts; the same
    outputs once the weights are copied layer by layer (nested Sequential models flattened)."""
    assert _steps(rebuilt) == _steps(original)
    for mine, theirs in zip(_weighted(rebuilt), _weighted(original), strict=True):
        mine.set_weights(theirs.get_weights())
    expected = keras.tree.flatten(original(inputs, training=False))
    actual = keras.tree.flatten(rebuilt(inputs, training=False))
    assert len(actual) == len(expected)
    for mine, theirs in zip(actual, expected, strict=True):
        np.testing.assert_allclose(np.asarray(mine), np.asarray(theirs), rtol=1e-4, atol=1e-5)


def assert_same_up_to_names(text, other):
    """The same spec but for the first line (it names the source) and the names Keras numbers
    per process (an unnamed ReLU is re_lu_3 in one, re_lu_7 in another): one renaming, applied
    throughout, turns the first into the second."""
    words, others = (re.findall(r"\w+|\W", item.split("\n", 1)[1]) for item in (text, other))
    assert len(words) == len(others)
    renamed: dict[str, str] = {}
    for word, twin in zip(words, others, strict=True):
        assert renamed.setdefault(word, twin) == twin, (word, twin)


def import_to(runner, tmp_path, source, target_name="imported.yaml"):
    target = tmp_path / target_name
    result = runner.invoke(main, ["import", source, "-o", str(target)])
    assert result.exit_code == 0, result.output
    return target, result


def only_messages(stderr: str) -> bool:
    """Nothing on stderr but what import says as it writes: no warning, no row not imported."""
    return all(line.startswith(("wrote ", "check: ")) for line in stderr.splitlines())


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
    assert result.stderr.startswith(f"wrote {target}: {len(original.layers) - 1} layers;")
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


@pytest.mark.parametrize("name", APPLICATIONS)
def test_every_keras_application_imports_and_rebuilds_exactly(name, tmp_path):
    """Each model of keras.applications (built with weights=None), imported from keras:NAME (and,
    for one of each module, from the .keras file it saves to: the same spec): nothing
    marked, every expect: row holds, the same layers and ops with the same parameter counts, and
    with the weights copied the same outputs on one random image."""
    keras.backend.clear_session()
    # through the API, not the command, which builds every spec once more before writing it
    # (the command's own path is tested above on ResNet50, MobileNetV2 and DenseNet121)
    # keras:NAME is getattr(keras.applications, NAME)(weights=None): import that model, in memory
    original = getattr(keras.applications, name)(weights=None)
    report = import_loaded_model(original, f"keras:{name}")
    assert report.not_imported == [] and report.placeholders == []
    target = tmp_path / "imported.yaml"
    target.write_text(report.text, encoding="utf-8")
    if name in THROUGH_A_FILE:
        saved = tmp_path / f"{name}.keras"
        original.save(saved)
        from_file = import_model(str(saved))
        saved.unlink()  # the big ones are hundreds of MB
        assert_same_up_to_names(from_file.text, report.text)
    spec = load_spec(target)
    rebuilt = build(spec)
    summary = summarize(rebuilt, spec)
    assert summary.ok, summary.problems
    size = [224 if side is None else side for side in original.input_shape[1:]]
    image = np.random.default_rng(0).uniform(0, 255, (1, *size)).astype("float32")
    assert_same_steps(original, rebuilt, image)
    del original, rebuilt
    keras.backend.clear_session()


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


def test_a_nested_functional_model_becomes_a_block_to_fill_in(runner, tmp_path):
    inner_input = keras.Input((8,))
    inner = keras.Model(inner_input, keras.layers.Dense(4)(inner_input), name="inner")
    inputs = keras.Input((8,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inner(inputs)), name="outer")
    path = tmp_path / "outer.keras"
    model.save(path)
    target = tmp_path / "outer.yaml"
    refused = runner.invoke(main, ["import", str(path), "-o", str(target)])
    assert refused.exit_code == 1 and not target.exists()
    assert refused.stderr.startswith(
        f"error: {target} not written: the imported spec would not build: 1 row could not be "
        "imported: inner (Functional): a nested model (Functional). Rerun with --partial"
    )
    result = runner.invoke(main, ["import", str(path), "-o", str(target), "--partial"])
    assert result.exit_code == 0
    assert result.stderr.startswith(f"wrote {target}: ") and result.stderr.endswith(
        "\nnot imported (marked in the spec): inner (Functional): a nested model (Functional)\n"
    )
    text = target.read_text()
    assert (
        "  nested_inner:  # NOT IMPORTED: a nested model (Functional), 36 params, output (4,)\n"
        in text
    )
    built = runner.invoke(main, ["build", str(target)])
    assert (
        built.exit_code == 2
        and "unknown layer 'fill_in_the_layers_of_nested_inner'" in built.stderr
    )


def test_a_nested_sequential_model_is_written_as_its_layers_in_its_place(runner, tmp_path):
    """A Sequential model inside a functional one (ConvNeXt's stem) is a chain: its layers take
    its place, under their own names, and the outputs stay the same with the weights copied."""
    stem = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 2, strides=2, name="stem_conv"),
         keras.layers.LayerNormalization(epsilon=1e-6, name="stem_norm")],
        name="stem",
    )  # fmt: skip
    inputs = keras.Input((8, 8, 3))
    features = stem(inputs)
    outputs = keras.layers.Dense(2)(keras.layers.Add()([features, features]))
    model = keras.Model(inputs, outputs, name="with_stem")
    path = tmp_path / "with_stem.keras"
    model.save(path)
    target, result = import_to(runner, tmp_path, str(path))
    assert only_messages(result.stderr)
    text = target.read_text()
    assert (
        "layers:\n  - conv2d: {filters: 4, kernel_size: [2, 2], strides: [2, 2]}\n"
        "  - layer_normalization: {axis: [-1], epsilon: 1.0e-06, id: stem_norm}\n"
        "  - add: {inputs: [stem_norm, stem_norm]}\n" in text
    )
    assert "{name: stem_conv, shape: [4, 4, 4], params: 52}" in text
    rebuilt = build(load_spec(target))
    original = keras.saving.load_model(path)
    image = np.random.default_rng(2).normal(size=(2, 8, 8, 3)).astype("float32")
    assert_same_steps(original, rebuilt, image)


def test_operations_become_op_items_with_their_constants(runner, tmp_path):
    """``x + 3.0`` is op: {add: 3.0}; ``3.0 - x`` passes the tensor by name, the constant by
    name; an operation's own arguments (mean's axis) are its constants; ``concatenate`` takes
    its tensors as one list. The rebuilt model has the same steps and outputs."""
    inputs = keras.Input((4, 4, 3))
    x = keras.layers.Conv2D(6, 1, name="conv")(inputs)
    shifted = x + 3.0
    flipped = 3.0 - x
    joined = keras.ops.concatenate([shifted, flipped], axis=-1)
    pooled = keras.ops.mean(joined, axis=(1, 2), keepdims=False)
    outputs = keras.layers.Dense(2, name="head")(pooled * (1 / 6))
    model = keras.Model(inputs, outputs, name="with_ops")
    path = tmp_path / "with_ops.keras"
    model.save(path)
    target, result = import_to(runner, tmp_path, str(path))
    assert only_messages(result.stderr)
    text = target.read_text()
    add, subtract = (op.name for op in model.operations if type(op).__name__ in ("Add", "Subtract"))
    assert (
        "  - conv2d: {filters: 6, kernel_size: [1, 1], id: conv}\n"
        f"  - op: {{add: 3.0, id: {add}}}\n"
        f"  - op: {{subtract: {{x1: 3.0}}, id: {subtract}, inputs: {{x2: conv}}}}\n"
        f"  - op: {{concatenate: -1, inputs: [{add}, {subtract}]}}\n"
        "  - op: {mean: {axis: [1, 2], keepdims: false}}\n"
        "  - op: {multiply: 0.16666666666666666}\n"
        "  - dense: {units: 2}\n" in text
    )
    validated = runner.invoke(main, ["validate", str(target)])
    assert validated.exit_code == 0, validated.output
    rebuilt = build(load_spec(target))
    image = np.random.default_rng(3).normal(size=(2, 4, 4, 3)).astype("float32")
    assert_same_steps(model, rebuilt, image)


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


def test_a_layer_named_with_letters_beyond_ascii_gets_an_id_a_spec_can_hold(runner, tmp_path):
    inputs = keras.Input((4,), name="entrée")
    hidden = keras.layers.Dense(3, name="café")(inputs)
    model = keras.Model(inputs, keras.layers.Concatenate()([hidden, inputs]), name="menu")
    path = tmp_path / "menu.keras"
    model.save(path)
    target, _ = import_to(runner, tmp_path, str(path))
    text = target.read_text(encoding="utf-8")
    assert "- dense: {units: 3, id: caf_}" in text and "inputs: [caf_, input]" in text
    # (Keras's TensorFlow backend cannot run the original: 'café' is no scope name)
    assert build(load_spec(target)).count_params() == model.count_params() == 15
