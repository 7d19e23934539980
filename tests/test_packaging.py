"""The wheel `pip install .` builds: every file tracked under layerkit/ is in it, and its
`layerkit` command runs `layerkit.cli:main`.

An editable install (what the test command uses) reads the checkout, so it cannot see a package
or a data file the wheel leaves out; only a built wheel shows it. The wheel is built from a copy of
the tracked files, as a clean checkout has them: untracked files in the checkout cannot make it
pass, and a stale build/ folder (which a clean checkout lacks) cannot add to it. The smoke test of
the installed wheel, command by command, is .ci/wheel_smoke.sh.
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator

import pytest

from .conftest import ROOT


@pytest.fixture(scope="module")
def tracked() -> list[str]:
    """The checkout's tracked files that exist on disk, as POSIX paths relative to ROOT."""
    if shutil.which("git") is None:
        pytest.skip(
            "git is not installed: the tracked files to check the wheel against are unknown"
        )
    listing = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if listing.returncode != 0:
        pytest.skip(f"{ROOT} is not a git checkout: {listing.stderr.strip()}")
    return [name for name in listing.stdout.split("\0") if name and (ROOT / name).is_file()]


@pytest.fixture(scope="module")
def wheel(
    tmp_path_factory: pytest.TempPathFactory, tracked: list[str]
) -> Iterator[zipfile.ZipFile]:
    """The wheel built, offline and without build isolation, from a copy of the tracked files."""
    source = tmp_path_factory.mktemp("checkout")
    for name in tracked:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", str(source), "-w", str(out)]
    build = subprocess.run(
        [*command, "--no-deps", "--no-build-isolation", "--no-index"],
        capture_output=True,
        text=True,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        check=False,
    )
    assert build.returncode == 0, f"pip wheel failed:\n{build.stdout}\n{build.stderr}"
    (built,) = out.glob("layerkit-*.whl")
    with zipfile.ZipFile(built) as archive:
        yield archive


def test_wheel_holds_every_tracked_file_of_the_package(
    wheel: zipfile.ZipFile, tracked: list[str]
) -> None:
    package_files = [name for name in tracked if name.startswith("layerkit/")]
    assert "layerkit/importer/__init__.py" in package_files  # the listing is the real one
    assert "layerkit/catalog/keras_layers.json" in package_files
    missing = sorted(set(package_files) - set(wheel.namelist()))
    assert not missing, (
        f"the wheel leaves out {missing}: pyproject.toml's [tool.setuptools.packages.find] or"
        " [tool.setuptools.package-data] does not cover them"
    )


def test_wheel_holds_only_the_package(wheel: zipfile.ZipFile) -> None:
    strays = [
        name
        for name in wheel.namelist()
        if not name.startswith(("layerkit/", "layerkit-")) or "__pycache__" in name
    ]
    assert not strays, f"the wheel also installs {strays}"
    (dist_info,) = {name.split("/")[0] for name in wheel.namelist() if ".dist-info/" in name}
    top_level = wheel.read(f"{dist_info}/top_level.txt").decode().split()
    assert top_level == ["layerkit"]


def test_wheel_entry_point_is_the_cli(wheel: zipfile.ZipFile) -> None:
    (entry_points_file,) = [
        n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")
    ]
    entry_points = configparser.ConfigParser()
    entry_points.read_string(wheel.read(entry_points_file).decode())
    assert dict(entry_points["console_scripts"]) == {"layerkit": "layerkit.cli:main"}
