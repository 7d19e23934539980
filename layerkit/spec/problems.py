"""Where reading and validation put the problems they find, each said once, the first 100 in full.

Takes every :class:`~layerkit.errors.SpecError` the reading steps (:class:`~.value_reader.
ValueReader`) and validation steps (expansion, layer checks, wiring, settings) report; gives them
all at once as one :class:`~layerkit.errors.SpecErrors`. A block's layers are checked at every use
of the block, so a problem written in the block is kept only the first time it is reported.
Past :data:`MAX_REPORTED` problems the rest are only counted (one closing line says how many),
and a hint that costs a search (a "did you mean" over a catalog) is not worked out for them, so a
spec with 90,000 mistakes is reported in the time it takes to read it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..errors import ErrorCollector, Location, SpecError, SpecErrors, did_you_mean
from .expression_budget import Steps

MAX_REPORTED = 100  # problems shown in full; the rest are counted
MAX_CHOICES = 1000  # names a "did you mean" searches; past this none is suggested

# a fix, or a function that works it out (called only for a problem that is shown)
Fix = str | Callable[[], str | None] | None


def suggest(received: str, choices: Iterable[str]) -> str | None:
    """``"Did you mean 'x'?"``, searching at most :data:`MAX_CHOICES` names (a search costs
    time in proportion to them, for every problem)."""
    choices = list(choices)
    return None if len(choices) > MAX_CHOICES else did_you_mean(received, choices)


class BoundedErrors(ErrorCollector):
    """An :class:`~layerkit.errors.ErrorCollector` that keeps the first :data:`MAX_REPORTED`
    problems and counts the rest."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = 0

    @property
    def full(self) -> bool:
        """Whether the next problem would only be counted."""
        return len(self.errors) >= MAX_REPORTED

    def add(self, error: SpecError) -> None:
        if self.full:
            self.hidden += 1
        else:
            self.errors.append(error)

    def extend(self, errors: Iterable[SpecError]) -> None:
        for error in errors:
            self.add(error)

    def raise_if_any(self) -> None:
        if self.errors:
            raise SpecErrors(self.errors, hidden=self.hidden)


class Problems:
    """The problems found so far; :meth:`error` drops one already reported at the same place."""

    def __init__(self) -> None:
        self.errors = BoundedErrors()
        self.reported: set[tuple[Location, str]] = set()
        self.steps = Steps()  # the work of every ${...} of the spec, counted together

    def error(
        self, message: str, location: Location, path: str, fix: Fix = None, once: str = ""
    ) -> None:
        """Report a problem, unless the same one was reported at the same place. ``once`` names a
        kind of problem said once per place whatever its message: a ``${...}`` that gives a bad
        value in every pass of a repeat or use of a block is said for the first."""
        # a block's layers are checked at every use: say a problem written in the block once
        key = (location, once or message)
        if key in self.reported:
            return
        self.reported.add(key)
        if self.errors.full:
            self.errors.hidden += 1
            return
        self.errors.add(SpecError(message, location, path, fix() if callable(fix) else fix))

    @property
    def full(self) -> bool:
        """Whether further problems are only counted (so costly hints need not be worked out)."""
        return self.errors.full

    def extend(self, errors: Iterable[SpecError]) -> None:
        """Adds problems found elsewhere (the settings checks), as they are."""
        self.errors.extend(errors)

    @property
    def found(self) -> bool:
        """Whether any problem has been reported."""
        return bool(self.errors.errors) or self.errors.hidden > 0

    def raise_if_any(self) -> None:
        self.errors.raise_if_any()
