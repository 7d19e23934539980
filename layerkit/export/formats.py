"""The formats ``layerkit export`` writes, and what each needs: a format's name in; its Keras
export name, file name, runtime, tolerance and the Python packages it takes out — and a one-line
:class:`ExportError` when one of those packages is missing.

Imports nothing heavy: the packages are only looked for, by importing them when asked.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import LayerkitError


class ExportError(LayerkitError):
    """A model that cannot be exported as asked, and what to do about it."""


@dataclass(frozen=True)
class Format:
    """One export format."""

    name: str  # as given to --format
    label: str  # as printed: "ONNX"
    keras_format: str  # as given to keras.Model.export
    suffix: str  # the file's, or "" for a folder
    runtime: str  # what runs the artifact in the check
    tolerance: float  # the most |probability difference| from the Keras model the check accepts
    converter: tuple[str, ...]  # the modules exporting needs
    checker: tuple[str, ...]  # the modules running the artifact needs
    packages: str  # the pip names of both, for the message

    def file_name(self, stem: str) -> str:
        """The default name of the artifact of a model called ``stem``: ``net.onnx``, or the
        folder ``net_savedmodel``."""
        return f"{stem}{self.suffix}" if self.suffix else f"{stem}_savedmodel"


FORMATS = {
    "savedmodel": Format("savedmodel", "SavedModel", "tf_saved_model", "", "TensorFlow", 1e-4,
                         ("tensorflow",), ("tensorflow",), "tensorflow"),
    "onnx": Format("onnx", "ONNX", "onnx", ".onnx", "onnxruntime", 1e-4,
                   ("tf2onnx", "onnx"), ("onnxruntime",), "tf2onnx and onnxruntime"),
    "tflite": Format("tflite", "TFLite", "litert", ".tflite", "the LiteRT interpreter", 1e-3,
                     ("tensorflow",), ("ai_edge_litert.interpreter",), "ai-edge-litert"),
}  # fmt: skip


def require_packages(form: Format, check: bool) -> None:
    """Raise :class:`ExportError` naming the extra to install when a package the format needs
    (its converter, and its runtime when the artifact is to be checked) cannot be imported."""
    needed = form.converter + (form.checker if check else ())
    for module in needed:
        try:
            importlib.import_module(module)
        except ImportError:
            raise ExportError(
                f"exporting to {form.name} needs {form.packages}: pip install 'layerkit[export]'"
            ) from None


def check_target(path: Path, form: Format, force: bool) -> None:
    """Refuse, before any work, an output of the wrong kind or one that exists without --force."""
    if form.suffix and path.suffix.lower() != form.suffix:
        raise ExportError(
            f"-o: '{path}' should end in {form.suffix} for --format {form.name}; name it "
            f"{path.with_suffix(form.suffix).name}"
        )
    if not form.suffix and path.suffix.lower() in (".onnx", ".tflite", ".keras"):
        raise ExportError(
            f"-o: a SavedModel is a folder, not a {path.suffix} file; name a folder, e.g. "
            f"{path.with_suffix('').name}_savedmodel"
        )
    if path.is_symlink() or path.exists():
        if not force:
            raise ExportError(f"'{path}' exists; pass --force to replace it, or -o another path")
        if form.suffix and path.is_dir():
            raise ExportError(f"'{path}' is a folder; -o a file name ending in {form.suffix}")
        if not form.suffix and not path.is_dir():
            raise ExportError(f"'{path}' is a file, not a SavedModel folder; -o another path")
        if not form.suffix and not (path / "saved_model.pb").is_file():
            # --force replaces an earlier export, never a folder of something else (a run, '.')
            raise ExportError(
                f"'{path}' is a folder that holds no SavedModel (no saved_model.pb): --force "
                f"replaces only an earlier export; -o a new folder name"
            )
    if path.parent.exists() and not path.parent.is_dir():
        raise ExportError(f"cannot write '{path}': '{path.parent}' is not a folder")
