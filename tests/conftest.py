"""Shared fixtures: paths, real CIFAR-10 images, a spec writer, and a CLI runner that keeps stdout
and stderr apart.

Every test that trains, evaluates or reads images takes them from ``tests/data/cifar10-600.tar.gz``,
committed with the tests, so a bare clone passes. Only a test that needs the whole 50,000-image
archive reads ``../shared`` beside the checkout, and is marked ``@needs_shared_cifar``: skipped,
with the reason, where it is absent; CI has it, so CI runs them.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
EXAMPLES = ROOT / "examples"
DATA = Path(__file__).resolve().parent / "data"
CIFAR = SPECS / "cifar.yaml"
# Real images committed with the tests: the first 60 JPEGs of each of the 10 classes of the shared
# archive, byte for byte, in its layout (train/<class>/0000.jpg ...)
CIFAR_SAMPLE = DATA / "cifar10-600.tar.gz"
CIFAR_SAMPLE_PER_CLASS = 60
CIFAR_CLASSES = 10
# The whole shared CIFAR-10 training archive (../shared beside the checkout, as CI has it)
SHARED_CIFAR = ROOT.parent / "shared" / "datasets" / "cifar10" / "train.tar.gz"

# A small conv net that trains in seconds on the tests' images: one epoch, 20 validated
SMALL = """\
name: small
input: [32, 32, 3]
layers:
  - conv2d: {filters: 4, kernel_size: 3, padding: same, activation: relu}
  - global_average_pooling2d
  - dense: {units: 10, activation: softmax}
train:
  batch_size: 50
  epochs: 1
  validation_split: 20
"""

needs_shared_cifar = pytest.mark.skipif(
    not SHARED_CIFAR.is_file(),
    reason="needs ../shared/datasets/cifar10/train.tar.gz (CI has it)",
)


def _sample_images(per_class: int) -> list[tuple[tarfile.TarInfo, bytes]]:
    """The first ``per_class`` images of each class of the committed sample, with their entries."""
    if not 1 <= per_class <= CIFAR_SAMPLE_PER_CLASS:
        raise ValueError(
            f"{CIFAR_SAMPLE.name} holds {CIFAR_SAMPLE_PER_CLASS} images per class, asked for "
            f"{per_class}; a test that needs more reads SHARED_CIFAR and is @needs_shared_cifar"
        )
    images, counts = [], {}
    with tarfile.open(CIFAR_SAMPLE) as sample:
        for member in sample:
            label = member.name.split("/")[1] if member.isfile() else None
            if label and counts.get(label, 0) < per_class:
                counts[label] = counts.get(label, 0) + 1
                images.append((member, sample.extractfile(member).read()))
    # a damaged sample would otherwise quietly give fewer images than the tests count on
    if len(counts) != CIFAR_CLASSES or set(counts.values()) != {per_class}:
        raise ValueError(f"{CIFAR_SAMPLE} is damaged: images per class {counts}")
    return images


def cifar_files(per_class: int) -> list[tuple[str, bytes]]:
    """The first ``per_class`` (at most 60) real CIFAR-10 JPEGs of each class, class by class, as
    (``train/<class>/NNNN.jpg``, bytes)."""
    return [(member.name, data) for member, data in _sample_images(per_class)]


def cifar_subset(target: Path, per_class: int) -> Path:
    """An archive of the first ``per_class`` (at most 60) real CIFAR-10 images of each class, laid
    out like the shared archive (.tar, or .tar.gz when ``target`` ends so)."""
    mode = "w:gz" if target.name.endswith(".gz") else "w"
    with tarfile.open(target, mode) as out:
        for member, data in _sample_images(per_class):
            out.addfile(member, io.BytesIO(data))
    return target


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[..., Path]:
    """Write dedented YAML to ``tmp_path/NAME`` and return the path."""

    def write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def validate_text(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``layerkit validate spec.yaml`` of a spec's text, written in a fresh folder (the current
    one): click's result, with ``errors``, its ``file:line:col: error:`` lines, added."""
    from layerkit.cli import main

    monkeypatch.chdir(tmp_path)

    def validate(document: str):
        (tmp_path / "spec.yaml").write_text(document, encoding="utf-8")
        result = runner.invoke(main, ["validate", "spec.yaml"])
        result.errors = [line for line in result.output.splitlines() if ": error: " in line]
        return result

    return validate


def nchw_convolutions_run() -> bool:
    """Whether TensorFlow computes channels_first (NCHW) convolutions here: on a GPU, and on a
    CPU only where its build provides them (oneDNN on some CPUs); elsewhere it refuses them."""
    from layerkit.training.runtime import channels_first_runs

    return channels_first_runs()


NO_NCHW = "TensorFlow has no channels_first convolutions on this CPU (train refuses them)"


DEVELOPMENT_STARTUP = 0.3  # seconds: `layerkit validate` of a one-layer spec took 0.14 s on the
# development machine (docs/benchmarks.md, start-up), doubled for its own noise


PACE_LIFETIME = 60.0  # seconds a measured pace is used for before it is measured again
_PACE: list[tuple[float, float]] = []  # (when it was measured, the pace)


def machine_pace() -> float:
    """How many times slower than the development machine this one is (at least 1), read off the
    best of two runs of ``layerkit validate`` on a one-layer spec in a subprocess. The hostile-input
    tests' time limits are the development machine's, scaled by it: a CI machine under load once
    ran that command in 1.6 s, and the limits caught a slow machine instead of a hang. Measured
    again once it is a minute old: the load on a shared machine changes during a session, and a
    pace measured once at its start let a limit of 8 s fail at 8.5 beside a training run."""
    if not _PACE or time.monotonic() - _PACE[-1][0] > PACE_LIFETIME:
        _PACE[:] = [(time.monotonic(), _measure_pace())]
    return _PACE[-1][1]


def _measure_pace() -> float:
    folder = Path(tempfile.mkdtemp(prefix="layerkit-pace-"))
    (folder / "tiny.yaml").write_text("input: [4]\nlayers:\n  - dense: {units: 2}\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    times = []
    for _ in range(2):
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "layerkit", "validate", "tiny.yaml"], cwd=folder,
                       env=env, capture_output=True, check=True, timeout=120)  # fmt: skip
        times.append(time.monotonic() - started)
    shutil.rmtree(folder, ignore_errors=True)
    return max(1.0, min(times) / DEVELOPMENT_STARTUP)
