"""Every variant of a spec built and checked: ``layerkit build SPEC --all-variants``'s stage.

Takes a spec's path and the ``--set`` values; gives the spec as written and, for each of its
``variants:`` in order, a :class:`VariantResult` (its name, description and checked
:class:`~layerkit.model.report.Summary`). Every variant is validated before any is built, so a
mistake in one is said at once (each problem saying which variant it is in); Keras's session is cleared after each build, so the memory of one
variant's model is free for the next. :mod:`layerkit.console.variant_table` renders the results.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import Location, SpecError, SpecErrors
from ..spec.document import Spec
from ..spec.loader import load_spec
from ..spec.validation import validate
from .report import Summary, summarize


@dataclass(frozen=True)
class VariantResult:
    """One variant built and checked."""

    name: str
    description: str | None
    summary: Summary

    @property
    def checked(self) -> bool:
        """Whether the variant (or the spec) states any expectation."""
        return self.summary.checked_count > 0


def variants_of(spec: Spec) -> list[str]:
    """The names of ``spec``'s variants, in order.

    Raises:
        SpecError: the spec has none.
    """
    if not spec.variants:
        raise SpecError(
            "--all-variants: the spec has no variants",
            Location(spec.file, 1, 1),
            fix="Declare them under 'variants:' (see docs/spec.md, \"Variants\"), or leave out "
            "--all-variants.",
        )
    return list(spec.variants)


def build_variants(
    path: Path, overrides: Sequence[str] = (), allow_large: bool = False
) -> tuple[Spec, list[VariantResult]]:
    """The spec at ``path`` (no variant chosen) and each of its variants built and checked.

    Raises:
        SpecError: the spec has no variants.
        SpecErrors, SpecError: a variant is invalid (the first one that is, with all its
            problems, each saying which variant it is in); every variant is validated before
            any is built, but a value only Keras refuses is said when its variant is built.
    """
    import keras

    from .compiler import build

    spec = load_spec(path, overrides)
    plans = {}
    for name in variants_of(spec):
        with _in_variant(name):
            plans[name] = validate(load_spec(path, overrides, name))
    results = []
    for name, plan in plans.items():
        with _in_variant(name):  # Keras may still refuse a value, at its line
            summary = summarize(build(plan, allow_large=allow_large), plan)
        keras.backend.clear_session()  # the next variant starts with this one's memory free
        results.append(VariantResult(name, spec.variants[name].description, summary))
    return spec, results


@contextmanager
def _in_variant(name: str) -> Iterator[None]:
    """Each spec problem raised inside says that it is in variant ``name``."""
    try:
        yield
    except SpecErrors as errors:
        raise SpecErrors([_said_in(e, name) for e in errors.errors], errors.hidden) from None
    except SpecError as error:
        raise _said_in(error, name) from None


def _said_in(error: SpecError, name: str) -> SpecError:
    return SpecError(f"in variant '{name}': {error.message}", error.location, error.path, error.fix)
