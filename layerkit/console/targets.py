"""The files commands write (``--save``, ``-o``, ``--plot``): a path in, checked before any work
starts — never a folder, never the command's own input, an existing file only with ``--force``,
the right suffix — and written atomically, so a failure never leaves a half-written file where a
good one was.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..files import atomic_output
from .errors import UserError


def check_output_target(
    path: Path, force: bool, option: str, as_json: bool = False, source: Path | None = None
) -> None:
    """An output file may replace an existing one only with --force, and never a folder or the
    command's own input."""
    problem = None
    if path.is_dir():
        problem = f"'{path}' is a folder; give the path of a file to write"
    elif source is not None and path.resolve() == source.resolve():
        problem = f"'{path}' is the file being read; write to another path"
    elif (path.exists() or path.is_symlink()) and not force:
        problem = f"'{path}' already exists; pass --force to replace it, or choose another path."
    elif not path.parent.is_dir():
        problem = f"folder '{path.parent}' does not exist; create it first."
    if problem:
        raise UserError(f"{option}: {problem}", as_json)


def check_plot_target(path: Path, force: bool, as_json: bool, source: Path) -> None:
    """``--plot`` writes a PNG, never over the model or run being read."""
    if path.suffix.lower() != ".png":
        raise UserError(
            f"--plot: '{path}' does not end in .png; the figure is written as a PNG. "
            f"Use --plot {path.with_suffix('.png')}.",
            as_json,
        )
    check_output_target(path, force, "--plot", as_json, source=source)


def check_save_target(path: Path, force: bool, as_json: bool = False) -> None:
    if path.suffix != ".keras":
        raise UserError(
            f"--save: '{path}' does not end in .keras; Keras saves models as .keras files. "
            f"Use --save {path.with_suffix('.keras')}.",
            as_json,
        )
    check_output_target(path, force, "--save", as_json)


@contextmanager
def kept_if_taken(path: Path, option: str, as_json: bool = False) -> Iterator[None]:
    """A write of ``option``'s file that found ``path`` taken (FileExistsError) is one line: the
    file is left as it is."""
    try:
        yield
    except FileExistsError:
        raise UserError(
            f"{option}: '{path}' was created by something else while this command ran; it is "
            "left as it is. Pass --force to replace it, or choose another path.",
            as_json,
        ) from None


@contextmanager
def output_file(path: Path, force: bool, option: str, as_json: bool = False) -> Iterator[Path]:
    """A temporary to write ``option``'s file to, which becomes ``path`` atomically; without
    ``force`` a file that appeared at ``path`` while the command worked is not replaced either
    (:func:`check_output_target` saw it free before the work began)."""
    with kept_if_taken(path, option, as_json), atomic_output(path, replace=force) as temporary:
        yield temporary


def write_output(
    path: Path, text: str, force: bool, option: str = "--output", as_json: bool = False
) -> None:
    """Write a command's text output (a spec, a schema, an SVG) as :func:`output_file` does."""
    with (
        output_file(path, force, option, as_json) as temporary,
        open(temporary, "w", encoding="utf-8") as file,
    ):
        file.write(text)
        file.flush()
        os.fsync(file.fileno())


def save_model(model: Any, path: Path, force: bool, as_json: bool = False) -> None:
    """Save atomically: a failure never leaves a half-written file where a good one was."""
    with output_file(path, force, "--save", as_json) as temporary:
        model.save(temporary)


def draw_png(svg: str, output: Path, force: bool) -> None:
    """PNG by rasterizing the SVG with cairosvg, an optional dependency (``layerkit[graph]``)."""
    try:
        import cairosvg
    except (ImportError, OSError):  # OSError: the package is there but the cairo library is not
        raise UserError(
            "drawing a PNG needs the cairosvg package and the cairo library "
            "(pip install 'layerkit[graph]'); or write an SVG, which needs nothing: "
            f"-o {output.with_suffix('.svg')}"
        ) from None
    with output_file(output, force, "--output") as temporary:
        cairosvg.svg2png(bytestring=svg.encode("utf-8"), write_to=str(temporary))
