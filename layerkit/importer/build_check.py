"""Whether a spec ``layerkit import`` would write can build: an :class:`ImportReport` in (the spec
text and the rows the importer could not import), a :class:`BuildCheck` out — why it cannot, in
one sentence, or None when the spec validates, Keras builds it and every expectation it holds (rows
and totals) is met.

The check builds the model, as ``layerkit build`` would, because ``validate`` leaves what only Keras
can judge (shapes that do not meet, a kernel larger than its input) to the build; the caller
imports Keras first (quietly). A model over the build limit of parameters is validated only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import SpecError, SpecErrors, one_line

if TYPE_CHECKING:
    from ..spec.plan import Plan
    from . import ImportReport


@dataclass(frozen=True)
class BuildCheck:
    """The verdict: ``problem`` is None when the spec builds as imported; ``built`` says whether
    Keras built it (False: it failed before, or it is over the build limit and was validated
    only)."""

    problem: str | None
    built: bool


def check_buildable(report: ImportReport) -> BuildCheck:
    """Rows the importer could not import come first; then ``validate``'s problems, Keras's
    objection, and the expectations the built model misses, each at its line of the spec."""
    if report.not_imported:
        rows = _count(len(report.not_imported), "row")
        return BuildCheck(f"{rows} could not be imported: {'; '.join(report.not_imported)}", False)
    from ..model.estimate import DEFAULT_LIMIT, estimate_params
    from ..spec.loader import load_spec
    from ..spec.validation import validate

    try:
        plan = validate(load_spec(report.text))
    except (SpecError, SpecErrors) as error:
        return BuildCheck(f"it is not a valid spec: {_problems(error)}", False)
    estimate = estimate_params(plan)
    if estimate is not None and estimate[0] > DEFAULT_LIMIT:
        return BuildCheck(None, False)  # too large to build here
    return BuildCheck(_build_problem(plan), True)


def _build_problem(plan: Plan) -> str | None:
    from ..model.compiler import build
    from ..model.report import summarize

    try:
        model = build(plan, allow_large=True)  # the size was checked before
    except (SpecError, SpecErrors) as error:
        return f"Keras cannot build it: {_problems(error)}"
    except Exception as error:  # Keras's own, unforeseen: the spec is still not written
        return f"Keras cannot build it: {one_line(error)}"
    summary = summarize(model, plan)
    if not summary.ok:
        return f"it builds, but not as imported: {'; '.join(summary.problems)}"
    return None


def _problems(error: SpecError | SpecErrors) -> str:
    """The problems as one sentence: the first at its line of the spec, and how many more."""
    errors, hidden = (error.errors, error.hidden) if isinstance(error, SpecErrors) else ([error], 0)
    first, more = errors[0], len(errors) - 1 + hidden
    where = f"line {first.location.line} of the spec, " if first.location else ""
    where += f"{first.path}: " if first.path else ""
    return f"{where}{first.message}" + (f" (and {_count(more, 'more problem')})" if more else "")


def _count(number: int, thing: str) -> str:
    return f"{number:,} {thing}{'' if number == 1 else 's'}"
