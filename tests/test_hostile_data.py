"""Hostile data (issue 15): archives, .npz files, images and .keras files built to exhaust memory,
hang, lie or silently mean something else. Each is a real file written here; where a case bounds
time or memory it runs in a child process with a 10 s timeout and a 1 GiB address-space cap (or,
where TensorFlow loads, its peak resident memory measured)."""

from __future__ import annotations

import gzip
import io
import json
import os
import resource
import signal
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from layerkit.data.dataset import DataError
from layerkit.data.images import image_files, read_image_files
from layerkit.data.load import load_dataset
from layerkit.keras_archive import keras_file_problem

from .conftest import ROOT, machine_pace

GiB = 2**30
MiB = 2**20
# CRC-32 of 1.5 GiB of zero bytes and of spaces, and of 200 MiB of zeros (zlib.crc32 over blocks
# of 1 MiB), so a test writes a real zip or gzip of such data without spending a second on it
CRC_ZEROS_1536_MIB = 0x400AE278
CRC_ZEROS_200_MIB = 0x534F0861
CRC_SPACES_1536_MIB = 0xA1E59517


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERKIT_CACHE", str(tmp_path / "cache"))


# -- building real files ----------------------------------------------------------------------


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def small_images() -> list[tuple[str, bytes]]:
    """Two classes of two 8x8 RGB images each."""
    rng = np.random.default_rng(0)
    return [(f"{name}/{index}.png", png(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)))
            for name in ("cat", "dog") for index in range(2)]  # fmt: skip


def repeated_deflate(fill: bytes, mebibytes: int) -> bytes:
    """Raw deflate of ``mebibytes`` MiB of ``fill``: one fully flushed block, repeated."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(fill * MiB) + compressor.flush(zlib.Z_FULL_FLUSH)
    return block * mebibytes + compressor.flush(zlib.Z_FINISH)


@dataclass(frozen=True)
class Entry:
    name: str
    data: bytes  # as stored
    size: int  # uncompressed, as declared
    crc: int
    method: int = zipfile.ZIP_STORED


def stored(name: str, data: bytes) -> Entry:
    return Entry(name, data, len(data), zlib.crc32(data))


def write_zip(path: Path, entries: list[Entry]) -> Path:
    """A zip written byte by byte, so a member can be a pre-compressed 1.5 GiB stream."""
    local, central = bytearray(), bytearray()
    for entry in entries:
        name = entry.name.encode()
        offset = len(local)
        fields = (20, 0, entry.method, 0, 0, entry.crc, len(entry.data), entry.size, len(name))
        local += struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields, 0) + name + entry.data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, *fields, 0, 0, 0, 0, 0,
                               offset) + name  # fmt: skip
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central),
                      len(local), 0)  # fmt: skip
    path.write_bytes(bytes(local + central + end))
    return path


def huge_zeros(name: str) -> Entry:
    """A member of 1.5 GiB of zero bytes, 1.6 MB compressed."""
    return Entry(name, repeated_deflate(b"\0", 1536), 1536 * MiB, CRC_ZEROS_1536_MIB, 8)


def gzip_member(deflated: bytes, crc: int, size: int) -> bytes:
    """One member of a gzip stream around raw deflate data (a stream may hold several)."""
    return (
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
        + deflated
        + struct.pack("<II", crc, size % 2**32)
    )


def tar_file(name: str, data: bytes) -> bytes:
    """A tar member: its header, its data padded to the 512-byte block."""
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info.tobuf() + data + bytes(-len(data) % tarfile.BLOCKSIZE)


def zeros_in_tar_gz(name: str, mebibytes: int, crc: int, before: bytes, after: bytes) -> bytes:
    """A .tar.gz: the tar bytes ``before``, a member of ``mebibytes`` MiB of zeros, ``after``
    and the end of the archive, the zeros a gzip member of their own (compressed once)."""
    header = tarfile.TarInfo(name)
    header.size = mebibytes * MiB
    zeros = gzip_member(repeated_deflate(b"\0", mebibytes), crc, header.size)
    return (gzip.compress(before + header.tobuf()) + zeros
            + gzip.compress(after + bytes(2 * tarfile.BLOCKSIZE)))  # fmt: skip


def write_npz(path: Path, **arrays: np.ndarray) -> Path:
    with open(path, "wb") as file:
        np.savez(file, **arrays)
    return path


# -- running a child with bounded time and memory -----------------------------------------------


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str
    peak_mb: float
    seconds: float


# Starts ARGS from a small process and writes their peak resident memory (KB) to argv[1]. A child
# forked from pytest itself would report pytest's peak instead: Linux keeps a process's largest
# resident size across fork and exec, and pytest holds gigabytes by the end of the suite.
LAUNCHER = (
    "import os, resource, signal, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "open(sys.argv[1], 'w').write(str(peak))\n"
    "if code < 0:\n"
    "    os.kill(os.getpid(), -code)\n"
    "sys.exit(code)\n"
)


def run_bounded(args: list[str], *, cap: int | None = GiB, timeout: float = 10,
                cwd: Path | None = None) -> Outcome:  # fmt: skip
    """Run ``args``, killed past ``timeout`` seconds of the development machine (scaled by
    :func:`machine_pace`), its address space capped at ``cap`` bytes (None: uncapped, for
    TensorFlow, which reserves far more than it uses); its peak resident memory from the
    kernel's accounting of that one process."""
    timeout *= machine_pace()

    def limit() -> None:
        if cap is not None:
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    with tempfile.TemporaryDirectory() as folder, tempfile.TemporaryFile() as out, \
            tempfile.TemporaryFile() as err:  # fmt: skip
        peak_file = Path(folder) / "peak"
        start = time.monotonic()
        child = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(peak_file), *args],
                                 stdout=out, stderr=err, preexec_fn=limit, env=env,
                                 cwd=cwd or ROOT, start_new_session=True)  # fmt: skip
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            pytest.fail(f"{args[-1][:80]!r} ran past {timeout} s")
        out.seek(0)
        err.seek(0)
        return Outcome(child.returncode, out.read().decode(), err.read().decode(),
                       int(peak_file.read_text()) / 1024, time.monotonic() - start)  # fmt: skip


def load_in_child(source: Path, shape: tuple[int, ...] = (8, 8, 3)) -> Outcome:
    """load_dataset in a child: prints the images' shape, or the DataError's one line."""
    code = (
        "from layerkit.data.load import load_dataset\n"
        "from layerkit.data.dataset import DataError\n"
        f"try:\n    print(load_dataset({str(source)!r}, {shape!r}).x.shape)\n"
        "except DataError as error:\n    print('error:', error)\n"
    )
    return run_bounded([sys.executable, "-c", code])


# -- archives and folders ----------------------------------------------------------------------


def test_a_zip_member_that_is_not_an_image_is_never_read(tmp_path):
    """A 1.6 MB zip holding 1.5 GiB of zeros beside the images (3.7 GB peak before)."""
    archive = write_zip(
        tmp_path / "data.zip",
        [stored(name, data) for name, data in small_images()] + [huge_zeros("notes/big.bin")],
    )
    assert archive.stat().st_size < 2 * MiB
    outcome = load_in_child(archive)
    assert (outcome.code, outcome.stdout, outcome.stderr) == (0, "(4, 8, 8, 3)\n", "")
    assert outcome.peak_mb < 300, outcome.peak_mb


def test_an_image_member_over_the_file_limit_is_refused_unread(tmp_path):
    """An image declared at 1.5 GiB is refused from the zip's directory, the limit named."""
    archive = write_zip(
        tmp_path / "data.zip",
        [stored(name, data) for name, data in small_images()] + [huge_zeros("dog/huge.png")],
    )
    outcome = load_in_child(archive)
    assert outcome.stdout == (
        f"error: image 'dog/huge.png' in '{archive}' is too large to decode safely (1536.0 MiB, "
        "over the limit of 64 MiB); remove it\n"
    )
    assert outcome.peak_mb < 300, outcome.peak_mb


def test_a_zip_that_understates_a_member_is_read_no_further_than_the_limit(tmp_path):
    """The directory says 100 bytes; the stream inflates to 1.5 GiB."""
    huge = huge_zeros("dog/liar.png")
    liar = Entry(huge.name, huge.data, 100, huge.crc, huge.method)
    archive = write_zip(tmp_path / "data.zip", [stored(n, d) for n, d in small_images()] + [liar])
    outcome = load_in_child(archive)
    assert outcome.stdout == (
        f"error: cannot read archive '{archive}' (Bad CRC-32 for file 'dog/liar.png'); give a "
        "whole .tar, .tar.gz or .zip of class folders\n"
    )
    assert outcome.peak_mb < 400, outcome.peak_mb


def test_a_tar_image_over_the_file_limit_is_refused(tmp_path):
    archive = tmp_path / "data.tar"
    with tarfile.open(archive, "w") as tar:
        for name, data in small_images():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("cat/big.png")
        info.size = 65 * MiB
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    with pytest.raises(DataError) as caught:
        load_dataset(str(archive), (8, 8, 3))
    assert str(caught.value) == (
        f"image 'cat/big.png' in '{archive}' is too large to decode safely (65.0 MiB, over the "
        "limit of 64 MiB); remove it"
    )


def test_a_compressed_tar_that_inflates_past_its_budget_is_refused_unread(tmp_path):
    """1.5 GiB of zeros in a 1.6 MB .tar.gz: listing it would inflate it all."""
    images = b"".join(tar_file(name, data) for name, data in small_images())
    archive = tmp_path / "data.tar.gz"
    archive.write_bytes(zeros_in_tar_gz("notes/big.bin", 1536, CRC_ZEROS_1536_MIB, images, b""))
    outcome = load_in_child(archive)
    assert outcome.stdout == (
        f"error: '{archive}' inflates to more than 268,435,456 bytes, over 100 times its own "
        "size (a compression bomb?); unpack it into a folder and give that folder\n"
    )
    assert outcome.seconds < 5 * machine_pace() and outcome.peak_mb < 300, outcome


def test_a_compressed_tar_is_read_in_its_own_order_not_inflated_again_per_image(tmp_path):
    """200 MiB of zeros, then 30 images in reverse name order: read by name, each image lay
    before the previous one, and the stream was inflated again from its start for each."""
    rng = np.random.default_rng(1)
    names = [f"{kind}/{index:02d}.png" for kind in ("cat", "dog") for index in range(15)]
    images = {name: png(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)) for name in names}
    after = b"".join(tar_file(name, images[name]) for name in reversed(names))
    archive = tmp_path / "data.tar.gz"
    archive.write_bytes(zeros_in_tar_gz("notes/pad.bin", 200, CRC_ZEROS_200_MIB, b"", after))
    outcome = load_in_child(archive)
    assert (outcome.code, outcome.stdout, outcome.stderr) == (0, "(30, 8, 8, 3)\n", "")
    assert outcome.peak_mb < 300, outcome
    first = load_dataset(str(archive), (8, 8, 3))  # in name order, labelled by class folder
    assert first.y.tolist() == [0] * 15 + [1] * 15
    expected = np.asarray(Image.open(io.BytesIO(images["cat/00.png"])))
    np.testing.assert_array_equal(first.x[0], expected)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_as_the_data_is_refused_and_in_a_folder_skipped(tmp_path):
    fifo = tmp_path / "data.zip"
    os.mkfifo(fifo)
    outcome = load_in_child(fifo)  # opening a FIFO to read waits for a writer: it must not
    assert outcome.stdout == (
        f"error: '{fifo}' is not a regular file or a folder (a FIFO, socket or device); give a "
        "folder, an archive or an .npz\n"
    )
    folder = tmp_path / "images"
    for name, data in small_images():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    os.mkfifo(folder / "cat" / "pipe.png")
    assert load_in_child(folder).stdout == "(4, 8, 8, 3)\n"


# -- .npz ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x_train": np.array(["a", "b"]), "y_train": np.array([0, 1])},
         "cannot read x_train from '{path}' (it holds <U1 values, not numbers); save plain "
         "numeric arrays with numpy.savez"),
        ({"x_train": np.array(2.0), "y_train": np.array([0])},
         "cannot read x_train from '{path}' (it is a single value (shape ()), not an array of "
         "samples); save plain numeric arrays with numpy.savez"),
        ({"x_train": np.zeros((2, 3)), "y_train": np.array(1)},
         "cannot read y_train from '{path}' (it is a single value (shape ()), not an array of "
         "samples); save plain numeric arrays with numpy.savez"),
        ({"x_train": np.zeros((2, 3)), "y_train": np.array([0, 1]),
          "class_names": np.array([b"a", b"b"])},
         "cannot read class_names from '{path}' (it holds |S1 values, not text); save plain "
         "numeric arrays with numpy.savez"),
    ],
)  # fmt: skip
def test_npz_arrays_of_the_wrong_kind_are_refused_from_their_headers(tmp_path, arrays, message):
    path = write_npz(tmp_path / "data.npz", **arrays)
    with pytest.raises(DataError) as caught:
        load_dataset(str(path), (3,))
    assert str(caught.value) == message.format(path=path)


def _lying_npz(path: Path, claimed: tuple[int, ...], dtype: str = "float64") -> Path:
    """x_train of 4 values whose header claims ``claimed``, the header's length kept."""
    write_npz(path, x_train=np.zeros(4, dtype), y_train=np.array([0]), x_test=np.zeros(4, dtype),
              y_test=np.array([0]))  # fmt: skip
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    header = members["x_train.npy"]
    old = b"'shape': (4,), }"
    new = f"'shape': {claimed}, }}".encode()
    assert old + b" " * (len(new) - len(old)) in header  # numpy pads its headers with spaces
    members["x_train.npy"] = header.replace(old + b" " * (len(new) - len(old)), new)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_an_npz_header_that_claims_more_than_its_member_holds_is_refused(tmp_path):
    """A header claiming 10^12 values (8 TB) in a member of a few hundred bytes."""
    path = _lying_npz(tmp_path / "liar.npz", (10**6, 10**6))
    outcome = load_in_child(path, (1,))
    assert outcome.stdout == (
        f"error: cannot read x_train from '{path}' (its header claims (1000000, 1000000) values "
        "of float64, 8,000,000,000,000 bytes, but the member holds 32); save plain numeric "
        "arrays with numpy.savez\n"
    )
    assert outcome.peak_mb < 300


def test_a_damaged_mnist_in_the_keras_cache_is_refused_from_its_header(tmp_path, monkeypatch):
    """The built-in MNIST is read from Keras's cache: a tampered mnist.npz is checked too."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    (tmp_path / "keras" / "datasets").mkdir(parents=True)
    path = _lying_npz(tmp_path / "keras" / "datasets" / "mnist.npz", (10**6, 10**6), "uint8")
    outcome = load_in_child(Path("mnist"), (28, 28))
    assert outcome.stdout == (
        f"error: '{path}' is not the MNIST file keras.datasets keeps (its header claims (1000000, "
        "1000000) values of uint8, 1,000,000,000,000 bytes, but the member holds 4). Delete it "
        "so it is fetched again.\n"
    )
    assert outcome.peak_mb < 300


def test_an_idx_file_in_the_keras_cache_is_read_no_further_than_its_header_allows(
    tmp_path, monkeypatch
):
    """Fashion-MNIST's idx files: a 1.6 MB one whose header claims 1.5 G values of zeros."""
    from layerkit.data.keras_datasets import FASHION_FILES

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    folder = tmp_path / "keras" / "datasets" / "fashion-mnist"
    folder.mkdir(parents=True)
    for name in FASHION_FILES:
        (folder / name).write_bytes(b"")
    header = struct.pack(">HBBI", 0, 0x08, 1, 1536 * MiB)
    zeros = gzip_member(repeated_deflate(b"\0", 1536), CRC_ZEROS_1536_MIB, 1536 * MiB)
    (folder / FASHION_FILES[0]).write_bytes(gzip.compress(header) + zeros)
    outcome = load_in_child(Path("fashion_mnist"), (28, 28))
    assert outcome.stdout == (
        f"error: cannot read '{folder / FASHION_FILES[0]}' as an idx file (its header claims "
        "1,610,612,736 values, over 100,000,000). Delete it so it is fetched again.\n"
    )
    assert outcome.peak_mb < 300


def test_a_label_far_beyond_the_classes_is_refused_without_naming_every_number(tmp_path):
    """A 62 KB .npz whose one label is 2x10^9 (19.8 GB of class names before)."""
    y = np.zeros(2000, dtype=np.int64)
    y[7] = 2 * 10**9
    path = write_npz(tmp_path / "labels.npz", x_train=np.zeros((2000, 3), "float32"), y_train=y)
    outcome = load_in_child(path, (3,))
    assert outcome.stdout == (
        f"error: '{path}': y_train holds the label 2,000,000,000, but labels are class numbers "
        "below 100,000 (layerkit's limit on classes); number the classes 0, 1, 2, ...\n"
    )
    assert outcome.peak_mb < 300


def test_non_finite_inputs_are_refused_before_training(tmp_path):
    x = np.ones((10, 3), "float32")
    x[4, 1], x[6, 0], x[6, 2] = np.nan, np.inf, -np.inf
    path = write_npz(tmp_path / "nan.npz", x_train=x, y_train=np.arange(10) % 2)
    with pytest.raises(DataError) as caught:
        load_dataset(str(path), (3,))
    assert str(caught.value) == (
        f"'{path}': x_train holds 3 values that are not finite numbers (NaN or infinity), the "
        "first in sample 4; fix or remove those samples"
    )
    test = write_npz(tmp_path / "nan_test.npz", x_train=np.ones((2, 3)), y_train=np.array([0, 1]),
                     x_test=np.full((2, 3), np.nan), y_test=np.array([0, 1]))  # fmt: skip
    with pytest.raises(DataError, match="x_test holds 6 values that are not finite numbers"):
        load_dataset(str(test), (3,))


# -- images ---------------------------------------------------------------------------------------


def test_sixteen_bit_pngs_are_scaled_not_clipped(tmp_path):
    """Two classes of 16-bit grey PNGs, dark and light: before, both became all-white (255)."""
    folder = tmp_path / "images"
    levels = {"dark": 20_000, "light": 50_000}
    for name, level in levels.items():
        (folder / name).mkdir(parents=True)
        for index in range(2):
            values = np.full((8, 8), level + index * 300, dtype=np.uint16)
            Image.fromarray(values).save(folder / name / f"{index}.png")
    assert Image.open(folder / "dark" / "0.png").mode == "I;16"  # a real 16-bit PNG
    dataset = load_dataset(str(folder), (8, 8, 1))
    assert dataset.x[:, 0, 0, 0].tolist() == [
        (level + index * 300) >> 8 for level in levels.values() for index in range(2)
    ]  # [78, 79, 195, 196]
    assert not np.array_equal(dataset.x[0], dataset.x[2])


def _bomb_png(width: int, height: int) -> bytes:
    """A PNG whose header says width x height grey pixels, with one row of data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (width + 1))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def test_an_image_over_the_pixel_limit_is_refused_before_it_is_decoded(tmp_path):
    """60 megapixels: under Pillow's own refusal (178.9 M), over layerkit's 50 M limit."""
    folder = tmp_path / "images"
    for name, data in [*small_images(), ("dog/bomb.png", _bomb_png(10_000, 6_000))]:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    with pytest.raises(DataError) as caught:
        load_dataset(str(folder), (8, 8, 3), skip_bad=True)
    assert str(caught.value) == (
        f"image 'dog/bomb.png' in '{folder}' is too large to decode safely (10000x6000 is "
        "60,000,000 pixels, over the limit of 50,000,000 pixels for one image); remove it"
    )


def test_predict_reads_only_regular_image_files_and_refuses_bombs(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "a.png").write_bytes(small_images()[0][1])
    os.mkfifo(folder / "x.jpg")  # before: predict waited on it for ever
    assert image_files([folder]) == [folder / "a.png"]
    with pytest.raises(DataError) as caught:
        image_files([folder / "x.jpg"])
    assert str(caught.value) == (
        f"'{folder / 'x.jpg'}' is not a regular file (a FIFO, socket or device); give image "
        "files or folders of them"
    )
    eps = tmp_path / "drawing.eps"
    eps.write_text("%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n")
    with pytest.raises(DataError, match=r"is not an image file layerkit reads \(\.jpg, "):
        image_files([eps])
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_bomb_png(100_000, 100_000))
    with pytest.raises(DataError) as caught:
        read_image_files([bomb], (8, 8, 3), resize=True)
    assert str(caught.value) == (
        f"image '{bomb}' is too large to decode safely (Image size (10000000000 pixels) exceeds "
        "limit of 178956970 pixels, could be decompression bomb DOS attack.; the limit is "
        "50,000,000 pixels); remove it"
    )


def test_only_formats_pillow_decodes_itself_are_read(tmp_path):
    """PostScript named like a PNG: Pillow would hand it to Ghostscript; it is not an image here."""
    folder = tmp_path / "images"
    for name, data in small_images():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    postscript = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nshowpage\n"
    (folder / "cat" / "vector.png").write_bytes(postscript)
    with pytest.raises(DataError) as caught:
        load_dataset(str(folder), (8, 8, 3))
    assert str(caught.value) == (
        f"cannot read image 'cat/vector.png' in '{folder}': it is not an image in a format "
        "layerkit reads (JPEG, PNG, BMP, GIF, WEBP); remove it, or pass --skip-bad-images to "
        "leave such files out (they are counted)"
    )  # Pillow's own message named an in-memory object's address


# -- the decoded-image cache -----------------------------------------------------------------------


def test_a_damaged_cache_entry_is_rebuilt_with_a_warning(tmp_path):
    folder = tmp_path / "images"
    for name, data in small_images():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    first = load_dataset(str(folder), (8, 8, 3))
    (entry,) = (tmp_path / "cache").glob("*.npz")
    damaged = bytearray(entry.read_bytes())
    damaged[len(damaged) // 3] ^= 0xFF  # a flipped byte inside the images
    entry.write_bytes(bytes(damaged))
    said: list[str] = []
    again = load_dataset(str(folder), (8, 8, 3), notify=said.append)
    np.testing.assert_array_equal(again.x, first.x)
    assert len(said) == 1
    assert said[0].startswith(f"warning: the cached images {entry} are damaged (")
    assert said[0].endswith(f"); decoding '{folder}' again")
    entry.write_bytes(entry.read_bytes()[:100])  # cut short
    assert len(load_dataset(str(folder), (8, 8, 3), notify=said.append)) == 4
    assert len(said) == 2
    assert len(load_dataset(str(folder), (8, 8, 3), notify=said.append)) == 4
    assert len(said) == 2  # rebuilt: read back whole


# -- .keras files ----------------------------------------------------------------------------------


def _padded_keras(path: Path) -> Path:
    """A 1.6 MB .keras whose config.json is 1.5 GiB of spaces before a small JSON object."""
    tail = json.dumps({"class_name": "Sequential", "config": {"layers": []}}).encode()
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(b" " * MiB) + compressor.flush(zlib.Z_FULL_FLUSH)
    data = block * 1536 + compressor.compress(tail) + compressor.flush(zlib.Z_FINISH)
    crc = zlib.crc32(tail, CRC_SPACES_1536_MIB)
    metadata = json.dumps({"keras_version": "3.0.0"}).encode()
    return write_zip(path, [Entry("config.json", data, 1536 * MiB + len(tail), crc, 8),
                            stored("metadata.json", metadata)])  # fmt: skip


def test_a_keras_file_with_a_padded_config_is_refused_before_keras_reads_it(tmp_path):
    path = _padded_keras(tmp_path / "padded.keras")
    assert path.stat().st_size < 2 * MiB
    start = time.monotonic()
    assert keras_file_problem(path) == (
        "its config.json is 1536.0 MiB, over the limit of 64 MiB for a model's config.json"
    )
    assert time.monotonic() - start < machine_pace()  # 1 s on the development machine
    with zipfile.ZipFile(path) as archive:  # a real zip: its own reader agrees on every byte
        assert archive.getinfo("config.json").file_size > 1536 * MiB
        with archive.open("config.json") as config:
            assert config.read(MiB) == b" " * MiB


@pytest.mark.slow
@pytest.mark.parametrize("command", ["import", "evaluate", "predict"])
def test_each_command_refuses_the_padded_keras_file_in_one_line(tmp_path, command):
    """Through the CLI, TensorFlow loaded: one line, exit 2, in bounded memory (3.6 GB before)."""
    path = _padded_keras(tmp_path / "padded.keras")
    image = tmp_path / "a.png"
    image.write_bytes(small_images()[0][1])
    args = {
        "import": ["import", str(path), "--output", str(tmp_path / "spec.yaml")],
        "evaluate": ["evaluate", str(path)],
        "predict": ["predict", str(path), str(image)],
    }[command]
    outcome = run_bounded([sys.executable, "-m", "layerkit", *args], cap=None, timeout=60)
    problem = "its config.json is 1536.0 MiB, over the limit of 64 MiB for a model's config.json"
    expected = {
        "import": f"error: cannot load '{path}' as a Keras model: {problem}\n",
    }.get(command, f"error: cannot load model '{path}': {problem}; save the model again\n")
    assert (outcome.code, outcome.stderr[-len(expected) :]) == (2, expected)
    assert "Traceback" not in outcome.stderr
    assert outcome.peak_mb < 1024, outcome.peak_mb
