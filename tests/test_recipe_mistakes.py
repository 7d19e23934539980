"""Mistakes in writing the airbench settings (issue 20's review): each is refused by
``layerkit validate`` at its line, with its fix, and the JSON Schema agrees with what validate
takes."""

from __future__ import annotations

import pytest

MODEL = """\
name: t
input: [32, 32, 3]
layers: [flatten, {dense: {units: 10, activation: softmax}}]
"""


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
         "Use one of: every, alpha, ramp."),
    ],
)  # fmt: skip
def test_a_setting_in_the_wrong_section_says_where_it_belongs(written, message, validate_text):
    """A top-level init: was told "Did you mean 'input'?"; now the section it belongs in."""
    result = validate_text(MODEL + written)
    assert result.exit_code == 2, result.output
    assert result.errors == [message]


@pytest.mark.parametrize(
    "written",
    ["lr_scale: null", "lr_scale: {}", "lr_scale: {kernel: 2}", "lr_scale: {kernel: 0}",
     "lr_scale: 64", "lookahead: null", "lookahead: {}", "lookahead: {alpha: 0}", "init: null",
     "init: {}", "init: {whiten_eps: 0}", "tta_translate: null", "tta_translate: 2",
     "tta_translate: -1"],
)  # fmt: skip
def test_the_schema_takes_what_validate_takes(written, validate_text):
    """The schema declared lr_scale an object, while validate took 'lr_scale: null' (off)."""
    import jsonschema
    import yaml

    from layerkit.spec.schema import spec_schema

    document = f"{MODEL}train:\n  tta: flip\n  {written}\n"
    result = validate_text(document)
    assert result.exit_code in (0, 2), result.output
    schema_errors = list(jsonschema.Draft7Validator(spec_schema()).iter_errors(
        yaml.safe_load(document)))  # fmt: skip
    assert (result.exit_code == 0) == (not schema_errors), (result.output, schema_errors)
