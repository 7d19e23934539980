"""``layerkit export`` at the command line: a run directory or ``.keras`` file, a format and the
options in; the model opened as ``evaluate`` opens it, exported by :mod:`layerkit.export`, and the
report out — what was taken and built in on stderr, one result line on stdout (or one JSON object
with ``--json``).

Gives the exit code: 0 exported and agreeing with the Keras model (or not checked), 1 exported but
disagreeing (the artifact is kept, and the line says so).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import click

from .errors import EXIT_MISMATCH, UserError
from .output import import_keras_quietly, say, warn


@dataclass(frozen=True)
class ExportRequest:
    """What ``layerkit export`` was asked."""

    model_or_run: Path
    format: str
    output: Path | None
    force: bool
    which: str  # "best" or "last": a run's model
    data: str | None  # images to check on; default: the run's validation split
    images: int  # how many, at most
    resize: bool
    check: bool
    unsafe: bool
    as_json: bool


def run_export(request: ExportRequest) -> int:
    """Open, export, check, report; the exit code."""
    import_keras_quietly()
    from ..export.exporter import check_images, default_output, export_model, open_for_export
    from ..export.formats import FORMATS, check_target, require_packages

    form = FORMATS[request.format]
    if not request.check and request.data is not None:
        raise UserError(
            "--data gives the images the check runs on, and --no-check skips the check; drop one",
            request.as_json,
        )
    require_packages(form, request.check)
    trained, taken = open_for_export(
        request.model_or_run, request.which, not request.unsafe, _quiet_if(request)
    )
    output = request.output or default_output(trained, taken, request.model_or_run, form)
    check_target(output, form, request.force)
    images = None
    if request.check:
        images = check_images(
            trained, request.data, request.images, request.resize, notify=_quiet_if(request)
        )
    if not request.as_json:
        whose = " (the run's " + ("last" if taken.name.startswith("model_last") else "best")
        warn(f"exporting {taken}{whose + ' model)' if trained.run else ''} to {form.label}")
        if images is not None:
            warn(f"checking it on {_images(len(images.pixels))} of {images.description}")
    report = export_model(
        trained, output, form.name, images=images, replace=request.force, notify=_quiet_if(request)
    )
    if request.as_json:
        click.echo(json.dumps({**report.as_dict(), "model": str(taken)}))
    else:
        _describe(report)
        say(result_line(report))
    return 0 if report.ok else EXIT_MISMATCH


def _quiet_if(request: ExportRequest):
    return None if request.as_json else warn


def _describe(report) -> None:
    """What the artifact takes and gives, on stderr."""
    shape = report.described["input"]["shape"]
    sizes = ", ".join("None" if size is None else str(size) for size in shape)
    gives = "probabilities (a softmax added: the model ends in logits)" if report.softmax_added \
        else "probabilities"  # fmt: skip
    source = (
        "assumed, as predict assumes it: a .keras file outside its run does not record how its "
        "inputs were scaled; export the run's folder to build in the scaling it trained with"
        if report.described["built_in"]["assumed"]
        else "the scaling it was trained with"
    )
    warn(
        f"built in: {report.scaling} ({source}); it takes float32 "
        f"pixels 0-255 of shape ({sizes}) and gives {gives}"
    )
    if report.wrote_preprocessing:
        names = "class names" if report.described["class_names"] else "no class names (none known)"
        warn(f"wrote {report.preprocessing}: input, scaling, {names}, output")
    else:
        warn(f"kept {report.preprocessing}: it says the same")


def _images(count: int) -> str:
    return f"{count} image" if count == 1 else f"{count} images"


def megabytes(count: int) -> str:
    """``9.6 MB``, ``412 KB``."""
    return f"{count / 1e6:.1f} MB" if count >= 1e6 else f"{max(count / 1e3, 0.1):.1f} KB"


def result_line(report) -> str:
    """``✓ exported PATH (ONNX, 9.6 MB): 64 real images, top-1 agrees on 64/64, max |Δp| 2.1e-07
    ≤ 1e-04``; ``✗ …`` and why when the artifact disagrees with the Keras model."""
    head = f"exported {report.path} ({report.format.label}, {megabytes(report.bytes)})"
    check = report.check
    if check is None:
        return f"✓ {head}; not checked (--no-check)"
    ties = f" ({check.near_ties} near-tie{'s' if check.near_ties != 1 else ''})" \
        if check.near_ties else ""  # fmt: skip
    within = "≤" if check.max_difference <= check.tolerance else ">"
    numbers = (
        f"{_images(check.images).replace(' ', ' real ')}, top-1 agrees on "
        f"{check.agree}/{check.images}{ties}, max |Δp| {check.max_difference:.1e} {within} "
        f"{check.tolerance:.0e}"
    )
    if check.ok:
        return f"✓ {head}: {numbers}"
    return (
        f"✗ {head}: {numbers}: the exported model disagrees with the Keras model on "
        f"{check.description}; it is kept, but do not ship it before finding out why"
    )
