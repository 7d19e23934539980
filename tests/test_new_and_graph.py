"""layerkit new (a starter spec that builds as it says) and layerkit graph (SVG, PNG)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from layerkit import build, load_spec, summarize, validate
from layerkit.cli import main

from .conftest import EXAMPLES, SPECS


@pytest.mark.slow
def test_new_writes_a_starter_that_builds_and_matches(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(main, ["new", "my_net"])
    assert result.exit_code == 0
    assert result.stderr == "wrote my_net.yaml; check it with: layerkit build my_net.yaml\n"
    spec = load_spec("my_net.yaml")
    assert spec.name == "my_net"
    assert summarize(build(spec), spec).ok  # its expect: is true, not a placeholder
    assert "layerkit build my_net.yaml" in (tmp_path / "my_net.yaml").read_text()


def test_new_never_overwrites_and_checks_the_name(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.yaml").write_text("precious", encoding="utf-8")
    result = runner.invoke(main, ["new", "mine"])
    assert result.exit_code == 2
    assert "'mine.yaml' already exists; pass --force to replace it" in result.stderr
    assert (tmp_path / "mine.yaml").read_text() == "precious"
    result = runner.invoke(main, ["new", "two words"])
    assert result.exit_code == 2
    assert "'two words' is not a model name" in result.stderr
    assert runner.invoke(main, ["new", "mine", "--force"]).exit_code == 0
    assert validate(load_spec(tmp_path / "mine.yaml")).layers


def svg_of(runner, tmp_path, spec) -> ET.Element:
    target = tmp_path / "net.svg"
    result = runner.invoke(main, ["graph", str(spec), "-o", str(target)])
    assert result.exit_code == 0, result.output
    return ET.parse(target).getroot()


def test_graph_svg_has_a_box_per_layer_and_an_arrow_per_input(runner, tmp_path):
    root = svg_of(runner, tmp_path, EXAMPLES / "resnet20_cifar.yaml")
    namespace = {"svg": "http://www.w3.org/2000/svg"}
    plan = validate(load_spec(EXAMPLES / "resnet20_cifar.yaml"))
    boxes = root.findall(".//svg:g[@class='layer']", namespace)
    edges = root.findall(".//svg:path[@class='edge']", namespace)
    assert len(boxes) == len(plan.layers) + 1  # and the input
    assert len(edges) == sum(len(layer.inputs) for layer in plan.layers)
    titles = [box.findall("svg:text", namespace)[0].text for box in boxes]
    assert titles[:3] == ["input", "conv2d", "batch_normalization"]
    assert titles.count("add") == 1 and "add_8" in titles


def test_graph_of_a_sequential_spec(runner, tmp_path):
    root = svg_of(runner, tmp_path, SPECS / "cifar.yaml")
    assert len(root.findall(".//{http://www.w3.org/2000/svg}path[@class='edge']")) == 25


def test_graph_png_without_its_backend_says_what_to_install(runner, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "cairosvg", None)  # as if it were not installed
    result = runner.invoke(
        main, ["graph", str(SPECS / "cifar.yaml"), "-o", str(tmp_path / "n.png")]
    )
    assert result.exit_code == 2
    assert result.stderr == (
        "error: drawing a PNG needs the cairosvg package and the cairo library (pip install "
        f"'layerkit[graph]'); or write an SVG, which needs nothing: -o {tmp_path / 'n.svg'}\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_graph_png(runner, tmp_path):
    target = tmp_path / "n.png"
    result = runner.invoke(main, ["graph", str(SPECS / "cifar.yaml"), "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [path.name for path in tmp_path.iterdir()] == ["n.png"]


def test_graph_rejects_other_formats(runner, tmp_path):
    result = runner.invoke(
        main, ["graph", str(SPECS / "cifar.yaml"), "-o", str(tmp_path / "n.pdf")]
    )
    assert result.exit_code == 2
    assert "must end in .svg or .png" in result.stderr


def test_graph_of_names_xml_cannot_hold_is_still_valid_svg(runner, tmp_path):
    """YAML's "\\x01" escape puts a control character in a name; long names are cut to the box."""
    from xml.etree import ElementTree

    spec = tmp_path / "odd.yaml"
    spec.write_text('input: [4]\nlayers:\n  - dense: {units: 2, name: "a\\x01b"}\n'
                    f'  - dense: {{units: 2, name: "{"wide" * 30}<&>"}}\n')  # fmt: skip
    result = runner.invoke(main, ["graph", str(spec), "-o", str(tmp_path / "odd.svg")])
    assert result.exit_code == 0, result.output
    root = ElementTree.parse(tmp_path / "odd.svg").getroot()
    texts = [element.text for element in root.iter() if element.tag.endswith("text")]
    assert "wide" * 7 + "w…" in texts
    assert "a\ufffdb" in texts
