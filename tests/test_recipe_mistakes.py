"""Mistakes in writing the airbench settings (issue 20's review): each is refused by
``layerkit validate`` at its line, with its fix, and the JSON Schema agrees with what validate
takes."""

from __future__ import annotations

import pytest

from layerkit.cli import main

MODEL = """\
name: t
input: [32, 32, 3]
layers: [flatten, {dense: {units: 10, activation: softmax}}]
"""


def validate(document, runner, tmp_path, monkeypatch) -> list[str]:
    """The error lines of ``layerkit validate`` of ``document``, which must exit 2."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec.yaml").write_text(document, encoding="utf-8")
    result = runner.invoke(main, ["validate", "spec.yaml"])
    assert result.exit_code == 2, result.output
    return [line for line in result.output.splitlines() if ": error: " in line]


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("init: {dirac: true}\n",
         "spec.yaml:4:1: error: init: unknown spec field 'init'; 'init' is a train: setting. Move "
         "it under train:."),
        ("lookahead: {every: 5}\n",
         "spec.yaml:4:1: error: lookahead: unknown spec field 'lookahead'; 'lookahead' is a "
         "train: setting. Move it under train:."),
        ("tta_translate: 2\n",
         "spec.yaml:4:1: error: tta_translate: unknown spec field 'tta_translate'; "
         "'tta_translate' is a train: setting. Move it under train:."),
        ("lr_scale: {kernel: 2}\n",
         "spec.yaml:4:1: error: lr_scale: unknown spec field 'lr_scale'; 'lr_scale' is a train: "
         "setting. Move it under train:."),
        ("data:\n  lr_scale: {kernel: 2}\n",
         "spec.yaml:5:3: error: data.lr_scale: unknown data setting 'lr_scale'; 'lr_scale' is a "
         "train: setting. Move it under train:."),
        ("train:\n  source: cifar10\n",
         "spec.yaml:5:3: error: train.source: unknown train setting 'source'; 'source' is a data: "
         "setting. Move it under data:."),
        ("inputt: 3\n",
         "spec.yaml:4:1: error: inputt: unknown spec field 'inputt'. Did you mean 'input'?"),
        ("train:\n  lookahead: {epochs: 3}\n",
         "spec.yaml:5:15: error: train.lookahead.epochs: unknown train.lookahead setting 'epochs'. "
         "Use one of: every, alpha."),
    ],
)  # fmt: skip
def test_a_setting_in_the_wrong_section_says_where_it_belongs(written, message, runner, tmp_path,
                                                              monkeypatch):  # fmt: skip
    """A top-level init: was told "Did you mean 'input'?"; now the section it belongs in."""
    assert validate(MODEL + written, runner, tmp_path, monkeypatch) == [message]
