"""layerkit schema: a standard JSON Schema that every shipped spec satisfies and typos fail."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from layerkit.cli import main
from layerkit.spec.document import BLOCK_FIELDS, ROW_FIELDS, TOP_LEVEL_FIELDS, VARIANT_FIELDS
from layerkit.spec.schema import spec_schema
from layerkit.spec.settings import DATA_FIELDS, TRAIN_FIELDS

from .conftest import EXAMPLES, ROOT, SPECS
from .test_docs import doc_examples

SCHEMA = spec_schema()
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)
SHIPPED = sorted([*SPECS.glob("*.yaml"), *EXAMPLES.glob("*.yaml")])


def test_schema_is_a_valid_draft7_schema():
    jsonschema.Draft7Validator.check_schema(SCHEMA)


def test_schema_covers_every_field_the_loader_knows():
    assert set(SCHEMA["properties"]) == set(TOP_LEVEL_FIELDS)
    assert set(SCHEMA["definitions"]["block"]["properties"]) == set(BLOCK_FIELDS)
    assert set(SCHEMA["properties"]["train"]["properties"]) == set(TRAIN_FIELDS)
    data_fields = SCHEMA["properties"]["data"]["anyOf"][1]["properties"]
    assert set(data_fields) == set(DATA_FIELDS)
    row = SCHEMA["definitions"]["expect"]["properties"]["rows"]["items"]
    assert set(row["properties"]) == set(ROW_FIELDS)
    variant = SCHEMA["properties"]["variants"]["additionalProperties"]
    assert set(variant["properties"]) == set(VARIANT_FIELDS)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_spec_satisfies_the_schema(path):
    errors = [error.message for error in VALIDATOR.iter_errors(yaml.safe_load(path.read_text()))]
    assert errors == []


@pytest.mark.parametrize(("text", "following"), doc_examples(""))
def test_every_doc_example_satisfies_the_schema(text, following):
    assert [error.message for error in VALIDATOR.iter_errors(yaml.safe_load(text))] == []


@pytest.mark.parametrize(
    ("spec", "bad_path"),
    [
        ({"input": [4], "layers": [{"dense": {"unitz": 3}}]}, ["layers", 0]),
        ({"input": [4], "layers": [{"dense": {"units": "ten"}}]}, ["layers", 0]),
        ({"input": [4], "layers": [{"conv2d": {"kernel_size": 3}}]}, ["layers", 0]),
        ({"input": [4], "layers": ["flatten"], "expcet": {}}, []),
        ({"input": [0], "layers": ["flatten"]}, ["input"]),
        ({"input": [4], "layers": [{"repeat": -1, "layers": ["flatten"]}]}, ["layers", 0]),
        ({"input": [4], "layers": ["flatten"], "variants": {"1b": {"vars": {}}}}, ["variants"]),
        (
            {"input": [4], "layers": ["flatten"], "variants": {"b1": {"varz": {}}}},
            ["variants", "b1"],
        ),
        (
            {"input": [4], "layers": ["flatten"], "variants": {"b1": {"expect": {"total": 3}}}},
            ["variants", "b1", "expect"],
        ),
        ({"input": [4], "layers": ["flatten"], "expect": {"total_params": "12"}}, ["expect"]),
    ],
)
def test_mistakes_fail_the_schema(spec, bad_path):
    error = jsonschema.exceptions.best_match(VALIDATOR.iter_errors(spec))
    assert error is not None
    assert list(error.absolute_path)[: len(bad_path)] == bad_path


def test_expressions_are_accepted_where_values_are_typed():
    spec = {"vars": {"w": 2}, "input": [4], "layers": [{"dense": {"units": "${8 * w}"}}]}
    assert list(VALIDATOR.iter_errors(spec)) == []


def test_variants_and_expressions_in_shapes_and_expectations_are_accepted():
    spec = {
        "vars": {"width": 8, "size": 16},
        "input": ["${size}", "${size}", 3],
        "layers": [
            {"repeat": 0, "layers": ["flatten"]},
            {"dense": {"units": "${width}", "if": "${width > 4}"}},
        ],
        "expect": {
            "total_params": "${(16 * 16 * 3 + 1) * width}",
            "rows": [{"shape": ["${width}"], "params": "${769 * width}"}],
        },
        "variants": {
            "small": {"description": "half", "vars": {"width": 4}},
            "b_1": {"vars": {"width": 16}, "expect": {"total_params": 12304}},
        },
    }
    assert [error.message for error in VALIDATOR.iter_errors(spec)] == []
    whole = {"vars": {"shape": [4]}, "input": "${shape}", "layers": ["flatten"]}
    assert [error.message for error in VALIDATOR.iter_errors(whole)] == []


def test_cli_prints_and_writes_the_schema(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    result = runner.invoke(main, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == json.loads(json.dumps(SCHEMA))
    target = tmp_path / "layerkit.schema.json"
    assert runner.invoke(main, ["schema", "-o", str(target)]).exit_code == 0
    assert json.loads(target.read_text()) == json.loads(result.stdout)
    again = runner.invoke(main, ["schema", "-o", str(target)])
    assert again.exit_code == 2
    assert "already exists; pass --force to replace it" in again.stderr
