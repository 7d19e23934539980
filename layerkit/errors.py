"""Errors a user can act on: where in the spec, what was expected, what was received, how to fix it.

Every stage raises :class:`SpecError` (one problem) or :class:`SpecErrors` (several, collected so a
user sees every problem in one run). The CLI turns both into ``file:line:col: error: …`` lines and
exit code 2; nothing here prints.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Location:
    """A place in a spec file; line and column count from 1, as editors do."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class LayerkitError(Exception):
    """Base class of every error layerkit raises on purpose."""


class TrainError(LayerkitError):
    """Training cannot start or go on, and why."""


class SpecError(LayerkitError):
    """One problem in a spec.

    Args:
        message: what is wrong, saying what was expected and what was received.
        location: where in the file the problem is written.
        path: the spec path of the offending node, such as ``layers[3].conv2d.filters``.
        fix: how to fix it, as one short imperative sentence.
    """

    def __init__(
        self,
        message: str,
        location: Location | None = None,
        path: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.message = message
        self.location = location
        self.path = path
        self.fix = fix
        super().__init__(self.format())

    def format(self) -> str:
        """The one-line form: ``file:line:col: error: path: message. fix``."""
        parts = [f"{self.location}: error:" if self.location is not None else "error:"]
        if self.path:
            parts.append(f"{self.path}:")
        parts.append(self.message)
        text = " ".join(parts)
        if self.fix:  # a message ending in '?' or '!' keeps it: "…printout? Give …"
            text = f"{text.rstrip('.')}{'' if text.endswith(('?', '!')) else '.'} {self.fix}"
        return text

    def _sort_key(self) -> tuple:
        loc = self.location
        return (loc is None, loc or Location("", 0, 0))


class SpecErrors(LayerkitError):
    """Several spec problems found in one pass, sorted by where they are written. ``hidden``
    counts the problems found past the ones kept in ``errors`` (validation keeps the first 100)."""

    def __init__(self, errors: Iterable[SpecError], hidden: int = 0) -> None:
        self.errors = sorted(errors, key=SpecError._sort_key)
        self.hidden = hidden
        if not self.errors:
            raise ValueError("SpecErrors needs at least one SpecError")
        lines = [error.format() for error in self.errors]
        if hidden:
            lines.append(f"error: {not_shown(hidden)}")
        super().__init__("\n".join(lines))

    @property
    def total(self) -> int:
        """Every problem found, shown or only counted."""
        return len(self.errors) + self.hidden


def not_shown(hidden: int) -> str:
    """The line that stands for the problems past those shown."""
    return (
        f"{hidden:,} more problems not shown. Fix the ones above first; they often cause the rest."
    )


def shortened(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_line(error: BaseException, limit: int = 300) -> str:
    """``ValueError: the message`` of an exception from a library (Keras's run to many lines),
    its whitespace runs folded to one space and its message cut to ``limit`` characters."""
    message = shortened(" ".join(str(error).split()), limit)
    name = type(error).__name__
    return f"{name}: {message}" if message else name


def listed(items: Iterable[str], most: int = 10) -> str:
    """``"a, b, c, …"``: the first ``most`` items, and an ellipsis when there are more."""
    items = list(items)
    return ", ".join(items[:most]) + (", …" if len(items) > most else "")


def did_you_mean(received: str, choices: Iterable[str]) -> str | None:
    """``"Did you mean 'conv2d'?"`` for the closest choice, or None when nothing is close."""
    choices = list(choices)
    lowered = {choice.lower(): choice for choice in choices}
    text = received.lower()
    matches = difflib.get_close_matches(text, list(lowered), n=5, cutoff=0.6)
    if not matches:
        return None
    # equally close choices: the one that starts like what was written ('ad' → 'add', not 'pad')
    best = max(
        matches,
        key=lambda match: (
            round(difflib.SequenceMatcher(None, text, match).ratio(), 9),
            _shared_start(text, match),
        ),
    )
    return f"Did you mean '{lowered[best]}'?"


def _shared_start(first: str, second: str) -> int:
    """How many characters two texts share from their start."""
    count = 0
    for one, other in zip(first, second, strict=False):
        if one != other:
            break
        count += 1
    return count


class ErrorCollector:
    """Collects SpecErrors so a stage can report every problem at once."""

    def __init__(self) -> None:
        self.errors: list[SpecError] = []

    def add(self, error: SpecError) -> None:
        self.errors.append(error)

    def extend(self, errors: Iterable[SpecError]) -> None:
        self.errors.extend(errors)

    def raise_if_any(self) -> None:
        if self.errors:
            raise SpecErrors(self.errors)
