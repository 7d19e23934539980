"""The fast-training recipe features: padded crops, cutout, weight decay that skips normalization
and bias weights, batch-norm momentum, a moving average of the weights, flip TTA per epoch,
train.target, and specs/cifar-fast.yaml trained briefly on real images."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import keras
import numpy as np
import pytest

from layerkit import build, load_spec
from layerkit.cli import main
from layerkit.errors import SpecErrors

from .conftest import ROOT, SPECS, cifar_subset

TINY = """\
name: tiny_fast
input: [32, 32, 3]
layers:
  - conv2d: {filters: 16, kernel_size: 3, padding: same}
  - batch_normalization
  - relu
  - max_pooling2d
  - conv2d: {filters: 32, kernel_size: 3, padding: same}
  - batch_normalization
  - relu
  - global_average_pooling2d
  - dense: {units: 10, activation: softmax}
data:
  normalize: {scale: 0.00392156862745098, mean: [0.49, 0.48, 0.45], std: [0.25, 0.24, 0.26]}
augment:
  - random_padded_crop: {padding: 4}
  - random_flip: {mode: horizontal}
  - cutout: {size: 8}
train:
  optimizer: {sgd: {learning_rate: 0.05, momentum: 0.9, nesterov: true, weight_decay: 0.005}}
  schedule: {one_cycle: {warmup: 0.3}}
  label_smoothing: 0.1
  batchnorm_momentum: 0.8
  ema: 0.9
  tta: flip
  metrics: [accuracy]
  batch_size: 32
  epochs: 4
  validation_split: 100
  seed: 3
"""


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """60 real CIFAR-10 images per class, as an archive and as an array."""
    from layerkit.data.load import load_dataset

    root = tmp_path_factory.mktemp("fast")
    archive = cifar_subset(root / "cifar600.tar", 60)
    dataset = load_dataset(str(archive), (32, 32, 3))
    return archive, dataset.x.astype("float32")


def run_cli(runner, *args):
    return runner.invoke(main, list(args), catch_exceptions=False)


# -- augmentation layers ---------------------------------------------------------------------------


def test_random_padded_crop_takes_a_window_of_the_reflect_padded_image(images):
    from layerkit.catalog.augmentations import RandomPaddedCrop

    _, x = images
    batch = x[:64]
    layer = RandomPaddedCrop(padding=4, seed=7)
    out = keras.ops.convert_to_numpy(layer(batch, training=True))
    assert out.shape == batch.shape
    padded = np.pad(batch, [(0, 0), (4, 4), (4, 4), (0, 0)], mode="reflect")
    offsets = []
    for image, source in zip(out, padded, strict=True):
        found = [(top, left) for top in range(9) for left in range(9)
                 if np.array_equal(source[top:top + 32, left:left + 32], image)]  # fmt: skip
        assert found, "every output is a 32x32 window of the reflect-padded image"
        offsets.append(found[0])
    assert len(set(offsets)) > 20  # each image gets its own offset
    assert np.array_equal(keras.ops.convert_to_numpy(layer(batch)), batch)  # inference: unchanged


def test_cutout_blanks_one_square_per_image(images):
    from layerkit.catalog.augmentations import Cutout

    _, x = images
    batch = x[:64] + 1.0  # no pixel is 0 before the cutout
    out = keras.ops.convert_to_numpy(Cutout(size=8, seed=1)(batch, training=True))
    blanked = np.all(out == 0, axis=-1)
    for mask in blanked:
        rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
        assert 0 < len(rows) <= 8 and 0 < len(cols) <= 8
        assert mask.sum() == len(rows) * len(cols)  # a rectangle (a square cut by the border)
    assert (blanked.sum(axis=(1, 2)) == 64).mean() > 0.3  # most squares lie wholly inside
    assert np.array_equal(out[~blanked], batch[~blanked])
    assert np.array_equal(keras.ops.convert_to_numpy(Cutout(size=8)(batch)), batch)


def test_augmentation_from_a_registry_of_its_own_is_the_one_training_uses():
    """A custom augmentation layer registered only in a registry passed to validate is checked,
    built and put in front of the model from that registry, not the process-wide one."""
    import json

    from layerkit import validate
    from layerkit.catalog.layers import CATALOG_PATH, LayerRegistry, default_registry
    from layerkit.spec.settings import Normalize
    from layerkit.training.model import training_model

    class Negate(keras.layers.Layer):
        def call(self, inputs, training=None):
            return -inputs if training else inputs

    registry = LayerRegistry(json.loads(CATALOG_PATH.read_text(encoding="utf-8")))
    registry.register(Negate, name="negate")
    text = "input: [4]\nlayers:\n  - dense: {units: 2, use_bias: false}\naugment:\n  - negate\n"
    with pytest.raises(SpecErrors, match="negate"):
        validate(load_spec(text))  # the process-wide registry does not know it
    plan = validate(load_spec(text), registry)
    assert plan.registry is registry and plan.augment[0].class_name == "Negate"
    model = build(plan)
    trainer = training_model(model, plan, Normalize(scale=1.0), augment=True)
    assert [type(layer).__name__ for layer in trainer.layers[1:]] == [
        "Rescaling",
        "Negate",
        "Functional",
    ]
    x = np.ones((1, 4), "float32")
    inference = keras.ops.convert_to_numpy(model(x))
    assert np.allclose(keras.ops.convert_to_numpy(trainer(x, training=True)), -inference)
    assert np.allclose(keras.ops.convert_to_numpy(trainer(x, training=False)), inference)
    with pytest.raises(LookupError):
        default_registry().resolve("negate")


def test_augmentation_layers_refuse_bad_arguments_at_the_spec_line(write_spec):
    path = write_spec("""\
        name: bad
        input: [32, 32, 3]
        layers:
          - flatten
          - dense: {units: 10}
        augment:
          - random_padded_crop: {padding: -2}
        """)
    from click.testing import CliRunner

    from layerkit.cli import main as cli

    result = CliRunner().invoke(cli, ["build", str(path)])
    assert result.exit_code == 2
    assert result.stderr == (
        f"{path}:7:5: error: augment[0].random_padded_crop: Keras rejected RandomPaddedCrop: "
        "padding must be a whole number of pixels ≥ 0, received -2\n"
    )
    path.write_text(path.read_text().replace("[32, 32, 3]", "[8, 8, 3]").replace("-2", "8"))
    result = CliRunner().invoke(cli, ["build", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"{path}:7:5: error: augment[0].random_padded_crop: RandomPaddedCrop cannot augment inputs "
        "of shape (8, 8, 3): reflect padding of 8 needs images larger than that, received 8x8"
    )


# -- settings --------------------------------------------------------------------------------------


def test_recipe_settings_are_read(write_spec):
    spec = load_spec(write_spec(TINY))
    train = spec.train
    assert (train.no_decay, train.batchnorm_momentum, train.ema, train.tta, train.target) == (
        ("normalization", "bias"), 0.8, 0.9, "flip", None)  # fmt: skip
    spec = load_spec(
        TINY.replace(
            "  tta: flip\n", "  tta: flip\n  no_decay: []\n  target: {val_accuracy: 0.5}\n"
        )
    )
    assert spec.train.no_decay == () and spec.train.target == ("val_accuracy", 0.5)
    assert spec.train.early_dropout is None
    spec = load_spec(TINY.replace("  tta: flip\n", "  early_dropout: 0.3\n"))
    assert spec.train.early_dropout == 0.3


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("ema: 1.5", "train.ema: expected a momentum between 0 and 1 (such as 0.9), received 1.5"),
        (
            "batchnorm_momentum: fast",
            "train.batchnorm_momentum: expected a number, received the text 'fast'",
        ),
        (
            "no_decay: [norm]",
            "train.no_decay[0]: expected one of normalization, bias, received the text 'norm'",
        ),
        ("tta: rotate", "train.tta: expected flip, received the text 'rotate'"),
        ("target: 0.83", "train.target: expected one metric and the value to stop at"),
        ("emma: 0.99", "unknown train setting 'emma'"),
        (
            "early_dropout: 0",
            "train.early_dropout: expected the fraction of the epochs that keep dropout on, above 0 "
            "and at most 1, received 0",
        ),
        ("early_dropout: half", "train.early_dropout: expected a number, received the text 'half'"),
    ],
)
def test_recipe_setting_errors_name_the_line(line, message):
    base = TINY
    for setting in ("  batchnorm_momentum: 0.8\n", "  ema: 0.9\n", "  tta: flip\n"):
        base = base.replace(setting, "")
    text = base.replace("  seed: 3\n", f"  seed: 3\n  {line}\n")
    with pytest.raises(SpecErrors) as caught:
        load_spec(text)
    (error,) = caught.value.errors
    assert f"<string>:{text.splitlines().index('  ' + line) + 1}:" in str(error)
    assert message in str(error)


IMAGE_LESS = """\
name: vectors
input: [8]
layers:
  - dense: {units: 10, activation: softmax}
train:
  tta: flip
"""


@pytest.mark.parametrize(
    ("text", "edit", "located", "message"),
    [
        (
            TINY,
            ("{warmup: 0.3}", "{warmup: 0.3, div: 0}"),
            "  schedule:",
            "train.schedule.one_cycle.div: schedule 'one_cycle': div must be the divisor of the "
            "starting rate, above 0, received 0. Write e.g. 'one_cycle: {warmup: 0.25, div: 20, "
            "final_div: 200}'.",
        ),
        (
            TINY,
            ("{warmup: 0.3}", "{warmup: 1.5}"),
            "  schedule:",
            "train.schedule.one_cycle.warmup: schedule 'one_cycle': warmup must be the fraction of "
            "the steps spent rising, 0 to below 1, received 1.5.",
        ),
        (
            TINY,
            ("  label_smoothing: 0.1\n", "  label_smoothing: 0.1\n  loss: mean_squared_error\n"),
            "  label_smoothing:",
            "train.label_smoothing: label_smoothing applies to cross-entropy losses; loss "
            "MeanSquaredError takes none. Remove label_smoothing, or use categorical_crossentropy.",
        ),
        (
            TINY,
            ("  seed: 3\n", "  seed: 3\n  metrics: [accuracy, top5]\n  target: {val_top_5: 0.9}\n"),
            "  target:",
            "train.target: train.target names 'val_top_5', which this run does not measure. Did you "
            "mean 'val_top5'?",
        ),
        (
            IMAGE_LESS,
            ("", ""),
            "  tta:",
            "train.tta: tta: flip mirrors images, but the input is [8], not [height, width] or "
            "[height, width, channels]. Remove 'tta: flip' for inputs that are not images.",
        ),
    ],
)
def test_recipe_mistakes_are_refused_at_their_line_before_any_data_loads(
    text, edit, located, message, tmp_path, runner
):
    text = text.replace(*edit).replace("  metrics: [accuracy]\n  batch_size", "  batch_size")
    spec = tmp_path / "recipe.yaml"
    spec.write_text(text)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row.startswith(located))
    result = run_cli(runner, "train", str(spec), "--data", str(tmp_path / "none.tar"),
                     "--out", str(tmp_path / "run"))  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{spec}:{line}:")
    assert message in result.stderr
    assert not (tmp_path / "run").exists()


def test_target_accepts_the_names_the_history_uses():
    from layerkit.training.loop import _check_target

    spec = load_spec(TINY.replace("  metrics: [accuracy]\n", "  metrics: [acc, top_5]\n"))
    for metric in ("val_top5", "val_accuracy", "top5", "loss", "val_accuracy_tta"):
        _check_target(replace(spec.train, target=(metric, 0.5)), validating=True)


# -- optimizer pieces ------------------------------------------------------------------------------


def _decay_step(optimizer, model):
    zeros = [keras.ops.zeros_like(v) for v in model.trainable_variables]
    before = {v.path: keras.ops.convert_to_numpy(v).copy() for v in model.trainable_variables}
    optimizer.apply_gradients(zip(zeros, model.trainable_variables, strict=True))
    return {v.path: keras.ops.convert_to_numpy(v) / np.where(before[v.path] == 0, 1, before[v.path])
            for v in model.trainable_variables}  # fmt: skip


def test_weight_decay_skips_normalization_and_bias_weights(tmp_path):
    from layerkit.training.optimizers import skip_weight_decay

    model = build(load_spec(TINY))
    optimizer = keras.optimizers.SGD(learning_rate=0.1, weight_decay=0.5)
    skip_weight_decay(optimizer, model, ("normalization", "bias"))
    ratios = _decay_step(optimizer, model)  # zero gradients: only weight decay moves weights
    for path, ratio in ratios.items():
        expected = 0.95 if path.endswith("kernel") else 1.0
        assert np.allclose(ratio[ratio != 0], expected), path
    # a resumed run's optimizer comes back built; the exemption must hold there too
    trainer = keras.Sequential([keras.Input((32, 32, 3)), model])
    trainer.compile(optimizer=optimizer, loss="categorical_crossentropy")
    trainer.save(tmp_path / "checkpoint.keras")
    loaded = keras.saving.load_model(tmp_path / "checkpoint.keras")
    assert loaded.optimizer.built
    skip_weight_decay(loaded.optimizer, loaded, ("normalization",))
    ratios = _decay_step(loaded.optimizer, loaded)
    for path, ratio in ratios.items():
        expected = 1.0 if "batch_normalization" in path else 0.95
        assert np.allclose(ratio[ratio != 0], expected), path


def test_weight_decay_exemption_reaches_a_mixed_precision_optimizer():
    """Under mixed precision (the default on a GPU) Keras wraps the optimizer in a
    LossScaleOptimizer, which has no weight_decay of its own: the exemption must reach the one
    inside."""
    from layerkit.training.optimizers import skip_weight_decay, unwrapped

    model = build(load_spec(TINY))
    inner = keras.optimizers.SGD(learning_rate=0.1, weight_decay=0.5)
    wrapped = keras.optimizers.LossScaleOptimizer(inner)
    assert unwrapped(wrapped) is inner and unwrapped(inner) is inner
    skip_weight_decay(wrapped, model, ("normalization", "bias"))
    ratios = _decay_step(inner, model)
    for path, ratio in ratios.items():
        expected = 0.95 if path.endswith("kernel") else 1.0
        assert np.allclose(ratio[ratio != 0], expected), path


def test_batchnorm_momentum_reaches_every_batchnorm_layer():
    from layerkit.training.recipe import set_batchnorm_momentum

    model = build(load_spec(SPECS / "cifar.yaml"))
    assert set_batchnorm_momentum(model, 0.9) == 8
    momenta = [layer.momentum for layer in model._flatten_layers()
               if isinstance(layer, keras.layers.BatchNormalization)]  # fmt: skip
    assert momenta == [0.9] * 8


def test_early_dropout_switches_dropout_off_after_its_epochs():
    """A model whose loss is exactly 0 without dropout and above 0 with it: the first two epochs
    have dropout, the last two none; the layer has its rate back when training ends."""
    from layerkit.spec.settings import TrainSettings
    from layerkit.training.callbacks import EarlyDropout
    from layerkit.training.recipe import dropout_epochs, dropout_layers

    inputs = keras.Input((100,))
    hidden = keras.layers.Dropout(0.5)(inputs)
    outputs = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")(hidden)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")  # the weights never move
    until = dropout_epochs(TrainSettings(epochs=4, early_dropout=0.5))
    assert until == 2 and dropout_epochs(TrainSettings(epochs=10, early_dropout=0.3)) == 3
    history = model.fit(np.ones((64, 100)), np.full((64, 1), 100.0), batch_size=16, epochs=4,
                        verbose=0, callbacks=[EarlyDropout(dropout_layers(model), until)])  # fmt: skip
    losses = history.history["loss"]
    assert losses[0] > 10 and losses[1] > 10 and losses[2:] == [0.0, 0.0]
    assert dropout_layers(model)[0].rate == 0.5


# -- training with the recipe on real images -------------------------------------------------------


@pytest.fixture(scope="module")
def fast_run(images, tmp_path_factory):
    from click.testing import CliRunner

    archive, _ = images
    root = tmp_path_factory.mktemp("fastrun")
    (root / "tiny.yaml").write_text(TINY, encoding="utf-8")
    result = CliRunner().invoke(
        main,
        ["train", str(root / "tiny.yaml"), "--data", str(archive), "--out", str(root / "run")],
        env={"LAYERKIT_CACHE": str(root / "cache")},
    )
    assert result.exit_code == 0, result.output
    return root / "run", result


@pytest.mark.slow
def test_recipe_trains_and_logs_flip_tta(fast_run):
    run, result = fast_run
    lines = (run / "history.csv").read_text().splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, map(float, line.split(",")), strict=True)) for line in lines[1:]]
    assert "val_accuracy_tta" in header and len(rows) == 4
    assert rows[-1]["loss"] < rows[0]["loss"]
    assert max(row["val_accuracy"] for row in rows) > 0.15  # chance is 0.10
    assert "val_accuracy_tta" in result.stderr  # the epoch lines


@pytest.mark.slow
def test_saved_models_hold_the_moving_average_and_evaluate_as_logged(fast_run, runner, monkeypatch):
    run, _ = fast_run
    checkpoint = keras.saving.load_model(run / "checkpoints" / "epoch-0004.keras")
    optimizer = checkpoint.optimizer
    averages = {v.path: keras.ops.convert_to_numpy(a) for v, a in zip(
        optimizer._trainable_variables, optimizer._model_variables_moving_average, strict=True)}  # fmt: skip
    last = keras.saving.load_model(run / "model_last.keras")
    raw = {v.path: keras.ops.convert_to_numpy(v) for v in checkpoint.trainable_variables}
    for variable in last.trainable_variables:
        path = next(p for p in averages if p.endswith(variable.path))
        assert np.array_equal(keras.ops.convert_to_numpy(variable), averages[path])
        assert not np.array_equal(averages[path], raw[path])  # the average is not the raw weight
    assert all(layer.momentum == 0.8 for layer in last.layers
               if isinstance(layer, keras.layers.BatchNormalization))  # fmt: skip
    # evaluate on the run's validation split reproduces the best epoch's accuracies, TTA included
    monkeypatch.setenv("LAYERKIT_CACHE", str(run.parent / "cache"))
    best = json.loads((run / "metrics.json").read_text())["best"]
    plain = json.loads(run_cli(runner, "evaluate", str(run), "--json").stdout)
    flipped = json.loads(run_cli(runner, "evaluate", str(run), "--json", "--tta", "flip").stdout)
    assert plain["accuracy"] == pytest.approx(best["val_accuracy"], abs=1e-6)
    assert flipped["accuracy"] == pytest.approx(best["val_accuracy_tta"], abs=1e-6)


@pytest.mark.slow
def test_mixed_precision_run_averages_weights_and_drops_out_early(images, tmp_path, runner,
                                                                  monkeypatch):  # fmt: skip
    """--precision mixed (what a GPU gets by default) wraps the optimizer in a LossScaleOptimizer:
    the moving average must still reach validation and the saved models, and early dropout must
    leave the saved models with the spec's rate."""
    from layerkit.training.runtime import dtype_policy

    archive, _ = images
    monkeypatch.setenv("LAYERKIT_CACHE", str(tmp_path / "cache"))
    spec = tmp_path / "mixed.yaml"
    spec.write_text(
        TINY.replace("  - global_average_pooling2d\n", "  - global_average_pooling2d\n"
                     "  - dropout: {rate: 0.3}\n")
        .replace("  epochs: 4\n", "  epochs: 2\n  early_dropout: 0.5\n")
    )  # fmt: skip
    result = run_cli(runner, "train", str(spec), "--data", str(archive), "--precision", "mixed",
                     "--out", str(tmp_path / "run"))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "dropout in epoch 1 only" in result.stderr
    assert keras.mixed_precision.global_policy().name == "float32"  # put back after the run
    # a copy of the run claiming float32: its optimizer state cannot load, and the resume says so
    # instead of restarting the schedule and the average from step 0
    import shutil

    shutil.copytree(tmp_path / "run", tmp_path / "copy")
    setup = json.loads((tmp_path / "copy" / "setup.json").read_text())
    assert setup["mixed_precision"] is True and setup["schedule_epochs"] == 2
    state = json.loads((tmp_path / "copy" / "state.json").read_text())
    assert 0 < state["optimizer_steps"] <= 32  # 16 steps an epoch; mixed precision may skip some
    (tmp_path / "copy" / "setup.json").write_text(json.dumps({**setup, "mixed_precision": False}))
    refused = run_cli(runner, "train", "--resume", str(tmp_path / "copy"), "--epochs", "3")
    assert refused.exit_code == 2
    assert refused.stderr.startswith(
        f"error: the optimizer state in {tmp_path / 'copy' / 'checkpoints' / 'epoch-0002.keras'} "
        f"did not load (0 steps restored, {state['optimizer_steps']} expected); the run is left "
        "as it was"
    )
    assert json.loads((tmp_path / "copy" / "state.json").read_text()) == state
    # the run itself resumes under the precision it started with, the layout of its schedule and
    # early dropout kept from its start
    resumed = run_cli(runner, "train", "--resume", str(tmp_path / "run"), "--epochs", "3")
    assert resumed.exit_code == 0, resumed.output
    assert ("epoch 3, augmented, dropout in epoch 1 only, learning-rate schedule as laid "
            "out for 2 epochs at the start") in resumed.stderr  # fmt: skip
    with dtype_policy("mixed_float16"):  # as a resumed run loads it
        checkpoint = keras.saving.load_model(tmp_path / "run" / "checkpoints" / "epoch-0003.keras")
    assert isinstance(checkpoint.optimizer, keras.optimizers.LossScaleOptimizer)
    inner = checkpoint.optimizer.inner_optimizer
    averages = {v.path: keras.ops.convert_to_numpy(a) for v, a in zip(
        inner._trainable_variables, inner._model_variables_moving_average, strict=True)}  # fmt: skip
    last = keras.saving.load_model(tmp_path / "run" / "model_last.keras")
    for variable in last.trainable_variables:
        path = next(p for p in averages if p.endswith(variable.path))
        assert np.array_equal(keras.ops.convert_to_numpy(variable), averages[path]), path
    (dropout,) = [layer for layer in last.layers if isinstance(layer, keras.layers.Dropout)]
    assert dropout.rate == 0.3


@pytest.mark.slow
def test_target_stops_training_once_reached(images, tmp_path, runner, monkeypatch):
    archive, _ = images
    monkeypatch.setenv("LAYERKIT_CACHE", str(tmp_path / "cache"))
    spec = tmp_path / "target.yaml"
    spec.write_text(TINY.replace("  seed: 3\n", "  seed: 3\n  target: {val_loss: 100}\n"
                                 "  early_dropout: 0.5\n"))  # fmt: skip
    result = run_cli(
        runner, "train", str(spec), "--data", str(archive), "--out", str(tmp_path / "r")
    )
    assert result.exit_code == 0, result.output
    assert "val_loss" in result.stderr and "reached the target 100.0 at epoch 1" in result.stdout
    assert ", no dropout layer for early_dropout →" in result.stderr  # TINY has none
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["epochs"] == 1 and metrics["status"] == "reached target"
    spec.write_text(TINY.replace("  seed: 3\n", "  seed: 3\n  target: {val_acc: 0.5}\n"))
    bad = run_cli(runner, "train", str(spec), "--data", str(archive), "--out", str(tmp_path / "b"))
    assert bad.exit_code == 2
    line = TINY.count("\n", 0, TINY.index("  seed: 3\n")) + 2
    assert f"{spec}:{line}:" in bad.stderr
    assert "train.target names 'val_acc', which this run does not measure" in bad.stderr
    assert "Did you mean 'val_accuracy'?" in bad.stderr


@pytest.mark.slow
def test_cifar_fast_spec_trains_on_a_few_hundred_images(images, tmp_path, runner, monkeypatch):
    """CI's short version of the benchmark: the real spec, unchanged but for size settings."""
    archive, _ = images
    monkeypatch.setenv("LAYERKIT_CACHE", str(tmp_path / "cache"))
    assert build(load_spec(SPECS / "cifar-fast.yaml")).count_params() == 2_494_982
    result = run_cli(runner, "train", str(SPECS / "cifar-fast.yaml"), "--data", str(archive),
                     "--epochs", "3", "--batch-size", "50", "--set", "train.validation_split=100",
                     "--set", "train.ema=0.8", "--out", str(tmp_path / "fast"))  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "fast" / "history.csv").read_text().splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, map(float, line.split(",")), strict=True)) for line in lines[1:]]
    assert len(rows) == 3 and rows[-1]["loss"] < rows[0]["loss"]
    assert "dropout in epoch 1 only" in result.stderr  # early_dropout 0.1 of 3 epochs, rounded up
    text = (ROOT / "specs" / "cifar-fast.yaml").read_text()
    assert text.count("ema: 0.99") == 1 and text.count("early_dropout: 0.1") == 1


def recipe_sweep():
    """bench/recipe_sweep.py as a module (bench/ is not a package)."""
    import importlib.util

    path = ROOT / "bench" / "recipe_sweep.py"
    module_spec = importlib.util.spec_from_file_location("recipe_sweep", path)
    sweep = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(sweep)
    return sweep


def test_every_recipe_sweep_variant_is_a_valid_spec():
    """bench/recipe_sweep.py's variants stay loadable as the spec language changes."""
    import yaml

    from layerkit import validate

    sweep = recipe_sweep()
    base = yaml.safe_load((SPECS / "cifar-fast.yaml").read_text())
    for name, edits in sweep.VARIANTS.items():
        spec = load_spec(yaml.safe_dump(sweep.edited(base, edits), sort_keys=False))
        assert validate(spec).spec.name == "cifar10_cnn_fast", name
    with pytest.raises(ValueError, match="the base spec has no 'trian' there"):
        sweep.edited(base, {"trian.epochs": 3})


def test_recipe_sweep_record_keeps_runs_across_sweeps(tmp_path):
    """--record merges finished runs into one file across sweeps (a rerun replaces its own entry,
    unfinished runs stay out), and the seed table read back from it averages what it holds."""
    sweep = recipe_sweep()

    def run(variant, seed, accuracy, finished=True):
        history = [
            {"epoch": float(epoch), "val_accuracy": value, "seconds": 100.0}
            for epoch, value in ((1, 0.5), (2, accuracy))
        ]
        return {f"{variant}/seed-{seed}": {"variant": variant, "seed": seed, "edits": {},
                                           "history": history, "finished": finished,
                                           "tta_translate_2": accuracy + 0.01}}  # fmt: skip

    path = tmp_path / "record.json"
    base = ROOT / "specs" / "cifar-fast.yaml"
    sweep.record(path, {**run("base", 0, 0.84), **run("base", 1, 0.2, finished=False)}, base, "")
    sweep.record(path, {**run("base", 1, 0.86), **run("lookahead", 0, 0.83)}, base, "cpu")
    kept = sweep.record(path, run("base", 0, 0.85), base, "rerun")
    assert sorted(kept["runs"]) == ["base/seed-0", "base/seed-1", "lookahead/seed-0"]
    assert kept["runs"]["base/seed-0"]["note"] == "rerun"
    assert kept["runs"]["base/seed-0"]["base"] == "cifar-fast.yaml"
    assert json.loads(path.read_text()) == kept and not list(tmp_path.glob("*.partial"))
    table = sweep.seed_table(kept["runs"], translate=2)
    assert "| base | 2 | 2 | 85.50 ± 0.71 % | — | 86.50 ± 0.71 % |" in table
    assert "| lookahead | 1 | 2 | 83.00 % | — | 84.00 % |" in table
    argv = [sys.executable, str(ROOT / "bench" / "recipe_sweep.py"), "--report", "--record",
            str(path), "--only", "base", "--translate", "2", "--out", str(tmp_path / "out")]  # fmt: skip
    printed = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    assert "| base | 2 | 2 | 85.50 ± 0.71 % | — | 86.50 ± 0.71 % |" in printed
    assert "lookahead" not in printed
    argv[-2:-2] = ["--seeds", "1"]  # and only the seeds asked for
    printed = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    assert "| base | 1 | 2 | 86.00 % | — | 87.00 % |" in printed and "base/seed-0" not in printed


def test_evaluate_flip_tta_on_grey_images_and_refused_for_other_inputs(images, tmp_path, runner):
    """Flip TTA mirrors the width axis of (height, width) images too, as it does of colour ones;
    an input that is not an image is refused with a message instead of a traceback."""
    from layerkit.data.load import load_dataset

    archive, x = images
    labels = load_dataset(str(archive), (32, 32, 3)).y[:200]
    grey = x[:200, 2:30, 2:30].mean(axis=-1).astype("uint8")  # real images, 28x28 grey
    np.savez(tmp_path / "grey.npz", x_train=grey, y_train=labels)
    spec = tmp_path / "grey.yaml"
    spec.write_text("name: grey\ninput: [28, 28]\nlayers:\n  - flatten\n"
                    "  - dense: {units: 10, activation: softmax}\n")  # fmt: skip
    model_path = tmp_path / "grey.keras"
    assert run_cli(runner, "build", str(spec), "--save", str(model_path)).exit_code == 0
    result = run_cli(runner, "evaluate", str(model_path), "--data", str(tmp_path / "grey.npz"),
                     "--tta", "flip", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    model = keras.saving.load_model(model_path)
    inputs = grey.astype("float32") / 255
    both = model.predict(inputs, verbose=0) + model.predict(inputs[:, :, ::-1], verbose=0)
    expected = float(np.mean(both.argmax(axis=1) == labels))
    report = json.loads(result.stdout)
    assert report["accuracy"] == pytest.approx(expected, abs=1e-9)
    # the 200 images hold classes 0-3 only; the model's other six classes are still counted
    assert report["class_names"] == [str(index) for index in range(10)]
    assert sum(map(sum, report["confusion"])) == 200

    spec.write_text("name: vectors\ninput: [8]\nlayers:\n  - dense: {units: 10}\n")
    assert run_cli(runner, "build", str(spec), "--save", str(tmp_path / "v.keras")).exit_code == 0
    refused = run_cli(runner, "evaluate", str(tmp_path / "v.keras"), "--data",
                      str(tmp_path / "grey.npz"), "--tta", "flip")  # fmt: skip
    assert refused.exit_code == 2
    assert refused.stderr == (
        "error: --tta flip mirrors images, but this model's input is (8,), not (height, width) "
        "or (height, width, channels); evaluate without --tta\n"
    )
