"""Tensor shapes as layerkit's messages and summaries write them.

Shared by the compiler (its errors name the shapes Keras refused), the report (a row's shape
against the expected one) and the renderer, so that every stage prints a shape the same way.
"""

from __future__ import annotations

# batch dimension first, as Keras gives it; None where a size is free
Shape = tuple[int | None, ...]


def format_shape(shape: Shape) -> str:
    """``(None, 32, 32, 3)``, the way Keras prints shapes."""
    return "(" + ", ".join("None" if size is None else str(size) for size in shape) + ")"
