"""``layerkit import``: specs from printed Keras summaries (and from Keras models, in
:mod:`layerkit.importer.from_model`).

A summary goes through four steps, one module each: :mod:`.summary` reads the rows,
:mod:`.infer` works out each layer's class and arguments, :mod:`.graph` wires the layers (a chain,
or the "Connected to" column), :mod:`.writer` writes the spec with ``expect:``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .graph import Graph, wire
from .summary import Shape, Summary, parse_summary
from .writer import write_spec

__all__ = ["ImportReport", "import_summary", "parse_summary"]


@dataclass(frozen=True)
class ImportReport:
    """What an import wrote and what the user must check."""

    text: str  # the spec
    layers: int
    placeholders: list[str]  # "conv2d_19 (activation)"
    not_imported: list[str]  # "warp_4 (WarpDrive) at line 27: layerkit does not know the type …"
    notes: list[str]  # wiring choices made where the printout cut names


def import_summary(path: Path, input_shape: Shape | None = None) -> ImportReport:
    """Read a summary file and return the spec text and what to check.

    Raises:
        SpecError: the summary cannot be read (the error names the line).
    """
    summary = parse_summary(path.read_text(encoding="utf-8"), str(path))
    graph = wire(summary, input_shape)
    name = re.sub(r"\W", "_", path.stem)
    text = write_spec(summary, graph, name, path.name)
    return _report(summary, graph, text)


def _report(summary: Summary, graph: Graph, text: str) -> ImportReport:
    placeholders, not_imported, notes = [], [], []
    for node in graph.nodes:
        layer, row = node.layer, node.layer.row
        if node.shares:
            continue
        if layer.kind is None:
            not_imported.append(
                f"{row.name} ({row.type or '?'}) at line {row.line}: {layer.problem}"
            )
        elif layer.notes:
            placeholders.append(f"{row.name} ({', '.join(layer.notes)})")
        notes += [f"{row.name}: {note}" for note in node.notes]
    return ImportReport(text, len(summary.rows), placeholders, not_imported, notes)
