"""The settings of fast recipe 3 (issue 20), on real CIFAR-10 images: alternating flips.

Each setting is checked where it acts (the batches, the model) against a hand computation, and
refused at its line by ``layerkit validate`` when misspelt; that a run using it resumes exactly is
checked with the other settings in tests/test_resume_exact.py.
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
