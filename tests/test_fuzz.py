"""Property tests: any input either loads, validates and builds, or raises layerkit's own error
with a place in the file. Never another exception, a hang or a traceback."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from layerkit import SpecError, SpecErrors, build, load_spec, validate

from .conftest import SPECS
from .spec_strategies import mutated, spec_text, specs

CHECK = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


def check(text: str, build_too: bool = False) -> str:
    """'ok', or 'error' after checking that every error says where it is."""
    try:
        plan = validate(load_spec(text))
    except SpecErrors as errors:
        assert all(error.location is not None for error in errors.errors), errors
        return "error"
    except SpecError as error:
        assert error.location is not None, error
        return "error"
    if build_too and len(plan.layers) <= 30:
        try:
            build(plan)
        except SpecError as error:
            assert error.location is not None, error
            return "error"
    return "ok"


@CHECK
@given(specs())
def test_generated_specs_load_validate_or_fail_with_a_place(document):
    check(spec_text(document))


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(specs())
def test_generated_specs_that_validate_also_build_or_fail_with_a_place(document):
    check(spec_text(document), build_too=True)


CIFAR_TEXT = (SPECS / "cifar.yaml").read_text(encoding="utf-8")
RESNET_TEXT = (SPECS / "resnet50.yaml").read_text(encoding="utf-8")


@CHECK
@given(mutated(CIFAR_TEXT))
def test_mutated_reference_spec(text):
    check(text)


@CHECK
@given(mutated(RESNET_TEXT))
def test_mutated_graph_spec(text):
    check(text)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutated(CIFAR_TEXT))
def test_mutated_reference_spec_builds_or_fails_with_a_place(text):
    check(text, build_too=True)
