"""Where validation puts the problems it finds, each said once.

Takes every :class:`~layerkit.errors.SpecError` the validation steps (expansion, layer checks,
wiring, settings) report; gives them all at once as one :class:`~layerkit.errors.SpecErrors`.
A block's layers are checked at every use of the block, so a problem written in the block is
kept only the first time it is reported.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import ErrorCollector, Location, SpecError


class Problems:
    """The problems found so far; :meth:`error` drops one already reported at the same place."""

    def __init__(self) -> None:
        self.errors = ErrorCollector()
        self.reported: set[tuple[Location, str]] = set()

    def error(self, message: str, location: Location, path: str, fix: str | None = None) -> None:
        # a block's layers are checked at every use: say a problem written in the block once
        key = (location, message)
        if key not in self.reported:
            self.reported.add(key)
            self.errors.add(SpecError(message, location, path, fix))

    def extend(self, errors: Iterable[SpecError]) -> None:
        """Adds problems found elsewhere (the settings checks), as they are."""
        self.errors.extend(errors)

    @property
    def found(self) -> bool:
        """Whether any problem has been reported."""
        return bool(self.errors.errors)

    def raise_if_any(self) -> None:
        self.errors.raise_if_any()
