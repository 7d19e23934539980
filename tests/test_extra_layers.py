"""layerkit's own layers beside keras.layers (layerkit.model.extra_layers): LayerScale is ConvNeXt's,
PositionEmbedding adds its weight, both are checked without TensorFlow and survive a .keras file;
and the parameter formula of MultiHeadAttention, which the transformer reference spec needs."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from layerkit import build, load_spec, summarize
from layerkit.catalog import params
from layerkit.catalog.layers import default_registry
from layerkit.cli import main

from .conftest import ROOT

SPEC = """\
name: tokens
input: [8, 8, 3]
layers:
  - conv2d: {filters: 16, kernel_size: 2, strides: 2}
  - reshape: {target_shape: [16, 16]}
  - position_embedding: {sequence_length: 16}
  - layer_scale: {init_values: 1.0e-6, projection_dim: 16}
  - global_average_pooling1d
  - dense: {units: 10, activation: softmax}
expect: {total_params: 650}
"""


def test_the_registry_knows_them_from_the_catalog():
    registry = default_registry()
    assert registry.resolve("layer_scale") == "LayerScale"
    assert registry.resolve("PositionEmbedding") == "PositionEmbedding"
    scale = registry.info("LayerScale")
    assert [(arg.name, arg.required, arg.kinds) for arg in scale.args.values()] == [
        ("init_values", True, ("int", "float")),
        ("projection_dim", True, ("int",)),
    ]
    embedding = registry.info("PositionEmbedding")
    assert [(arg.name, arg.required) for arg in embedding.args.values()] == [
        ("sequence_length", True),
        ("initializer", False),
    ]
    assert scale.accepts_base_args and embedding.accepts_base_args
    assert (params.layer_scale(96), params.position_embedding(64, 64)) == (96, 4096)


def test_layer_scale_is_keras_convnexts():
    from keras.src.applications.convnext import LayerScale as KerasLayerScale

    from layerkit.model.extra_layers import LayerScale

    x = np.random.default_rng(0).normal(size=(2, 5, 5, 96)).astype("float32")
    ours, theirs = LayerScale(1e-6, 96), KerasLayerScale(1e-6, 96)
    np.testing.assert_array_equal(ours(x), theirs(x))  # both start at init_values
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    assert ours.count_params() == theirs.count_params() == params.layer_scale(96)
    gamma = np.random.default_rng(1).normal(size=(96,)).astype("float32")
    ours.set_weights([gamma])
    theirs.set_weights([gamma])
    np.testing.assert_array_equal(ours(x), theirs(x))
    np.testing.assert_allclose(ours(x), x * gamma, rtol=1e-6)
    assert ours.get_config()["init_values"] == 1e-6


def test_position_embedding_adds_its_weight():
    import keras

    from layerkit.model.extra_layers import PositionEmbedding

    tokens = keras.Input((None, 4))
    model = keras.Model(tokens, PositionEmbedding(6)(tokens))
    assert model.count_params() == params.position_embedding(6, 4) == 24
    table = np.arange(24, dtype="float32").reshape(6, 4)
    model.layers[1].set_weights([table])
    x = np.random.default_rng(0).normal(size=(2, 6, 4)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), x + table, rtol=1e-6)
    # a shorter sequence takes the first rows
    np.testing.assert_allclose(model.predict(x[:, :3], verbose=0), x[:, :3] + table[:3], rtol=1e-6)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "input: [4, 4, 8]\nlayers:\n  - layer_scale: {init_values: 0.5, projection_dim: 16}\n",
            "<string>:3:5: error: layers[0].layer_scale: LayerScale cannot take its input of shape "
            "(None, 4, 4, 8): projection_dim is 16 but the input has 8 channels (its last axis); "
            "they must be equal.",
        ),
        (
            "input: [4, 4, 8]\nlayers:\n  - layer_scale: {init_values: 0.5, projection_dim: 0}\n",
            "<string>:3:53: error: layers[0].layer_scale.projection_dim: Keras rejected argument "
            "'projection_dim' of LayerScale: `projection_dim` must be a whole number ≥ 1, "
            "received 0",
        ),
        (
            "input: [10, 4]\nlayers:\n  - position_embedding: {sequence_length: 6}\n",
            "<string>:3:5: error: layers[0].position_embedding: PositionEmbedding cannot take its "
            "input of shape (None, 10, 4): the input has 10 positions, more than sequence_length "
            "(6); raise sequence_length to at least 10.",
        ),
        (
            "input: [16]\nlayers:\n  - position_embedding: {sequence_length: 6}\n",
            "<string>:3:5: error: layers[0].position_embedding: PositionEmbedding cannot take its "
            "input of shape (None, 16): position_embedding takes sequences of shape (batch, "
            "sequence, features) with a known number of features, received inputs of shape "
            "(None, 16).",
        ),
    ],
)
def test_a_wrong_size_is_a_located_error(text, message):
    from layerkit.errors import SpecError

    with pytest.raises(SpecError) as caught:
        build(load_spec(text))
    assert caught.value.format().startswith(message)


def test_validate_accepts_them_without_tensorflow(tmp_path):
    path = tmp_path / "tokens.yaml"
    path.write_text(SPEC, encoding="utf-8")
    code = (
        "import sys\n"
        "from layerkit.cli import main\n"
        f"try:\n    main(['validate', {str(path)!r}])\nexcept SystemExit as exit:\n"
        "    print('exit', exit.code)\n"
        "print([m for m in ('tensorflow', 'keras') if m in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.splitlines() == [
        f"✓ {path}: valid spec 'tokens' (6 layers)",
        "exit 0",
        "[]",
    ]


def test_validate_names_an_unknown_argument_with_a_suggestion(runner, tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text(
        "input: [8, 8, 16]\n"
        "layers:\n"
        "  - layer_scale: {init_value: 1.0e-6, projection_dim: 16}\n"
        "  - reshape: {target_shape: [64, 16]}\n"
        "  - position_embedding: {sequence_len: 64}\n",
        encoding="utf-8",
    )
    result = runner.invoke(main, ["validate", str(path)], catch_exceptions=False)
    assert result.exit_code == 2
    assert result.stderr == (
        f"{path}:3:19: error: layers[0].layer_scale.init_value: unknown argument 'init_value' for "
        "LayerScale. Did you mean 'init_values'?\n"
        f"{path}:5:26: error: layers[2].position_embedding.sequence_len: unknown argument "
        "'sequence_len' for PositionEmbedding. Did you mean 'sequence_length'?\n"
        "2 problems found.\n"
    )


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The spec's model, built and saved the way `layerkit build --save` saves, and an input."""
    from layerkit.console.targets import save_model

    spec = load_spec(SPEC)
    model = build(spec)
    assert summarize(model, spec).ok
    path = tmp_path_factory.mktemp("saved") / "tokens.keras"
    save_model(model, path, force=False)
    image = np.random.default_rng(0).random((1, 8, 8, 3)).astype("float32")
    return path, image, model.predict(image, verbose=0)


@pytest.mark.slow
def test_a_keras_file_holding_them_loads_with_the_same_outputs(saved):
    import keras

    path, image, expected = saved
    loaded = keras.saving.load_model(path)
    assert [type(layer).__name__ for layer in loaded.layers[3:5]] == [
        "PositionEmbedding",
        "LayerScale",
    ]
    assert loaded.layers[4].get_config()["projection_dim"] == 16
    np.testing.assert_allclose(loaded.predict(image, verbose=0), expected, rtol=1e-6)


@pytest.mark.slow
def test_layerkits_own_load_path_reads_them_in_a_new_process(saved, tmp_path):
    path, image, expected = saved
    np.save(tmp_path / "image.npy", image)
    code = textwrap.dedent(f"""
        import numpy as np
        from pathlib import Path
        from layerkit.training.evaluate import open_trained
        model = open_trained(Path({str(path)!r})).model
        print(np.abs(model.predict(np.load({str(tmp_path / "image.npy")!r}), verbose=0)
                     - np.load({str(tmp_path / "expected.npy")!r})).max())
    """)
    np.save(tmp_path / "expected.npy", expected)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert float(result.stdout.splitlines()[-1]) < 1e-6


@pytest.mark.parametrize(
    ("shapes", "arguments"),
    [
        ((64, 64, 64), {"num_heads": 4, "key_dim": 16}),
        ((32, 48, 20), {"num_heads": 3, "key_dim": 8, "value_dim": 5, "use_bias": False}),
        ((32, 48, 20), {"num_heads": 2, "key_dim": 8, "output_shape": (3, 7)}),
    ],
)
def test_the_attention_formula_counts_what_keras_holds(shapes, arguments):
    import math

    import keras

    query, key, value = shapes
    layer = keras.layers.MultiHeadAttention(**arguments)
    layer(query=keras.Input((5, query)), value=keras.Input((6, value)), key=keras.Input((6, key)))
    output = arguments.get("output_shape", (query,))
    assert layer.count_params() == params.multi_head_attention(
        query, key, value, arguments["num_heads"], arguments["key_dim"],
        arguments.get("value_dim", arguments["key_dim"]), math.prod(output),
        arguments.get("use_bias", True),
    )  # fmt: skip


@pytest.mark.slow
def test_their_flops_are_counted():
    spec = load_spec(
        "input: [16, 8]\nlayers:\n  - position_embedding: {sequence_length: 16}\n"
        "  - layer_scale: {init_values: 0.1, projection_dim: 8}\n"
    )
    summary = summarize(build(spec), spec)
    assert [row.flops for row in summary.rows] == [0, 16 * 8]
    assert summary.flops_complete
