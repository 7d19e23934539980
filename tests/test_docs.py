"""Every spec example in docs/ and every spec in specs/ and examples/ is loaded and checked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from layerkit import SpecErrors, build, load_spec, summarize, validate
from layerkit.render import verdict

from .conftest import EXAMPLES, ROOT, SPECS

DOCS = ROOT / "docs"
FENCE = re.compile(r"```(?P<info>[^\n]*)\n(?P<body>.*?)```", re.DOTALL)


def doc_examples(kind: str) -> list:
    """(id, yaml, following text block) for each ```yaml <kind> block in docs/*.md."""
    found = []
    for doc in sorted(DOCS.glob("*.md")):
        blocks = list(FENCE.finditer(doc.read_text(encoding="utf-8")))
        for index, block in enumerate(blocks):
            if block["info"].strip() != f"yaml {kind}".strip():
                continue
            following = blocks[index + 1]["body"] if index + 1 < len(blocks) else ""
            line = doc.read_text(encoding="utf-8")[: block.start()].count("\n") + 1
            found.append(pytest.param(block["body"], following, id=f"{doc.name}:{line}"))
    return found


@pytest.mark.slow
@pytest.mark.parametrize(("text", "following"), doc_examples(""))
def test_doc_example_builds_and_matches(text, following):
    spec = load_spec(text)
    summary = summarize(build(spec), spec)
    assert summary.ok, summary.problems


@pytest.mark.parametrize(("text", "following"), doc_examples("invalid"))
def test_doc_error_example_reports_what_the_doc_shows(text, following):
    with pytest.raises(SpecErrors) as caught:
        validate(load_spec(text))
    assert "\n".join(error.format() for error in caught.value.errors) + "\n" == following


@pytest.mark.slow
@pytest.mark.parametrize(("text", "following"), doc_examples("mismatch"))
def test_doc_mismatch_example_shows_the_documented_verdict(text, following):
    spec = load_spec(text)
    summary = summarize(build(spec), spec)
    assert verdict(summary) + "\n" == following


def test_docs_have_examples_of_each_kind():
    assert len(doc_examples("")) >= 4
    assert doc_examples("invalid") and doc_examples("mismatch")


SHIPPED = sorted([*SPECS.glob("*.yaml"), *EXAMPLES.glob("*.yaml")])


@pytest.mark.slow
@pytest.mark.parametrize("path", SHIPPED, ids=[str(p.relative_to(ROOT)) for p in SHIPPED])
def test_every_shipped_spec_builds_and_matches_its_expectations(path: Path):
    spec = load_spec(path)
    assert spec.expect.total_params is not None, "every shipped spec states its expected totals"
    summary = summarize(build(spec), spec)
    assert summary.ok, summary.problems
