"""The functions a ``${...}`` expression may call, by the name a spec calls them.

Takes nothing; gives :data:`FUNCTIONS`, which :mod:`.expressions` looks names up in: Python's
``round``, ``int``, ``float``, ``str``, ``min``, ``max``, ``abs``, ``math``'s ``ceil``, ``floor``
and ``sqrt``, MobileNet's :func:`make_divisible`, :func:`length` (``len``, of a list or text) and
:func:`total` (``sum``, of a list of numbers). Each is pure; the evaluator bounds what
they are given (:mod:`.expression_budget`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .expression_indexing import IndexProblem, kind


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round ``value`` to a multiple of ``divisor`` without going below 90% of it (MobileNet's rule)."""
    if not divisor > 0:
        raise ValueError("the divisor must be a positive number")
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def length(*values: Any) -> int:
    """The number of elements of a list or characters of a text (Python's ``len``)."""
    if len(values) != 1:
        raise IndexProblem(
            f"len takes one list or text, received {len(values)} arguments",
            "Write len(xs) with one list or text, e.g. len(widths).",
        )
    if not isinstance(values[0], str | list | tuple):
        raise IndexProblem(
            f"only a list or text has a length, not {kind(values[0])}",
            "Write len(xs) with one list or text, e.g. len(widths).",
        )
    return len(values[0])


def total(*values: Any) -> int | float:
    """The sum of a list of numbers (Python's ``sum``), e.g. the blocks before stage ``i``:
    ``sum(repeats[:i])``."""
    if len(values) != 1 or not isinstance(values[0], list | tuple):
        raise IndexProblem(
            "sum takes one list of numbers",
            "Write sum(xs) with one list, e.g. sum(repeats[:i]).",
        )
    for item in values[0]:
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise IndexProblem(
                f"sum adds numbers, and the list holds {kind(item)}",
                "Give sum a list of numbers only.",
            )
    return sum(values[0])


# name → function a spec expression may call; all are pure and cheap
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "round": round,
    "int": int,
    "float": float,
    "str": str,
    "min": min,
    "max": max,
    "abs": abs,
    "ceil": math.ceil,
    "floor": math.floor,
    "sqrt": math.sqrt,
    "make_divisible": make_divisible,
    "len": length,
    "sum": total,
}
