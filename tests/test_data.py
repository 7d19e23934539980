"""Data sources: archives, folders, zips and .npz from real CIFAR-10 images; their errors."""

from __future__ import annotations

import io
import re
import tarfile
import zipfile

import numpy as np
import pytest

from layerkit.data.dataset import DataError
from layerkit.data.load import load_dataset, split

from .conftest import SHARED_CIFAR, cifar_files, needs_shared_cifar


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERKIT_CACHE", str(tmp_path / "cache"))


def write_folder(root, files):
    for name, data in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def test_archive_folder_and_zip_give_the_same_arrays(tmp_path):
    files = cifar_files(4)
    folder = write_folder(tmp_path / "folder", files) / "train"
    archive = tmp_path / "small.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for name, data in files:
            zipped.writestr(name, data)
    from_folder = load_dataset(str(folder), (32, 32, 3))
    from_zip = load_dataset(str(archive), (32, 32, 3))
    assert from_folder.x.shape == (40, 32, 32, 3) and from_folder.x.dtype == np.uint8
    assert from_folder.class_names == ("airplane", "automobile", "bird", "cat", "deer", "dog",
                                       "frog", "horse", "ship", "truck")  # fmt: skip
    np.testing.assert_array_equal(from_folder.x, from_zip.x)
    np.testing.assert_array_equal(from_folder.y, np.repeat(np.arange(10), 4))


@pytest.mark.slow
@needs_shared_cifar
def test_the_shared_archive_loads_and_is_cached(tmp_path):
    first = load_dataset(str(SHARED_CIFAR), (32, 32, 3))
    assert first.x.shape == (50_000, 32, 32, 3)
    assert np.bincount(first.y).tolist() == [5000] * 10
    cached = list((tmp_path / "cache").glob("*.npz"))
    assert len(cached) == 1
    second = load_dataset(str(SHARED_CIFAR), (32, 32, 3))
    np.testing.assert_array_equal(first.x[:100], second.x[:100])


@needs_shared_cifar
def test_the_committed_sample_is_the_shared_archives_first_60_per_class():
    """tests/data/cifar10-600.tar.gz stands in for the shared archive: same images, same order."""
    wanted, counts = [], {}
    with tarfile.open(SHARED_CIFAR) as archive:
        for member in archive:
            label = member.name.split("/")[1] if member.isfile() else None
            if label and counts.get(label, 0) < 60:
                counts[label] = counts.get(label, 0) + 1
                wanted.append((member.name, archive.extractfile(member).read()))
            if len(wanted) == 600:
                break
    assert cifar_files(60) == wanted


def test_split_is_fixed_by_the_seed(tmp_path):
    dataset = load_dataset(str(write_folder(tmp_path / "f", cifar_files(4)) / "train"), (32, 32, 3))
    train, validation = split(dataset, 8, seed=3)
    assert len(train) == 32 and len(validation) == 8 and not set(train) & set(validation)
    assert split(dataset, 8, seed=3)[1].tolist() == validation.tolist()
    assert split(dataset, 0.25, seed=3)[1].size == 10
    with pytest.raises(DataError, match="leaves no training data"):
        split(dataset, 40, seed=0)


def test_corrupt_image_is_named_or_skipped(tmp_path):
    files = cifar_files(2)
    name, data = files[3]
    files[3] = (name, data[: len(data) // 3])  # truncated JPEG
    folder = write_folder(tmp_path / "f", files) / "train"
    with pytest.raises(DataError) as caught:
        load_dataset(str(folder), (32, 32, 3))
    assert str(caught.value).startswith(
        f"cannot read image '{name.removeprefix('train/')}' in '{folder}'"
    )
    assert "--skip-bad-images" in str(caught.value)
    dataset = load_dataset(str(folder), (32, 32, 3), skip_bad=True)
    assert len(dataset) == 19 and dataset.skipped == (name.removeprefix("train/"),)


def test_a_text_file_named_like_an_image_is_named_and_other_files_are_ignored(tmp_path):
    files = cifar_files(2)
    files.append(("train/cat/notes.jpg", b"not a picture at all"))
    files.append(("train/cat/README.txt", b"files that are not images by name are left alone"))
    folder = write_folder(tmp_path / "f", files) / "train"
    with pytest.raises(DataError, match=re.escape("cannot read image 'cat/notes.jpg'")):
        load_dataset(str(folder), (32, 32, 3))
    (folder / "cat" / "notes.jpg").unlink()
    assert len(load_dataset(str(folder), (32, 32, 3))) == 20


def test_wrong_size_says_both_sizes_or_resizes(tmp_path):
    folder = write_folder(tmp_path / "f", cifar_files(2)) / "train"
    with pytest.raises(DataError) as caught:
        load_dataset(str(folder), (28, 28, 3))
    assert "is 32x32, but the spec's input is 28x28; resize the images, or pass --resize" in str(
        caught.value
    )
    assert load_dataset(str(folder), (28, 28, 3), resize=True).x.shape == (20, 28, 28, 3)
    assert load_dataset(str(folder), (32, 32, 1)).x.shape == (20, 32, 32, 1)  # grey


def test_archive_paths_that_escape_are_refused(tmp_path):
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as tar:
        data = cifar_files(1)[0][1]
        info = tarfile.TarInfo("../outside/cat/0.jpg")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(
        DataError, match=re.escape("has a path that leaves its folder: '../outside/cat/0.jpg'")
    ):
        load_dataset(str(archive), (32, 32, 3))
    assert not (tmp_path.parent / "outside").exists()


def test_an_empty_class_folder_is_refused(tmp_path):
    folder = write_folder(tmp_path / "f", cifar_files(2)) / "train"
    (folder / "zebra").mkdir()
    with pytest.raises(DataError, match=r"class folder 'zebra' in '.*' has no images; add images"):
        load_dataset(str(folder), (32, 32, 3))
    archive = tmp_path / "with_empty.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(tmp_path / "f" / "train", arcname="train")
    with pytest.raises(DataError, match="class folder 'train/zebra' in"):
        load_dataset(str(archive), (32, 32, 3))


def test_single_class_and_empty_sources(tmp_path):
    one = (
        write_folder(tmp_path / "one", [(n, d) for n, d in cifar_files(2) if "/cat/" in n])
        / "train"
    )
    with pytest.raises(DataError, match="has one class folder \\(cat\\)"):
        load_dataset(str(one), (32, 32, 3))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        load_dataset(str(tmp_path / "empty"), (32, 32, 3))


def test_npz_arrays_and_their_errors(tmp_path):
    good = tmp_path / "good.npz"
    np.savez(good, x_train=np.zeros((6, 4), "float32"), y_train=np.array([0, 1, 2, 0, 1, 2]))
    dataset = load_dataset(str(good), (4,))
    assert dataset.class_names == ("0", "1", "2") and dataset.x.shape == (6, 4)
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=np.zeros((2, 4)), y_train=np.array([0, -1]))
    with pytest.raises(DataError, match=re.escape("labels run from -1 to 0, outside 0..0")):
        load_dataset(str(bad), (4,))
    missing = tmp_path / "missing.npz"
    np.savez(missing, images=np.zeros((2, 4)))
    with pytest.raises(DataError, match="has no x_train or y_train"):
        load_dataset(str(missing), (4,))


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x_test": np.zeros((2, 4))}, "has x_test but no y_test; give both, or neither"),
        (
            {"x_test": np.zeros((2, 4)), "y_test": np.array([0.0, 1.0])},
            "y_test must hold integer class labels, it holds float64",
        ),
        (
            {"x_test": np.zeros((2, 4)), "y_test": np.eye(3, dtype=int)[[0, 2]]},
            "y_test is one-hot (3 columns); give class numbers, e.g. y_test.argmax(axis=1)",
        ),
        (
            {"x_test": np.zeros((3, 4)), "y_test": np.array([0, 1])},
            "x_test has 3 samples but y_test 2",
        ),
        (
            {"x_test": np.zeros((2, 4)), "y_test": np.array([0, -1])},
            "y_test labels run from -1 to 0, outside 0..2 for 3 classes",
        ),
        ({"class_names": np.array(["a", "b"])}, "y_train labels run from 0 to 2, outside 0..1"),
    ],
)
def test_npz_test_arrays_are_checked_like_the_training_ones(tmp_path, arrays, message):
    path = tmp_path / "data.NPZ"  # the suffix in any case
    with open(path, "wb") as file:  # np.savez would add .npz to a path
        np.savez(file, x_train=np.zeros((3, 4)), y_train=np.array([0, 1, 2]), **arrays)
    with pytest.raises(DataError) as caught:
        load_dataset(str(path), (4,))
    assert message in str(caught.value)


def test_system_files_in_a_zip_are_ignored(tmp_path):
    """A zip made by macOS's Finder carries __MACOSX/ and ._ resource forks beside the images."""
    files = cifar_files(2)
    archive = tmp_path / "finder.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for name, data in files:
            zipped.writestr(name, data)
            folder, _, base = name.rpartition("/")
            zipped.writestr(f"__MACOSX/{folder}/._{base}", b"\x00\x05\x16\x07 resource fork")
            zipped.writestr(f"{folder}/._{base}", b"\x00\x05\x16\x07 resource fork")
    dataset = load_dataset(str(archive), (32, 32, 3))
    assert len(dataset) == 20 and dataset.class_names[0] == "airplane"


def test_an_unwritable_cache_costs_only_the_cache(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("LAYERKIT_CACHE", str(blocker))
    folder = write_folder(tmp_path / "f", cifar_files(2)) / "train"
    said: list[str] = []
    assert len(load_dataset(str(folder), (32, 32, 3), notify=said.append)) == 20
    # the warning goes to the reporter passed in, whole; the stage itself prints nothing
    assert len(said) == 1
    assert said[0].startswith(f"warning: cannot cache the decoded images in {blocker} (")
    assert said[0].endswith(
        "; they will be decoded again next time (LAYERKIT_CACHE sets the folder)"
    )
    assert capsys.readouterr() == ("", "")
    assert blocker.read_text() == "not a folder"
    assert len(load_dataset(str(folder), (32, 32, 3))) == 20  # no reporter: still nothing printed
    assert capsys.readouterr() == ("", "")


def test_builtin_dataset_offline_says_how_to_point_at_local_data(tmp_path, monkeypatch):
    # a mirror on a port nothing listens on: offline, wherever the tests run
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("LAYERKIT_DATASETS_MIRROR", "http://127.0.0.1:9")
    with pytest.raises(DataError) as caught:
        load_dataset("cifar100", (32, 32, 3))
    cache = tmp_path / "keras" / "datasets"
    assert str(caught.value) == (
        f"the built-in dataset 'cifar100' is not in Keras's cache ({cache}) and could not be "
        "downloaded from http://127.0.0.1:9/cifar-100-python.tar.gz ([Errno 111] Connection "
        "refused). Connect to the internet and run again, or download "
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz and save it as "
        f"{cache / 'cifar-100-python-target_archive'}, or give --data PATH (a folder or archive "
        "of class folders, or an .npz with x_train and y_train)"
    )
    assert list(cache.iterdir()) == []  # no partial download left behind
    with pytest.raises(DataError, match="Did you mean 'cifar10'"):
        load_dataset("cifar-10", (32, 32, 3))


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    from PIL import Image

    folder = write_folder(tmp_path / "f", cifar_files(2)) / "train"
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 400)  # 32x32 = 1024 > 2 x 400: a "bomb" here
    with pytest.raises(DataError, match="is too large to decode safely"):
        load_dataset(str(folder), (32, 32, 3))
