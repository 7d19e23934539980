"""Hostile data (issue 15): archives, .npz files, images and .keras files built to exhaust memory,
hang, lie or silently mean something else. Each is a real file written here; where a case bounds
time or memory it runs in a child process with a 10 s timeout and a 1 GiB address-space cap (or,
where TensorFlow loads, its peak resident memory measured)."""

from __future__ import annotations

import io
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from layerkit.training.data import load_dataset
from layerkit.training.dataset import DataError

from .conftest import ROOT

GiB = 2**30
MiB = 2**20
# CRC-32 of 1.5 GiB of zero bytes and of spaces (zlib.crc32 over 1,536 blocks of 1 MiB), so a
# test writes a real zip of such a member without spending a second on the checksum
CRC_ZEROS_1536_MIB = 0x400AE278
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


def run_bounded(args: list[str], *, cap: int | None = GiB, timeout: float = 10,
                cwd: Path | None = None) -> Outcome:  # fmt: skip
    """Run ``args``, killed past ``timeout`` seconds, its address space capped at ``cap`` bytes
    (None: uncapped, for TensorFlow, which reserves far more than it uses); its peak resident
    memory from the kernel's accounting of that one child."""

    def limit() -> None:
        if cap is not None:
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        child = subprocess.Popen(args, stdout=out, stderr=err, preexec_fn=limit, env=env,
                                 cwd=cwd or ROOT)  # fmt: skip
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - start > timeout:
                child.kill()
                os.wait4(child.pid, 0)
                child.returncode = -9
                pytest.fail(f"{args[-1][:80]!r} ran past {timeout} s")
            time.sleep(0.02)
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Outcome(child.returncode, out.read().decode(), err.read().decode(),
                       usage.ru_maxrss / 1024, time.monotonic() - start)  # fmt: skip


def load_in_child(source: Path, shape: tuple[int, ...] = (8, 8, 3)) -> Outcome:
    """load_dataset in a child: prints the images' shape, or the DataError's one line."""
    code = (
        "from layerkit.training.data import load_dataset\n"
        "from layerkit.training.dataset import DataError\n"
        f"try:\n    print(load_dataset({str(source)!r}, {shape!r}).x.shape)\n"
        "except DataError as error:\n    print('error:', error)\n"
    )
    return run_bounded([sys.executable, "-c", code])


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


def _lying_npz(path: Path, claimed: tuple[int, ...]) -> Path:
    """x_train of 4 float64 values whose header claims ``claimed``, the header's length kept."""
    write_npz(path, x_train=np.zeros(4), y_train=np.array([0]))
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
