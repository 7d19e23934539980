"""What the importer makes of one summary row, and what it reads it from.

Takes nothing: gives ``ImportedLayer`` (a row turned into a layer kind and arguments, with the
notes to check, or a marked entry saying why it was not imported), ``Observed`` (what a row shows
of a layer: its class, input and output shapes, parameter count) and ``Rule``, the form of the
functions that read one kind of layer's arguments off an ``Observed`` (:mod:`.infer`,
:mod:`.convolutions`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .summary import Shape, SummaryRow


@dataclass
class ImportedLayer:
    """One row turned into a layer: ``kind`` (snake_case) and ``args``, or a marked entry."""

    kind: str | None  # None: not imported; ``problem`` says why
    args: dict[str, object]
    row: SummaryRow
    notes: list[str] = field(default_factory=list)  # placeholders and assumptions to check
    problem: str | None = None
    nested: bool = False  # a nested model, imported as a block to fill in


@dataclass(frozen=True)
class Observed:
    """What a summary row shows of a layer: its class, its inputs' shapes, its output shape and
    its parameter count."""

    class_name: str
    inputs: list[Shape]
    out: Shape
    params: int

    @property
    def inp(self) -> Shape:
        """The first input's shape; empty when the row has none."""
        return self.inputs[0] if self.inputs else ()


# Reads one kind of layer's arguments off what its row shows, into the layer it is given.
Rule = Callable[[ImportedLayer, Observed], ImportedLayer]


def unsolved(layer: ImportedLayer, reason: str) -> ImportedLayer:
    """``layer`` marked as not imported, for ``reason``."""
    layer.problem = reason
    layer.kind = None
    return layer
