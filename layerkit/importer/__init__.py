"""``layerkit import``: specs from printed Keras summaries (and from Keras models, in
:mod:`layerkit.importer.from_model`).

A summary goes through four steps, one module each: :mod:`.summary` reads the rows (without the
weightless nested models :mod:`.nested_models` drops), :mod:`.infer` works out each layer's class
and arguments (with :mod:`.convolutions`, :mod:`.shape_layers` for layers without weights and
:mod:`.modern_layers` for attention, layerkit's own layers and ``keras.ops`` rows),
:mod:`.graph` wires the layers (a chain, or the "Connected to" column), :mod:`.writer` writes
the spec with ``expect:``. A model goes through :mod:`.from_model` (its configuration; what is
not a plain layer through :mod:`.model_operations`), then :mod:`.repeats` and the writer.
:mod:`.build_check` says whether the spec builds as imported before the command writes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import Location, SpecError
from ..spec.loader import MAX_NAME_LENGTH
from .graph import Graph, wire
from .summary import Shape, parse_summary
from .writer import write_spec

__all__ = ["ImportReport", "import_loaded_model", "import_model", "import_summary", "parse_summary"]

PROBABILITY_ACTIVATIONS = ("softmax", "sigmoid")  # as layerkit.training.recipe judges a last layer

MODEL_HEADER = """\
# Imported by `layerkit import` from {source}: every argument comes from the model's configuration
# (those equal to Keras's defaults are left out). Runs of identical passes are written as repeat:;
# passes that recur with other argument values (widths, strides) as uses of one block.
"""


@dataclass(frozen=True)
class ImportReport:
    """What an import wrote and what the user must check."""

    text: str  # the spec
    layers: int
    placeholders: list[str]  # "conv2d_19 (activation)"
    not_imported: list[str]  # "warp_4 (WarpDrive) at line 27: layerkit does not know the type …"
    notes: list[str]  # wiring choices made where the printout cut names, the logits rule
    from_model: bool = False  # read from a model's configuration, not from a printout

    @property
    def counts(self) -> dict[str, int]:
        """How many rows (layers) were inferred whole, assumed (a placeholder the source does not
        show) or left to fill in (not imported)."""
        assumed, to_fill_in = len(self.placeholders), len(self.not_imported)
        inferred = self.layers - assumed - to_fill_in
        return {"inferred": inferred, "assumed": assumed, "to_fill_in": to_fill_in}


def import_summary(path: Path, input_shape: Shape | None = None) -> ImportReport:
    """Read a summary file and return the spec text and what to check.

    Raises:
        SpecError: the summary cannot be read (the error names the line).
    """
    try:
        printout = path.read_text(encoding="utf-8-sig")  # a byte-order mark is not text
    except UnicodeDecodeError as error:
        before = error.object[: error.start]
        line, column = before.count(b"\n") + 1, error.start - (before.rfind(b"\n") + 1) + 1
        raise SpecError(
            f"the file is not UTF-8 text (byte {error.start} cannot be decoded), so not a "
            "printed model.summary()",
            Location(str(path), line, column),
            fix="Save the printout as UTF-8 text.",
        ) from None
    summary = parse_summary(printout, str(path))
    graph = wire(summary, input_shape)
    _note_logits(graph)
    text = write_spec(graph, summary.totals, spec_name(path.stem), path.name)
    return _report(graph, text)


def import_model(source: str, safe_mode: bool = True) -> ImportReport:
    """Write a spec from a Keras model: ``keras:NAME`` (keras.applications) or a ``.keras`` file.

    Raises:
        LayerkitError: the model cannot be loaded.
    """
    from .from_model import load_model

    return import_loaded_model(load_model(source, safe_mode), source)


def import_loaded_model(model: Any, source: str) -> ImportReport:
    """Write a spec from a Keras model already in memory; ``source`` names it in the header."""
    from .from_model import model_graph
    from .repeats import find_blocks, find_repeats

    graph = model_graph(model)
    trainable = sum(int(weight.numpy().size) for weight in model.trainable_weights)
    total = model.count_params()
    totals = {"total_params": total, "trainable_params": trainable,
              "non_trainable_params": total - trainable}  # fmt: skip
    items, blocks = find_blocks(find_repeats(graph))
    text = write_spec(graph, totals, spec_name(model.name), source, items, MODEL_HEADER, blocks)
    report = _report(graph, text, from_model=True)
    return replace(report, notes=report.notes + _model_logits_notes(graph))


def spec_name(text: str) -> str:
    """A model's or a file's name as the spec's ``name:``, which names a run folder: letters,
    digits and '_' only, at most as long as a spec's name may be; ``model`` for no name."""
    return re.sub(r"\W", "_", text)[:MAX_NAME_LENGTH] or "model"


def _note_logits(graph: Graph) -> None:
    """A printout shows no activations, so a last layer written without one (a Dense, a
    convolution) or with a placeholder one makes a model that outputs logits, which `layerkit
    train` treats as such: say so at that layer, in the spec and in the report."""
    for node in graph.nodes:
        layer = node.layer
        if node.id not in graph.outputs or node.shares or "activation" not in layer.notes:
            continue
        if "activation" in layer.args:  # an Activation layer: the placeholder is not softmax
            unknown = f"the last layer's activation is not in the summary ({layer.args['activation']} is a placeholder)"
        else:
            unknown = "the last layer has no activation in the summary"
        node.notes.append(
            f"{unknown}: layerkit train will treat its outputs as logits; add activation: softmax "
            "if the model had one"
        )


def _model_logits_notes(graph: Graph) -> list[str]:
    """A model's last layer without softmax or sigmoid (a Dense with no activation, one ending in
    relu) outputs logits, which `layerkit train` treats as such: say so in the report (the spec
    shows the layer's activation, or that it has none, as the model has it)."""
    notes = []
    for node in graph.nodes:
        if (
            node.id in graph.outputs
            and not node.shares
            and node.layer.kind not in (None, "softmax")
        ):
            ending = _logits_ending(node.layer.kind, node.layer.args.get("activation", "linear"))
            if ending:
                notes.append(f"{node.layer.row.name}: {ending}: layerkit train will treat its "
                             "outputs as logits")  # fmt: skip
    return notes


def _logits_ending(kind: str, activation: object) -> str | None:
    """How a last layer of ``kind`` ending in ``activation`` gives logits; None if it gives
    probabilities or takes no activation (a pooling layer)."""
    from ..catalog.layers import default_registry

    if activation in PROBABILITY_ACTIVATIONS:
        return None
    if activation != "linear":
        return f"the last layer ends in {activation}, not softmax"
    registry = default_registry()
    try:
        takes = "activation" in registry.info(registry.resolve(kind)).args
    except LookupError:  # a block, a registered layer the catalog does not describe
        takes = False
    return "the last layer has no activation" if takes else None


def _report(graph: Graph, text: str, from_model: bool = False) -> ImportReport:
    placeholders, not_imported = [], []
    notes = [graph_input.note for graph_input in graph.inputs if graph_input.note]
    for node in graph.nodes:
        layer, row = node.layer, node.layer.row
        if node.shares:
            continue
        if layer.kind is None:
            where = f" at line {row.line}" if row.line else ""  # models have no lines
            not_imported.append(f"{row.name} ({row.type or '?'}){where}: {layer.problem}")
        elif layer.notes:
            placeholders.append(f"{row.name} ({', '.join(layer.notes)})")
        notes += [f"{row.name}: {note}" for note in node.notes]
    layers = sum(1 for node in graph.nodes if node.shares is None)
    return ImportReport(text, layers, placeholders, not_imported, notes, from_model)
