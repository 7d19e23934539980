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
