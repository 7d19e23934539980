"""The settings of fast recipe 3 (issue 20) that act on the images, on real CIFAR-10 images:
``alternating_flip`` in ``augment:`` and ``train.tta_translate`` (with ``layerkit evaluate
--tta-translate``).

Each setting is checked where it acts (the batches, the TTA average) against a hand computation,
in a real run, and refused at its line by ``layerkit validate`` when misspelt; that a run using it
resumes exactly is checked with the other settings in tests/test_resume_exact.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from layerkit.cli import main

from .conftest import cifar_subset


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """16 real CIFAR-10 images per class, as an array of float32 pixels and their labels."""
    from layerkit.data.load import load_dataset

    archive = cifar_subset(tmp_path_factory.mktemp("recipe") / "cifar160.tar", 16)
    dataset = load_dataset(str(archive), (32, 32, 3))
    return dataset.x.astype("float32"), dataset.y


# -- alternating_flip --------------------------------------------------------------------------


def mirrored_by_epoch(stream, x: np.ndarray, epochs: int) -> np.ndarray:
    """(epochs, images): whether each image came out of the stream mirrored in each epoch, found
    by matching every batch row against the image and its mirror."""
    steps = stream.steps
    seen = np.zeros((epochs, len(x)), dtype=bool)
    for epoch in range(epochs):
        order = stream.order(stream.first_epoch + epoch)
        for step in range(steps):
            batch, _ = stream[epoch * steps + step]
            chosen = order[step * stream.batch_size : (step + 1) * stream.batch_size]
            plain = (batch == x[chosen]).all(axis=(1, 2, 3))
            flipped = (batch == x[chosen][:, :, ::-1]).all(axis=(1, 2, 3))
            assert (plain | flipped).all()
            seen[epoch, chosen] = flipped & ~plain
    return seen


def test_alternating_flip_mirrors_each_image_on_every_other_epoch(images):
    from layerkit.training.batches import EpochBatches

    x, y = images
    stream = EpochBatches(x, y, batch_size=32, seed=5, first_epoch=0, alternate_flips=True)
    seen = mirrored_by_epoch(stream, x, 4)
    # a random half in the first epoch (160 images: 50% ± 4 sd is 55-105), then exactly the others
    assert 55 <= seen[0].sum() <= 105
    for epoch in range(1, 4):
        assert np.array_equal(seen[epoch], ~seen[epoch - 1]), epoch
    # drawn from the seed, the epoch and the image: a resumed stream mirrors what the run did
    resumed = EpochBatches(x, y, batch_size=32, seed=5, first_epoch=2, alternate_flips=True)
    assert np.array_equal(mirrored_by_epoch(resumed, x, 2), seen[2:])
    other = EpochBatches(x, y, batch_size=32, seed=6, first_epoch=0, alternate_flips=True)
    assert not np.array_equal(mirrored_by_epoch(other, x, 1)[0], seen[0])
    # without the setting nothing is mirrored where the batches are drawn
    plain = EpochBatches(x, y, batch_size=32, seed=5, first_epoch=0)
    assert not mirrored_by_epoch(plain, x, 2).any()


def test_alternating_flip_is_on_only_with_the_augment_entry_and_augmentation_on(write_spec):
    from layerkit import load_spec, validate
    from layerkit.training.recipe import alternates_flips

    spec = write_spec(
        """
        name: alt
        input: [32, 32, 3]
        layers: [flatten, {dense: {units: 10, activation: softmax}}]
        augment:
          - random_padded_crop: {padding: 2}
          - alternating_flip
        """
    )
    plan = validate(load_spec(spec))
    assert [layer.class_name for layer in plan.augment] == ["RandomPaddedCrop", "AlternatingFlip"]
    assert alternates_flips(plan, augment=True)
    assert not alternates_flips(plan, augment=False)  # --no-augment
    plain = validate(load_spec(spec.read_text().replace("  - alternating_flip\n", "")))
    assert not alternates_flips(plain, augment=True)


def test_the_alternating_flip_layer_passes_images_through(images):
    from layerkit.catalog.augmentations import AlternatingFlip

    x, _ = images
    assert np.array_equal(np.asarray(AlternatingFlip()(x[:8], training=True)), x[:8])
    with pytest.raises(ValueError, match="batches of images"):
        AlternatingFlip()(x[:8].reshape(8, -1))


def test_a_misspelt_alternating_flip_is_refused_at_its_line(write_spec, runner):
    spec = write_spec(
        """
        name: alt
        input: [32, 32, 3]
        layers: [flatten, {dense: {units: 10, activation: softmax}}]
        augment:
          - alternating_flip: {mode: horizontal}
          - alternate_flip
        """
    )
    result = runner.invoke(main, ["validate", str(spec)])
    assert result.exit_code == 2, result.output
    lines = result.output.splitlines()
    assert any(f"{spec}:5:" in line and "unknown argument 'mode'" in line for line in lines), (
        result.output
    )
    assert any(f"{spec}:6:" in line and "alternating_flip" in line for line in lines), result.output


# -- tta_translate -----------------------------------------------------------------------------


def tiny_model(seed: int = 0):
    """A small conv net with random weights: enough to tell every view of an image apart."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((32, 32, 3)),
        keras.layers.Rescaling(1 / 255),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
        keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])  # fmt: skip


def shifted_by_hand(x: np.ndarray, down: int, right: int) -> np.ndarray:
    """Each image moved ``down`` rows and ``right`` columns (negative: up, left), the pixels that
    come in read from the image mirrored at its edge (without repeating the edge)."""

    def source(index: int, size: int) -> int:
        return -index if index < 0 else 2 * (size - 1) - index if index >= size else index

    height, width = x.shape[1:3]
    rows = [source(row - down, height) for row in range(height)]
    cols = [source(col - right, width) for col in range(width)]
    return x[:, rows][:, :, cols]


def tta_by_hand(model, x: np.ndarray, translate: int) -> np.ndarray:
    """airbench's average: the image and its mirror count half, each shifted pair a quarter."""

    def pair(images):
        return (model.predict(images, verbose=0) + model.predict(images[:, :, ::-1], verbose=0)) / 2

    near = pair(x)
    if not translate:
        return near
    return (
        near / 2
        + pair(shifted_by_hand(x, translate, translate)) / 4
        + pair(shifted_by_hand(x, -translate, -translate)) / 4
    )


@pytest.mark.parametrize(("translate", "views"), [(0, 2), (2, 6), (1, 6)])
def test_tta_averages_the_views_airbench_does(images, translate, views):
    from layerkit.training.recipe import ModelOutput, tta_probabilities

    x = images[0][::8]  # 20 images, two of each class
    model = tiny_model()
    seen = []

    def predict(batch):
        seen.append(batch.copy())
        return model.predict(batch, verbose=0)

    got = tta_probabilities(predict, x, ModelOutput("softmax", "dense"), translate)
    assert len(seen) == views and all(batch.shape == x.shape for batch in seen)
    assert len({batch.tobytes() for batch in seen}) == views  # every view a different image
    np.testing.assert_allclose(got, tta_by_hand(model, x, translate), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got.sum(axis=1), 1, rtol=1e-5)
    if translate:  # the shifted views change the answer
        assert not np.allclose(got, tta_by_hand(model, x, 0), atol=1e-4)


@pytest.mark.slow
def test_val_accuracy_tta_and_evaluate_average_the_translated_views(images):
    from layerkit.spec.settings import Normalize
    from layerkit.training.callbacks import FlipValidation, MovingAverage
    from layerkit.training.evaluate import Trained, predict_probabilities
    from layerkit.training.recipe import model_output

    x, y = images
    model = tiny_model(1)
    expected = tta_by_hand(model, x, 2)
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    average = MovingAverage(enabled=False)
    average.set_model(model)
    validation = FlipValidation(x, y, 32, average, model_output(model), 2)
    validation.set_model(model)
    logs: dict = {}
    validation.on_epoch_end(0, logs)
    assert logs["val_accuracy_tta"] == pytest.approx(np.mean(expected.argmax(axis=1) == y))
    # layerkit evaluate --tta flip --tta-translate 2 (a .keras file is fed pixels scaled by 1/255:
    # the model here scales them itself, so it is given scale 1)
    trained = Trained(model, Normalize(scale=1.0), None)
    got = predict_probabilities(trained, x, "flip", translate=2)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        predict_probabilities(trained, x, "flip"), tta_by_hand(model, x, 0), rtol=1e-5, atol=1e-7
    )


TTA_SPEC = """\
name: tta
input: [32, 32, 3]
layers: [flatten, {dense: {units: 10, activation: softmax}}]
train:
"""


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ("  tta_translate: 2\n",
         "spec.yaml:5:18: error: train.tta_translate: tta_translate shifts the views that flip TTA "
         "averages, but tta is off. Add 'tta: flip', or remove tta_translate."),
        ("  tta: flip\n  tta_translate: 32\n",
         "spec.yaml:6:18: error: train.tta_translate: tta_translate 32 shifts the images by at "
         "least their size ([32, 32, 3]). Write e.g. 'tta_translate: 2'."),
        ("  tta: flip\n  tta_translate: -1\n",
         "spec.yaml:6:18: error: train.tta_translate: expected an integer of at least 0, received "
         "int -1"),
        ("  tta: flip\n  tta_translat: 2\n",
         "spec.yaml:6:3: error: train.tta_translat: unknown train setting 'tta_translat'. Did you "
         "mean 'tta_translate'?"),
    ],
)  # fmt: skip
def test_tta_translate_mistakes_are_refused_at_their_line(lines, message, runner, tmp_path,
                                                          monkeypatch):  # fmt: skip
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec.yaml").write_text(TTA_SPEC + lines, encoding="utf-8")
    result = runner.invoke(main, ["validate", "spec.yaml"])
    assert result.exit_code == 2
    assert result.output.splitlines()[0] == message


def test_evaluate_refuses_tta_translate_without_flip(runner, tmp_path):
    model = tiny_model()
    model.save(tmp_path / "m.keras")
    result = runner.invoke(main, ["evaluate", str(tmp_path / "m.keras"), "--data", "cifar10",
                                  "--tta-translate", "2"])  # fmt: skip
    assert result.exit_code == 2
    assert result.output == (
        "error: --tta-translate shifts the views flip TTA averages; add --tta flip\n"
    )


TRANSLATED_RUN = """\
name: translated
input: [32, 32, 3]
layers:
  - conv2d: {filters: 8, kernel_size: 3, padding: same, activation: relu}
  - max_pooling2d: {pool_size: 4}
  - flatten
  - dense: {units: 10, activation: softmax}
augment:
  - alternating_flip
train:
  optimizer: {adam: {learning_rate: 0.003}}
  tta: flip
  tta_translate: 2
  lookahead: {every: 4, alpha: 0.5}   # 120 images in batches of 32: at each epoch's end
  batch_size: 32
  epochs: 2
  validation_split: 40
  seed: 4
"""


@pytest.mark.slow
def test_a_run_logs_translated_tta_and_evaluate_gives_it_again(tmp_path, runner, monkeypatch):
    import json

    from layerkit.training import batches

    archive = cifar_subset(tmp_path / "cifar.tar", 16)
    monkeypatch.setenv("LAYERKIT_CACHE", str(tmp_path / "cache"))
    (tmp_path / "spec.yaml").write_text(TRANSLATED_RUN, encoding="utf-8")
    drawn, flips = [], batches.alternating_flips

    def watched(seed: int, count: int, epoch: int) -> np.ndarray:
        drawn.append((seed, count, epoch))
        return flips(seed, count, epoch)

    monkeypatch.setattr(batches, "alternating_flips", watched)
    result = runner.invoke(main, ["train", str(tmp_path / "spec.yaml"), "--data", str(archive),
                                  "--out", str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 0, result.output
    # the run's batches were mirrored, from its seed, in both epochs (Keras may draw ahead)
    assert {(4, 120, 0), (4, 120, 1)} <= set(drawn) and {item[:2] for item in drawn} == {(4, 120)}
    best = json.loads((tmp_path / "run" / "metrics.json").read_text())["best"]
    args = ["evaluate", str(tmp_path / "run"), "--tta", "flip", "--tta-translate", "2"]
    translated = json.loads(runner.invoke(main, [*args, "--json"]).stdout)
    assert translated["accuracy"] == pytest.approx(best["val_accuracy_tta"], abs=1e-6)
    assert (translated["tta"], translated["tta_translate"], translated["n"]) == ("flip", 2, 40)
    shown = runner.invoke(main, [*args, "--plain"]).stdout
    assert "(flip TTA, shifted ±2 px)" in shown.splitlines()[0]
    # each kind of evaluation keeps its own confusion matrix: a later plain --tta flip does not
    # replace the translated one
    translated_png = tmp_path / "run" / "confusion_tta_translate2.png"
    written = translated_png.read_bytes()
    assert runner.invoke(main, ["evaluate", str(tmp_path / "run"), "--tta", "flip"]).exit_code == 0
    assert (tmp_path / "run" / "confusion_tta.png").is_file()
    assert translated_png.read_bytes() == written
    # the checkpoint holds Lookahead's slow weights, equal to the fast ones after the last update;
    # the saved model is the spec's, without them
    import keras

    checkpoint = keras.saving.load_model(tmp_path / "run" / "checkpoints" / "epoch-0002.keras")
    slow = checkpoint.get_layer("lookahead_slow_weights").slow
    fast = checkpoint.get_layer("translated").trainable_weights
    assert len(slow) == len(fast) == 4
    for a, b in zip(slow, fast, strict=True):
        assert np.array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    last = keras.saving.load_model(tmp_path / "run" / "model_last.keras")
    assert last.count_params() == 8 * 27 + 8 + 512 * 10 + 10


FLIP_MODEL = """\
name: t
input: [32, 32, 3]
layers:
  - flatten
  - dense: {units: 10, activation: softmax}
"""
BLOCK_MODEL = """\
name: t
input: [32, 32, 3]
blocks:
  b:
    layers:
      - alternating_flip
      - flatten
layers:
  - b
  - dense: {units: 10, activation: softmax}
"""


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (FLIP_MODEL + "augment:\n  - random_flip: {mode: horizontal}\n  - alternating_flip\n",
         "spec.yaml:8:5: error: augment[1].alternating_flip: alternating_flip mirrors images left "
         "to right on alternate epochs, and random_flip (line 7) with mode 'horizontal' mirrors "
         "them at random too. Remove one of them (or give random_flip mode: vertical)."),
        (FLIP_MODEL + "augment:\n  - alternating_flip\n  - random_flip\n",
         "spec.yaml:7:5: error: augment[0].alternating_flip: alternating_flip mirrors images left "
         "to right on alternate epochs, and random_flip (line 8) with mode "
         "'horizontal_and_vertical' mirrors them at random too. Remove one of them (or give "
         "random_flip mode: vertical)."),
        (FLIP_MODEL + "augment:\n  - alternating_flip\n  - alternating_flip\n",
         "spec.yaml:8:5: error: augment[1].alternating_flip: alternating_flip is already in the "
         "augment: list (line 7). Remove one of them."),
        (FLIP_MODEL.replace("  - flatten\n", "  - alternating_flip\n  - flatten\n"),
         "spec.yaml:4:5: error: layers[0].alternating_flip: alternating_flip acts only as an "
         "augment: entry (training mirrors the images as it draws each batch); among the model's "
         "layers it would do nothing. Move it to the augment: list."),
        (BLOCK_MODEL,
         "spec.yaml:6:9: error: layers[0].b → blocks.b.layers[0].alternating_flip: "
         "alternating_flip acts only as an augment: entry (training mirrors the images as it "
         "draws each batch); among the model's layers it would do nothing. Move it to the "
         "augment: list."),
        (FLIP_MODEL + "augment:\n  - random_flip: {mode: vertical}\n  - alternating_flip\n",
         None),
    ],
)  # fmt: skip
def test_alternating_flip_is_refused_where_the_docs_rule_it_out(document, message, validate_text):
    """Twice, beside a random_flip that mirrors left to right, or outside augment: (where it
    passes the images through) it was accepted."""
    result = validate_text(document)
    if message is None:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code == 2
        assert result.errors == [message]


@pytest.mark.slow
@pytest.mark.parametrize("translate", ["2", "32"])
def test_evaluate_with_tta_translate_on_a_model_of_any_image_size_says_what_is_wrong(
    translate, runner, tmp_path
):
    """A model whose input is (None, None, 3) has no image size to check --tta-translate against:
    the evaluation goes on to the data's check (as it does without --tta-translate) instead of
    failing inside on comparing None."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((None, None, 3)),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10, activation="softmax"),
    ])  # fmt: skip
    model.save(tmp_path / "dyn.keras")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (12, 32, 32, 3)).astype("uint8")
    np.savez(tmp_path / "small.npz", x_train=x, y_train=np.arange(12) % 10)
    result = runner.invoke(main, ["evaluate", str(tmp_path / "dyn.keras"), "--data",
                                  str(tmp_path / "small.npz"), "--tta", "flip",
                                  "--tta-translate", translate])  # fmt: skip
    assert result.exit_code == 2
    assert result.output == (
        "error: the data's samples are (32, 32, 3), but the model's input is (None, None, 3); "
        "give data of that shape\n"
    )


CHANNELS_FIRST = """\
name: cfirst
input: [3, 32, 32]
layers:
  - conv2d: {filters: 8, kernel_size: 3, data_format: channels_first}
  - flatten
  - dense: {units: 10, activation: softmax}
"""
NEEDS = "These settings need channels_last images ([height, width, channels]): "
CONV = "the Conv2D layer at line 4 has data_format: channels_first"


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ("train:\n  tta: flip\n  tta_translate: 3\n",
         f"spec.yaml:8:8: error: train.tta: tta: flip mirrors and shifts channels_last images, but "
         f"{CONV}. {NEEDS}remove 'tta: flip', or make the layers channels_last."),
        ("augment:\n  - alternating_flip\n",
         f"spec.yaml:8:5: error: augment[0].alternating_flip: alternating_flip mirrors or crops "
         f"channels_last images, but {CONV}. {NEEDS}remove alternating_flip, or make the layers "
         "channels_last."),
        ("augment:\n  - random_flip: {mode: horizontal}\n",
         f"spec.yaml:8:5: error: augment[0].random_flip: random_flip takes images as channels_last "
         f"unless told otherwise, but {CONV}. Add data_format: channels_first to random_flip."),
        ("augment:\n  - random_flip: {mode: horizontal, data_format: channels_first}\n", None),
    ],
)  # fmt: skip
def test_image_settings_are_refused_for_a_channels_first_model(lines, message, runner, tmp_path,
                                                                monkeypatch):  # fmt: skip
    """tta: flip, tta_translate, alternating_flip and a random_flip without data_format would
    mirror and shift the wrong axes of (channels, height, width) images: refused at their line,
    once (tta_translate 3 is not measured against the channels)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec.yaml").write_text(CHANNELS_FIRST + lines, encoding="utf-8")
    result = runner.invoke(main, ["validate", "spec.yaml"])
    if message is None:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 2
    assert result.output.splitlines() == [message]


@pytest.mark.slow
def test_evaluate_refuses_flip_tta_for_a_channels_first_model(runner, tmp_path):
    import keras

    model = keras.Sequential([
        keras.Input((3, 32, 32)),
        keras.layers.Conv2D(4, 3, data_format="channels_first", name="conv"),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])  # fmt: skip
    model.save(tmp_path / "cfirst.keras")
    x = np.random.default_rng(0).integers(0, 255, (12, 3, 32, 32)).astype("uint8")
    np.savez(tmp_path / "cfirst.npz", x_train=x, y_train=np.arange(12) % 10)
    result = runner.invoke(main, ["evaluate", str(tmp_path / "cfirst.keras"), "--data",
                                  str(tmp_path / "cfirst.npz"), "--tta", "flip"])  # fmt: skip
    assert result.exit_code == 2
    assert result.output == (
        "error: --tta flip mirrors and shifts channels_last images, but layer 'conv' has "
        "data_format channels_first; evaluate without --tta\n"
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ("train:\n  tta: flip\n",
         "spec.yaml:5:8: error: train.tta: tta mirrors channels_last images, but Keras's "
         "image_data_format is channels_first. Set image_data_format to channels_last "
         "(keras.json), or remove it."),
        ("augment:\n  - alternating_flip\n",
         "spec.yaml:5:5: error: augment[0].alternating_flip: alternating_flip mirrors "
         "channels_last images, but Keras's image_data_format is channels_first. Set "
         "image_data_format to channels_last (keras.json), or remove it."),
    ],
)  # fmt: skip
def test_train_refuses_flips_under_keras_channels_first(lines, message, runner, tmp_path):
    """Keras's own image_data_format channels_first makes conv2d layers take (channels, height,
    width) images: train refuses the flips at their line, before loading any data."""
    import keras

    (tmp_path / "spec.yaml").write_text(TTA_SPEC.replace("train:\n", "") + lines, encoding="utf-8")
    x = np.zeros((8, 32, 32, 3), "uint8")
    np.savez(tmp_path / "small.npz", x_train=x, y_train=np.arange(8))
    keras.config.set_image_data_format("channels_first")
    try:
        result = runner.invoke(main, ["train", str(tmp_path / "spec.yaml"), "--data",
                                      str(tmp_path / "small.npz"), "--out",
                                      str(tmp_path / "run")])  # fmt: skip
    finally:
        keras.config.set_image_data_format("channels_last")
    assert result.exit_code == 2
    where = str(tmp_path / "spec.yaml")
    assert result.output.splitlines() == [message.replace("spec.yaml", where)]
