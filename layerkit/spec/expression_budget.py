"""The budget of one ``${...}`` evaluation: how big a value may get and how much work it may take.

Takes the values an expression reads (its names) and creates (each operation's result); gives
their *size*, counted without building anything new, so an operation is refused before it runs
when its result would be over budget. A value's size is 1 for a number, a boolean or null, its
length for a text, and 1 plus its elements' sizes for a list, counted through every level: a list
holding the same list 9,999 times counts it 9,999 times, as printing or copying it would.
Every step (a part of an expression visited, an element a function or comparison goes through,
an element built) is counted, for all the expressions of one spec together (:class:`Steps`), so
blocks and repeats that evaluate an expression many times cannot multiply the work unbounded.
"""

from __future__ import annotations

import math
from typing import Any

MAX_SIZE = 100_000  # elements and text characters in one value, nested lists counted through
MAX_STEPS = 2_000_000  # parts visited plus elements gone through, all of a spec's expressions
MAX_TEXT = 10_000  # characters in one text
MAX_MAGNITUDE = 10**15  # largest number; about 16 digits, so no number is ever long to print
MAX_EXPONENT = 64
MAX_ROUND_DIGITS = 100  # round(x, n) with |n| beyond this computes 10**|n|

# Values an expression reads by name (a spec's vars) are the same objects at every use; their
# sizes are kept here so a large var is counted once, not at every layer that reads it. The
# value itself is kept with its size, so its id is never reused while the entry exists.
_NAME_SIZES: dict[int, tuple[Any, int]] = {}
_NAME_SIZES_KEPT = 128
_WORTH_KEEPING = 256  # elements: smaller values are counted again, which costs less


def too_large(value: Any) -> bool:
    """Whether a number is beyond :data:`MAX_MAGNITUDE`."""
    if isinstance(value, int):  # compared as an integer: a huge one cannot become a float
        return abs(value) > MAX_MAGNITUDE
    return isinstance(value, float) and not math.isnan(value) and abs(value) > MAX_MAGNITUDE


class BudgetExceeded(Exception):
    """An expression went over one of the budgets; ``what`` says which, with its number."""

    def __init__(self, what: str, fix: str | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.fix = fix


class Steps:
    """The steps taken by every expression of one spec (or by one evaluation alone)."""

    def __init__(self) -> None:
        self.taken = 0

    def take(self, count: int) -> None:
        self.taken += count
        if self.taken > MAX_STEPS:
            raise BudgetExceeded(
                f"takes the spec's expressions past {MAX_STEPS:,} steps (parts evaluated and "
                "elements gone through, all expressions together)",
                "Work a value out once, under vars:, rather than in every pass of a repeat or use "
                "of a block.",
            )


class Budget:
    """The sizes of the values one evaluation has seen, and the steps taken (``steps``, shared
    by the evaluations of one spec)."""

    def __init__(self, steps: Steps | None = None) -> None:
        # id → (value, size); the value is held so that its id stays its own
        self.sizes: dict[int, tuple[Any, int]] = {}
        self.steps = steps if steps is not None else Steps()

    def step(self, count: int = 1) -> None:
        self.steps.take(count)

    def size(self, value: Any) -> int:
        """The size of ``value``; counting stops as soon as it is over :data:`MAX_SIZE`."""
        if isinstance(value, str):
            return max(len(value), 1)
        if not isinstance(value, list | tuple | dict):
            return 1
        known = self.sizes.get(id(value))
        if known is not None:
            return known[1]
        total = 1
        for item in value.values() if isinstance(value, dict) else value:
            self.step()
            total += self.size(item)
            if total > MAX_SIZE:
                break
        self.record(value, total)
        return total

    def name_size(self, value: Any) -> int:
        """The size of a value read by name, counted once across evaluations when large."""
        if not isinstance(value, list | tuple | dict) or len(value) < _WORTH_KEEPING:
            return self.size(value)
        known = _NAME_SIZES.get(id(value))
        if known is not None and known[0] is value:
            self.record(value, known[1])
            return known[1]
        total = self.size(value)
        if len(_NAME_SIZES) >= _NAME_SIZES_KEPT:
            _NAME_SIZES.clear()
        _NAME_SIZES[id(value)] = (value, total)
        return total

    def record(self, value: Any, size: int) -> None:
        """Remember the size of a list an operation made (worked out from its parts)."""
        if isinstance(value, list | tuple | dict):
            self.sizes[id(value)] = (value, size)

    def check(self, size: int) -> None:
        if size > MAX_SIZE:
            raise BudgetExceeded(
                f"would hold more than {MAX_SIZE:,} values (list elements and text characters, "
                "nested lists counted through)"
            )

    def repeated(self, sequence: Any, times: int) -> int:
        """The size of ``sequence * times``, refused before it is built when over budget."""
        if isinstance(sequence, str):
            return max(len(sequence) * times, 1)
        size = 1 + (self.size(sequence) - 1) * max(times, 0)
        self.check(size)
        return size

    def joined(self, left: Any, right: Any) -> int:
        """The size of ``left + right`` for two lists."""
        size = self.size(left) + self.size(right) - 1
        self.check(size)
        return size
