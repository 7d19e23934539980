"""Every spec example in docs/ and every spec in specs/ and examples/ is loaded and checked."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from layerkit import SpecErrors, build, load_spec, summarize, validate
from layerkit.model.render import verdict

from .conftest import EXAMPLES, ROOT, SPECS

DOCS = ROOT / "docs"
DOC_FILES = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]
FENCE = re.compile(r"```(?P<info>[^\n]*)\n(?P<body>.*?)```", re.DOTALL)


def doc_examples(kind: str) -> list:
    """(id, yaml, following text block) for each ```yaml <kind> block in docs/*.md."""
    found = []
    for doc in DOC_FILES:
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
def test_doc_example_builds_and_matches(text, following, monkeypatch):
    monkeypatch.chdir(ROOT)  # includes in examples are relative to the project's root
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


CONSOLE = re.compile(r"```console\n\$ (?P<command>[^\n]+)\n(?P<output>.*?)```", re.DOTALL)
EXIT_LINE = re.compile(r"\[exit (\d+)\]\n\Z")


def console_examples() -> list:
    found = []
    for doc in DOC_FILES:
        text = doc.read_text(encoding="utf-8")
        for match in CONSOLE.finditer(text):
            line = text[: match.start()].count("\n") + 1
            found.append(pytest.param(match["command"], match["output"], id=f"{doc.name}:{line}"))
    return found


@pytest.mark.slow
@pytest.mark.parametrize(("command", "output"), console_examples())
def test_console_example_prints_what_the_doc_shows(command, output, runner, monkeypatch, tmp_path):
    from layerkit.cli import main

    # run in a scratch folder that sees the project's specs and examples, so examples that write
    # files (new, graph, schema -o) leave the checkout alone
    for folder in ("specs", "examples"):
        (tmp_path / folder).symlink_to(ROOT / folder)
    monkeypatch.chdir(tmp_path)
    program, *args = shlex.split(command)
    assert program == "layerkit"
    exit_match = EXIT_LINE.search(output)
    expected_code = int(exit_match.group(1)) if exit_match else 0
    expected_output = output[: exit_match.start()] if exit_match else output
    result = runner.invoke(main, args, catch_exceptions=False)
    assert (result.output, result.exit_code) == (expected_output, expected_code)


def test_cli_docs_have_console_examples():
    assert len([p for p in console_examples() if "cli.md" in p.id]) >= 4


def python_examples() -> list:
    found = []
    for doc in DOC_FILES:
        text = doc.read_text(encoding="utf-8")
        for block in FENCE.finditer(text):
            if block["info"].strip() == "python":
                line = text[: block.start()].count("\n") + 1
                found.append(pytest.param(block["body"], id=f"{doc.name}:{line}"))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("code", python_examples())
def test_python_example_runs(code, monkeypatch):
    from layerkit.catalog.layers import default_registry

    monkeypatch.chdir(ROOT)
    before = set(default_registry().names())
    try:
        exec(compile(code, "<doc example>", "exec"), {"__name__": "doc_example"})
    finally:
        for name in set(default_registry().names()) - before:
            default_registry().unregister(name)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("text", "following"), [p for p in doc_examples("") if "\ntrain:" in p.values[0]]
)
def test_doc_recipes_make_keras_objects(text, following):
    """Every documented train: section turns into a real optimizer, schedule, loss and metrics."""
    from layerkit.training.loop import _check_recipe
    from layerkit.training.optimizers import make_optimizer
    from layerkit.training.recipe import make_loss, make_metrics

    spec = load_spec(text)
    _check_recipe(spec)  # what train checks before loading data: tta, target, ...
    assert make_optimizer(spec.train, steps_per_epoch=10).iterations is not None
    assert make_loss(spec.train) is not None
    assert [metric.name for metric in make_metrics(spec.train)] == list(spec.train.metrics)


def heading_anchors(text: str) -> set[str]:
    """The anchors GitHub gives a Markdown file's headings: lower case, punctuation dropped,
    spaces as hyphens, a repeated heading numbered ``-1``, ``-2``…"""
    anchors: set[str] = set()
    outside_code = FENCE.sub("", text)
    for heading in re.findall(r"^#{1,6} +(.+?) *#*$", outside_code, flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        anchor, count = slug, 0
        while anchor in anchors:
            count += 1
            anchor = f"{slug}-{count}"
        anchors.add(anchor)
    return anchors


def test_links_between_docs_reach_their_files_and_headings():
    """A link such as ``[benchmarks](benchmarks.md#30-epochs)`` or ``(#how-long-to-keep-dropout)``
    breaks silently when a heading is renamed; every one in docs/ and the README must land."""
    broken, anchors = [], {}  # anchors: each linked file's, read once
    for doc in DOC_FILES:
        text = doc.read_text(encoding="utf-8")
        for target, anchor in re.findall(
            r"\]\(([\w./-]*\.md)?(?:#([\w-]+))?\)", FENCE.sub("", text)
        ):
            path = (doc.parent / target).resolve() if target else doc.resolve()
            if not path.is_file():
                broken.append(f"{doc.name}: {target} does not exist")
                continue
            if path not in anchors:
                anchors[path] = heading_anchors(path.read_text(encoding="utf-8"))
            if anchor and anchor not in anchors[path]:
                broken.append(f"{doc.name}: no heading in {path.name} gives #{anchor}")
    assert broken == []
