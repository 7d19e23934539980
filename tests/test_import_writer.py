"""The importer's spec writer: every value goes through PyYAML's emitter and reads back as itself,
whatever YAML 1.1 would make of it written plainly (``1e-06`` as text, ``yes`` as true, ``a: b``
as a mapping)."""

from __future__ import annotations

import math

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerkit import load_spec, validate
from layerkit.importer import import_summary, spec_name
from layerkit.importer.graph import Graph, GraphInput, GraphNode
from layerkit.importer.imported_layer import ImportedLayer
from layerkit.importer.summary import SummaryRow
from layerkit.importer.writer import Flow, UnwritableValueError, write_spec, yaml_key, yaml_line
from layerkit.spec.yaml_source import parse_yaml

from .conftest import DATA, EXAMPLES

AWKWARD_TEXT = ["yes", "no", "on", "off", "y", "n", "true", "False", "null", "Null", "~", "",
                "1e5", "1e-06", "1.5", "-3", "+4", "0x1F", "0o17", "0b101", "1_000", ".inf",
                "-.inf", "inf", "nan", ".NaN", "12:30", "2024-01-01", "a: b", "#x", "a #b", "- x",
                "? x", "[1]", "{a: 1}", "'", '"', "\\", "*alias", "&anchor", "!tag", "%x", "@x",
                "`x", "|", ">", " lead", "trail ", "a\nb", "a\r\nb", "tab\there", "…", "é",
                "${filters}", "=", "<<"]  # fmt: skip
AWKWARD_NUMBERS = [1e-6, 1e-7, 1.001e-05, 1e20, -1e20, 5e-324, 1.7976931348623157e308, -0.0,
                   0.1, -2.5, math.inf, -math.inf, 0, -1, 2**63, -(2**70)]  # fmt: skip

keys = st.text(max_size=12)
scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
spec_values = st.recursive(
    scalars | st.sampled_from(AWKWARD_TEXT) | st.sampled_from(AWKWARD_NUMBERS),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(keys | st.sampled_from(AWKWARD_TEXT), inner, max_size=4)
    ),
    max_leaves=12,
)


def plain(value):
    """What a value reads back as: tuples are lists; NaN is compared as a marker (NaN != NaN)."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, float) and math.isnan(value):
        return "<nan>"
    return value


def read_back(text: str):
    """The text read both ways a spec is read: yaml.safe_load, and layerkit's own reader (which
    refuses any tag beyond the plain data ones)."""
    loaded = plain(yaml.safe_load(text))
    assert plain(parse_yaml(text, "<test>").plain()) == loaded
    return loaded


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(value=spec_values, comment=st.text(max_size=20))
def test_every_value_reads_back_as_itself(value, comment):
    """A layer's arguments on a list item, an entry's value, with a comment after it."""
    item = yaml_line([{"dense": Flow({"value": value, "id": "on"})}], "  ", comment)
    assert read_back("layers:\n" + item) == {
        "layers": [{"dense": plain({"value": value, "id": "on"})}]
    }
    assert "\n" not in item  # flow style keeps each layer on its line, comment included
    entry = yaml_line({"value": Flow(value)}, "  ")
    assert read_back("expect:\n" + entry + "\n") == {"expect": {"value": plain(value)}}
    assert read_back("\n".join([yaml_line({"name": value}), "version: 1"])) == {
        "name": plain(value), "version": 1,
    }  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(key=keys | st.sampled_from(AWKWARD_TEXT), comment=st.text(max_size=20))
def test_every_key_reads_back_as_itself(key, comment):
    """Keys: block names and input names open a block of their own or hold a shape."""
    text = "\n".join([yaml_key(key, "", comment), yaml_line({"depth": 2}, "  ")])
    assert read_back(text) == {key: {"depth": 2}}
    assert read_back(yaml_line({key: Flow([32, None])})) == {key: [32, None]}


@pytest.mark.parametrize(
    ("value", "written"),
    [(1e-6, "1.0e-06"), (1e20, "1.0e+20"), (1.001e-05, "1.001e-05"), (-3, "-3"),
     (math.inf, ".inf"), (None, "null"), (True, "true"), ((1, 2), "[1, 2]"),
     ("same", "same"), ("yes", "'yes'"), ("1e5", "'1e5'"), ("a: b", "'a: b'"),
     ("${filters}", "'${filters}'"), ("a\nb", '"a\\nb"'), ("conv2d_1…", "conv2d_1…")],
)  # fmt: skip
def test_values_are_written_as_yaml_writes_them_and_stay_readable(value, written):
    """Numbers YAML 1.1 reads as numbers (a decimal point before the exponent), text quoted only
    where it would read as something else (or, like ``1e5``, look like a number to a reader)."""
    assert yaml_line([{"dense": Flow({"v": value})}]) == f"- dense: {{v: {written}}}"


def test_values_a_spec_cannot_hold_are_refused_by_name():
    with pytest.raises(UnwritableValueError, match=r"cannot write \{1, 2\} \(a set\)"):
        yaml_line({"value": Flow({1, 2})})
    with pytest.raises(UnwritableValueError, match="cannot write b'x' \\(a bytes\\)"):
        yaml_line({"value": b"x"})


def _node(kind, args, node_id, sources, notes=()):
    row = SummaryRow(node_id, None, ((8,),), 0, 0)
    return GraphNode(ImportedLayer(kind, dict(args), row, list(notes)), node_id, list(sources))


def test_a_whole_spec_with_awkward_names_and_values_reads_back_and_validates():
    """Names YAML 1.1 reads as numbers or booleans (a model called 2024, inputs called 'on' and
    'yes'), arguments with tiny, huge and negative numbers and YAML-special text: the written spec
    is what was meant, comments included, and passes validation."""
    regularizer = {"class_name": "L1L2", "config": {"l1": 1e-6, "l2": 1e20}}
    nodes = [
        _node("dense", {"units": 8, "kernel_regularizer": regularizer}, "dense", ["on"],
              ["activation"]),
        _node("layer_normalization", {"epsilon": 1e-6}, "norm", ["dense"]),
        _node("rescaling", {"scale": 1e-7, "offset": -1e20}, "scaled", ["norm"]),
        _node("reshape", {"target_shape": (2, -1)}, "reshaped", ["scaled"]),
        _node("flatten", {}, "flat", ["reshaped"]),
        _node("dense", {"units": 4}, "side", ["yes"]),
        _node("concatenate", {}, "merged", ["flat", "side"]),
    ]  # fmt: skip
    graph = Graph(
        [GraphInput("on", (8,), "on"), GraphInput("yes", (3,), "yes", "int32")], nodes, ["merged"]
    )
    text = write_spec(graph, {"total_params": 110}, "2024", "model: a.keras\n#2")
    data = yaml.safe_load(text)
    assert data["name"] == "2024"
    assert data["inputs"] == {"on": [8], "yes": {"shape": [3], "dtype": "int32"}}
    assert data["layers"] == [
        {"dense": {"units": 8, "kernel_regularizer": regularizer, "inputs": "on"}},
        {"layer_normalization": {"epsilon": 1e-6}},
        {"rescaling": {"scale": 1e-7, "offset": -1e20}},
        {"reshape": {"target_shape": [2, -1]}},
        {"flatten": {"id": "flat"}},
        {"dense": {"units": 4, "id": "side", "inputs": "yes"}},
        {"concatenate": {"inputs": ["flat", "side"]}},
    ]
    lines = text.splitlines()
    assert lines[0] == "# Imported by `layerkit import` from model: a.keras #2."
    assert (
        "  - dense: {units: 8, kernel_regularizer: {class_name: L1L2, config: {l1: 1.0e-06, "
        "l2: 1.0e+20}}, inputs: 'on'}  # not in the summary: activation"
    ) in lines
    assert "  - layer_normalization: {epsilon: 1.0e-06}" in lines
    assert data["expect"]["rows"][0] == {"name": "dense", "shape": [8], "params": 0}
    validate(load_spec(text))  # raises SpecErrors on any problem


PRINTOUTS = sorted(
    [
        DATA / "cifar_keras2_summary.txt",
        *(DATA / "summaries").glob("*.txt"),
        *EXAMPLES.glob("*.txt"),
    ]
)


@pytest.mark.parametrize("printed", PRINTOUTS, ids=lambda path: path.name)
def test_every_test_printout_imports_to_a_spec_that_validates(printed):
    """Without TensorFlow: the importer's text passes validate (import builds it too, before it
    writes; tests/test_import.py builds each of these)."""
    report = import_summary(printed)
    assert report.not_imported == []
    plan = validate(load_spec(report.text))
    assert len(plan.layers) == report.layers
    assert yaml.safe_load(report.text)["name"] == spec_name(printed.stem)


@pytest.mark.parametrize(
    ("given", "name"),
    [("cifar summary (1)", "cifar_summary__1_"), ("2024", "2024"), ("q" * 150, "q" * 100),
     ("mödel.v2", "mödel_v2"), ("a/b\\c:d", "a_b_c_d")],
)  # fmt: skip
def test_a_spec_name_is_one_safe_folder_name(given, name):
    assert spec_name(given) == name
    text = (
        f"{yaml_line({'name': spec_name(given)})}\ninput: [2]\nlayers:\n  - dense: {{units: 1}}\n"
    )
    assert load_spec(text).name == name


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(given=st.text(max_size=150))
def test_any_name_becomes_a_spec_name_that_loads(given):
    """A model's name or a file's stem, whatever it holds (a NUL, a slash, a surrogate, nothing)."""
    name = spec_name(given)
    text = f"{yaml_line({'name': name})}\ninput: [2]\nlayers:\n  - dense: {{units: 1}}\n"
    assert load_spec(text).name == name
