"""Exporting a trained model, start to end: a trained model (a run's, or a ``.keras`` file's), a
format and a destination in; the artifact written atomically, ``NAME.preprocessing.json`` beside it,
the artifact run by its own runtime on real images and compared with the Keras model, and an
:class:`ExportReport` out. :func:`export_model` is the Python API ``layerkit export`` calls.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.dataset import Notify, image_size
from ..data.images import IMAGE_SUFFIXES, image_files, read_image_files
from ..files import write_text_atomically
from ..training.evaluate import Trained, evaluation_data, open_trained, predict_probabilities
from ..training.model import prepare_inputs
from .artifact import convert, deployable_model, preprocessing, scaling_text, size_of
from .check import Agreement, compare, run_artifact
from .formats import FORMATS, ExportError, Format, check_target, require_packages
from .staging import clear_leftovers, staged

DESCRIPTION = ".preprocessing.json"  # model.onnx -> model.onnx.preprocessing.json beside it
CHECK_IMAGES = 64


@dataclass(frozen=True)
class CheckImages:
    """Real images to check an artifact on: raw pixels (batch first) and where they came from."""

    pixels: np.ndarray
    description: str


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_model` wrote, and how the artifact compared with the Keras model."""

    path: Path
    format: Format
    bytes: int
    preprocessing: Path  # the artifact's description beside it (NAME.preprocessing.json)
    described: dict[str, Any]  # what it says (see :func:`.artifact.preprocessing`)
    scaling: str  # the input scaling built in, in words
    softmax_added: bool  # the model ended in logits
    wrote_preprocessing: bool  # False when an identical description was there already
    check: Agreement | None  # None when not checked

    @property
    def ok(self) -> bool:
        return self.check is None or self.check.ok

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "path": str(self.path),
            "format": self.format.name,
            "bytes": self.bytes,
            "preprocessing": str(self.preprocessing),
            "built_in": {"scaling": self.scaling, "softmax_added": self.softmax_added},
            "check": self.check.as_dict() if self.check else None,
        }


def export_model(trained: Trained, path: Path, format: str, *, images: CheckImages | None = None,
                 replace: bool = False, notify: Notify | None = None) -> ExportReport:  # fmt: skip
    """Export ``trained`` (see :func:`layerkit.training.evaluate.open_trained`) to ``path`` in
    ``format`` (``savedmodel``, ``onnx`` or ``tflite``), with its input scaling built in, and
    its description beside it (:func:`description_path`); with ``images``, run the artifact in its own runtime on them
    and compare it with the Keras model. The artifact is published only once it is whole (and
    loads in its runtime); an existing one is replaced only with ``replace``. What a killed
    export to ``path`` left is cleared first (:func:`.staging.clear_leftovers`), said to ``notify``.

    Raises:
        ExportError: a package the format needs is missing, ``path`` exists (without
            ``replace``), or the model does not convert.
    """
    form = FORMATS[format]
    require_packages(form, images is not None)
    for line in clear_leftovers(path):
        if notify is not None:
            notify(f"note: {line}")
    check_target(path, form, replace)
    deployable, softmax_added = deployable_model(trained)
    described = preprocessing(trained, softmax_added, trained.resize)
    beside = description_path(path)
    text = json.dumps(described, indent=1) + "\n"
    _check_beside(beside, text, replace)
    agreement = None
    with staged(path, form, replace) as temporary:
        convert(deployable, temporary, form)
        if images is not None:
            keras_p = predict_probabilities(trained, images.pixels, None)
            shape = tuple(trained.model.inputs[0].shape[1:])
            pixels = prepare_inputs(images.pixels, shape)
            artifact_p = run_artifact(temporary, form, pixels, deployable)
            agreement = compare(keras_p, artifact_p, form.tolerance, images.description)
    write = not (beside.is_file() and beside.read_text(encoding="utf-8") == text)
    if write:
        write_text_atomically(beside, text)
    return ExportReport(path, form, size_of(path), beside, described,
                        scaling_text(trained.normalize), softmax_added, write, agreement)  # fmt: skip


def description_path(path: Path) -> Path:
    """Where the artifact at ``path`` is described: ``model.onnx.preprocessing.json``,
    ``savedmodel.preprocessing.json`` beside the folder; one per artifact, so that artifacts of
    different models can share a folder and replacing one never rewrites another's."""
    return path.with_name(path.name + DESCRIPTION)


def _check_beside(beside: Path, text: str, replace: bool) -> None:
    """A description already at the artifact's must say the same, or be replaceable."""
    if not beside.exists() or replace:
        return
    if not beside.is_file() or beside.read_text(encoding="utf-8", errors="replace") != text:
        raise ExportError(
            f"'{beside}' exists and describes another model; pass --force to replace it with "
            "the artifact, or -o another path"
        )


def open_for_export(model_or_run: Path, which: str, safe_mode: bool,
                    notify: Notify | None = None) -> tuple[Trained, Path]:  # fmt: skip
    """The trained model to export and the file it came from: a run's best model (its last
    before any best), or its last with ``which="last"``; or a ``.keras`` file. ``latest`` names
    the latest run, as for ``evaluate`` (said to ``notify``)."""
    trained = open_trained(model_or_run, safe_mode, notify)
    if trained.run is None or model_or_run.is_file():
        if which == "last":
            raise ExportError(
                f"--model last picks a run's model_last.keras; '{model_or_run}' is a model file "
                "already, so give it without --model, or give the run directory"
            )
        return trained, model_or_run
    run = trained.run
    if which == "last":
        return open_trained(run.last_model, safe_mode), run.last_model
    return trained, trained.path


def default_output(trained: Trained, taken: Path, model_or_run: Path, form: Format) -> Path:
    """RUN/export/model.onnx (model_last.onnx for the last model; savedmodel/ for a SavedModel)
    for a run; beside a ``.keras`` file given itself, named after it."""
    if trained.run is not None and not model_or_run.is_file():
        stem = "model_last" if taken.name.startswith("model_last") else "model"
        # the best model's SavedModel is RUN/export/savedmodel/, the last one's model_last_savedmodel/
        name = "savedmodel" if stem == "model" and not form.suffix else form.file_name(stem)
        return trained.run.path / "export" / name
    return taken.parent / form.file_name(taken.stem)


def check_images(trained: Trained, data: str | None, count: int = CHECK_IMAGES,
                 resize: bool = False, notify: Notify | None = None) -> CheckImages:  # fmt: skip
    """Up to ``count`` real images, spread evenly over: ``data`` (image files, a folder of them, or
    a dataset as ``evaluate --data`` reads it), else the run's own validation split."""
    if data is None and trained.run is None:
        raise ExportError(
            "checking the export needs real images: give --data IMAGES (a folder or a dataset), "
            "or --no-check to skip the check"
        )
    given = Path(data) if data is not None else None
    if given is not None and (given.is_dir() or given.suffix.lower() in IMAGE_SUFFIXES):
        size = image_size(tuple(trained.model.inputs[0].shape[1:]), "export checks on images")
        files = image_files([given])
        picked = [files[index] for index in _spread(len(files), count)]
        pixels = read_image_files(picked, size, resize or trained.resize)
        return CheckImages(pixels, f"{data} ({len(files)} image{'s' if len(files) != 1 else ''})")
    x, _, _, description = evaluation_data(trained, data, resize=resize, notify=notify)
    return CheckImages(x[_spread(len(x), count)], description)


def _spread(total: int, count: int) -> list[int]:
    """``count`` indices spread evenly over ``range(total)`` (all of them, when fewer)."""
    if total <= count:
        return list(range(total))
    return [int(index) for index in np.linspace(0, total - 1, count).round()]
