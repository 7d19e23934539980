"""``layerkit diff``: where two networks differ. Two sources in (each a spec, a printed
``model.summary()``, a ``.keras`` model, ``keras:NAME`` or a run directory), a
:class:`~.comparison.Diff` out: the layers paired up, each pair same or changed (and how), the
layers only in one side, the first difference and both sides' parameter totals.

Three steps, one module each: :mod:`.sides` reads a source into layer records (:mod:`.records`),
:mod:`.alignment` pairs the layers (as sequences, or by wiring for graphs), :mod:`.comparison`
names what differs. Printing is :mod:`layerkit.console.diffing`'s.
"""

from __future__ import annotations

from collections.abc import Sequence

from .comparison import Diff, compare
from .sides import read_side

__all__ = ["Diff", "diff"]


def diff(a: str, b: str, overrides: Sequence[str] = (), variant: str | None = None,
         safe_mode: bool = True, allow_large: bool = False) -> Diff:  # fmt: skip
    """Compare the networks ``a`` and ``b`` name; ``overrides`` and ``variant`` apply to each
    side that is a spec file, ``allow_large`` builds a spec of over a billion parameters."""
    return compare(read_side(a, overrides, variant, safe_mode, allow_large),
                   read_side(b, overrides, variant, safe_mode, allow_large))  # fmt: skip
