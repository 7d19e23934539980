"""Every bad construct of the spec language, through the CLI: exit 2, file:line:col, a fix, no traceback."""

from __future__ import annotations

import json

import pytest

from layerkit.cli import main

CASES = {
    "unknown reference": (
        {"net.yaml": "input: [4]\nlayers:\n  - dense: {units: 2, id: a}\n  - add: {inputs: [a, b]}\n"},
        [],
        ("net.yaml", 4, 23),
    ),
    "cycle": (
        {"net.yaml": "input: [4]\nlayers:\n  - dense: {units: 4, id: a, inputs: b}\n"
                     "  - dense: {units: 4, id: b, inputs: a}\n"},
        [],
        ("net.yaml", 3, 5),
    ),
    "merge shape mismatch": (
        {"net.yaml": "input: [4]\nlayers:\n  - dense: {units: 3, id: a}\n"
                     "  - dense: {units: 5, id: b, inputs: input}\n  - add: {inputs: [a, b]}\n"},
        [],
        ("net.yaml", 5, 5),
    ),
    "wrong variable type": (
        {"net.yaml": "vars: {units: many}\ninput: [4]\nlayers:\n  - dense: {units: \"${units}\"}\n"},
        [],
        ("net.yaml", 1, 15),
    ),
    "override of an unknown key": (
        {"net.yaml": "vars: {units: 3}\ninput: [4]\nlayers:\n  - dense: {units: \"${units}\"}\n"},
        ["--set", "vars.unit=4"],
        ("net.yaml", 1, 7),
    ),
    "include not found": (
        {"net.yaml": "include: blocks.yaml\ninput: [4]\nlayers: [flatten]\n"},
        [],
        ("net.yaml", 1, 10),
    ),
    "include cycle": (
        {"net.yaml": "include: lib.yaml\ninput: [4]\nlayers: [flatten]\n", "lib.yaml": "include: net.yaml\n"},
        [],
        ("lib.yaml", 1, 10),
    ),
    "block use missing a parameter": (
        {"net.yaml": "input: [4]\nblocks:\n  b: {params: [units], layers: [{dense: {units: \"${units}\"}}]}\n"
                     "layers:\n  - b: {}\n"},
        [],
        ("net.yaml", 5, 5),
    ),
    "block use with an extra parameter": (
        {"net.yaml": "input: [4]\nblocks:\n  b: {params: [units], layers: [{dense: {units: \"${units}\"}}]}\n"
                     "layers:\n  - b: {units: 2, unis: 3}\n"},
        [],
        ("net.yaml", 5, 19),
    ),
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_bad_construct_exits_2_with_place_and_fix(case, runner, tmp_path, monkeypatch):
    files, options, (file, line, column) = CASES[case]
    monkeypatch.chdir(tmp_path)
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    text_result = runner.invoke(main, ["build", "net.yaml", *options])
    assert text_result.exit_code == 2
    assert "Traceback" not in text_result.output
    assert text_result.stderr.startswith(f"{file}:{line}:{column}: error: ")
    json_result = runner.invoke(main, ["build", "net.yaml", "--json", *options])
    error = json.loads(json_result.stdout)["errors"][0]
    assert (error["file"], error["line"], error["column"]) == (file, line, column)
    assert error["fix"], f"no fix offered: {error['message']}"
