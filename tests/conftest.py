"""Shared fixtures: paths, a spec writer, and a CLI runner that keeps stdout and stderr apart."""

from __future__ import annotations

import os
import textwrap
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
# The shared CIFAR-10 training archive (../shared beside the checkout, as CI has it)
SHARED_CIFAR = ROOT.parent / "shared" / "datasets" / "cifar10" / "train.tar.gz"


def cifar_subset(target: Path, per_class: int) -> Path:
    """An archive of the first ``per_class`` images of each class of the shared CIFAR-10 archive
    (.tar, or .tar.gz when ``target`` ends so), laid out like it."""
    import tarfile

    counts: dict[str, int] = {}
    mode = "w:gz" if target.name.endswith(".gz") else "w"
    with tarfile.open(SHARED_CIFAR) as source, tarfile.open(target, mode) as out:
        for member in source:
            label = member.name.split("/")[1] if member.isfile() else None
            if label and counts.get(label, 0) < per_class:
                counts[label] = counts.get(label, 0) + 1
                out.addfile(member, source.extractfile(member))
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
