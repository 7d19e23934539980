"""Indexing and slicing inside ``${...}``: ``widths[i]``, ``'abcdefg'[j]``, ``widths[1:]``.

Takes the value written before ``[`` (already evaluated) and the index, or a slice's bounds;
gives the element or the slice, or an :class:`IndexProblem` saying in plain words what is wrong
and how to fix it: an index out of range, one that is not a whole number, a slice step of 0, or
something indexed that has no elements (a number, a boolean, null). The evaluator reports the
problem at the expression's column. Only a list or a text can be indexed; an index counts from 0,
a negative one from the end (``-1`` is the last element), and a slice's bounds are clipped to the
length as in Python. Nothing here copies more than the slice it returns, whose size the evaluator
counts (:mod:`.expression_budget`). Also gives :func:`kind`, how messages name a value's type.
"""

from __future__ import annotations

from typing import Any


class IndexProblem(Exception):
    """Why a value cannot be indexed or sliced as written; ``fix`` says what to write instead."""

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix


def kind(value: Any) -> str:
    """A value's type as messages name it: 'a number', 'text', 'a list', …"""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    return "a list"


def element(value: Any, index: Any, shown: str) -> Any:
    """``value[index]``; ``shown`` is how the expression is quoted in messages."""
    _check_indexable(value, shown)
    _check_whole(index, "index", shown)
    count = len(value)
    if -count <= index < count:
        return value[index]
    what = "list" if isinstance(value, list | tuple) else "text"
    if count == 0:
        raise IndexProblem(
            f"index {index} is out of range in '{shown}': the {what} is empty",
            f"An empty {what} has nothing to index: test len(...) > 0 first, with "
            "'a if condition else b'.",
        )
    unit = "element" if what == "list" else "character"
    if count == 1:
        raise IndexProblem(
            f"index {index} is out of range in '{shown}': the {what} has 1 {unit}",
            "Use index 0 (or -1, the same, counted from the end).",
        )
    raise IndexProblem(
        f"index {index} is out of range in '{shown}': the {what} has {count} {unit}s",
        f"Use an index from 0 to {count - 1}, or from -{count} to -1 to count from the end.",
    )


def sliced(value: Any, lower: Any, upper: Any, step: Any, shown: str) -> Any:
    """``value[lower:upper:step]``, each bound a whole number or None (left out)."""
    _check_indexable(value, shown)
    for name, bound in (("start", lower), ("end", upper), ("step", step)):
        if bound is not None:
            _check_whole(bound, f"slice {name}", shown)
    if step == 0:
        raise IndexProblem(
            f"the slice step in '{shown}' is 0", "Use a step of 1 or more, or -1 to go backwards."
        )
    return value[lower:upper:step]


def _check_indexable(value: Any, shown: str) -> None:
    if not isinstance(value, str | list | tuple):
        raise IndexProblem(
            f"cannot index {kind(value)} in '{shown}': only a list or text has elements",
            "Index a list or a text, e.g. widths[i] with 'widths: [16, 24, 40]' under vars:.",
        )


def _check_whole(index: Any, what: str, shown: str) -> None:
    if isinstance(index, int) and not isinstance(index, bool):
        return
    received = repr(index) if isinstance(index, int | float) else kind(index)
    if isinstance(index, str):
        received = f"the text {_quoted(index)}"
    raise IndexProblem(
        f"the {what} in '{shown}' must be a whole number, received {received}",
        "Make it whole: use // rather than /, or int(...).",
    )


def _quoted(text: str) -> str:
    return repr(text if len(text) <= 20 else text[:17] + "...")
