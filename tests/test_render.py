"""Rendering: the plain text and the rich table compared with golden files, and the JSON object."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from rich.console import Console

from layerkit import build, load_spec, summarize
from layerkit.model.render import format_flops, render_json, render_plain, render_table, theme

from .conftest import DATA, ROOT

pytestmark = pytest.mark.slow

# Set LAYERKIT_UPDATE_GOLDEN=1 to rewrite the golden files after an intended change of layout.
UPDATE = os.environ.get("LAYERKIT_UPDATE_GOLDEN") == "1"


def check_golden(name: str, text: str) -> None:
    path = DATA / name
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def cifar_summary():
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        spec = load_spec("specs/cifar.yaml")
        return summarize(build(spec), spec)
    finally:
        os.chdir(cwd)


def test_plain_text_matches_golden(cifar_summary):
    text = render_plain(cifar_summary)
    check_golden("cifar_summary.txt", text)
    assert not any(char in text for char in "│┃━─┏\x1b")


def test_rich_table_matches_golden(cifar_summary):
    buffer = io.StringIO()
    console = Console(
        file=buffer, width=120, color_system=None, theme=theme(), legacy_windows=False
    )
    console.print(render_table(cifar_summary, console.width))
    check_golden("cifar_summary_rich.txt", buffer.getvalue())


def test_narrow_terminal_stacks_columns_and_never_cuts_numbers(cifar_summary):
    buffer = io.StringIO()
    console = Console(file=buffer, width=80, color_system=None, theme=theme())
    console.print(render_table(cifar_summary, console.width))
    text = buffer.getvalue()
    assert "2,098,176" in text and "147,584" in text
    assert "Type" not in text.splitlines()[2] and "Conv2D, line 20" in text  # under the name
    assert max(len(line) for line in text.splitlines()) <= 80


def test_json_has_the_documented_fields(cifar_summary):
    data = json.loads(render_json(cifar_summary))
    assert data["ok"] is True
    assert (data["total_params"], data["trainable_params"], data["non_trainable_params"]) == (
        2_494_982,
        2_491_838,
        3_144,
    )
    assert data["flops"] == 40_949_836
    first = data["layers"][0]
    assert first == {
        "index": 1,
        "name": "conv2d",
        "type": "Conv2D",
        "output_shape": [None, 32, 32, 32],
        "params": 896,
        "trainable_params": 896,
        "flops": 884_736,
        "expected_output_shape": [None, 32, 32, 32],
        "expected_params": 896,
        "ok": True,
        "problems": [],
        "line": 20,
    }
    assert len(data["layers"]) == 25


def test_format_flops():
    assert [format_flops(n) for n in (0, 999, 1_000, 884_736, 40_949_836, 4_100_000_000)] == [
        "0",
        "999",
        "1.0K",
        "884.7K",
        "40.9M",
        "4.1G",
    ]


def test_names_with_brackets_are_shown_as_written_not_as_markup(write_spec, monkeypatch):
    """rich reads '[red]' or '[/]' in a string as markup: names and paths must be plain text."""
    from layerkit import validate
    from layerkit.model.render import render_evaluation, render_predictions

    path = write_spec(
        "input: [4]\nlayers:\n  - dense: {units: 2, name: 'dense[red]_1'}\n",
        name="odd[b]name.yaml",
    )
    monkeypatch.chdir(path.parent)
    plan = validate(load_spec(Path(path.name)))
    buffer = io.StringIO()
    console = Console(file=buffer, width=120, color_system=None, theme=theme())
    console.print(render_table(summarize(build(plan), plan), 120))
    shown = buffer.getvalue()
    assert "odd[b]name" in shown and "odd[b]name.yaml" in shown and "dense[red]_1" in shown
    result = {"n": 2, "data": "d", "tta": None, "accuracy": 0.5, "top5_accuracy": 1.0, "loss": 1.0,
              "class_names": ["[bold]cat", "dog[/]"], "per_class": {"[bold]cat": 1.0, "dog[/]": 0.0},
              "confusion": [[1, 0], [1, 0]]}  # fmt: skip
    console.print(render_evaluation(result))
    console.print(render_predictions([{"file": "a[/]b.png", "top": [{"class": "dog[/]",
                                                                      "probability": 0.9}]}]))  # fmt: skip
    shown = buffer.getvalue()
    assert "[bold]cat" in shown and "[bold]cat (1)" in shown and "a[/]b.png" in shown
