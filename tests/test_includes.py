"""include: blocks and vars from other files, relative to the including file, with cycle checks."""

from __future__ import annotations

import os

import pytest

from layerkit import SpecErrors, load_spec, validate

LIBRARY = """\
vars: {act: relu}
blocks:
  conv_bn:
    params: [filters]
    layers:
      - conv2d: {filters: "${filters}", kernel_size: 3, padding: same, activation: "${act}"}
      - bn
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "blocks").mkdir()
    (tmp_path / "blocks" / "common.yaml").write_text(LIBRARY, encoding="utf-8")
    return tmp_path


def write(path, text):
    """Write the file; return its path relative to the project (the working folder)."""
    path.write_text(text, encoding="utf-8")
    return os.path.relpath(path)


def errors_of(path) -> list[str]:
    with pytest.raises(SpecErrors) as caught:
        validate(load_spec(path))
    return [error.format() for error in caught.value.errors]


def test_blocks_and_vars_come_from_the_included_file(project):
    spec_path = write(
        project / "net.yaml",
        "include: blocks/common.yaml\ninput: [8, 8, 3]\nlayers:\n  - conv_bn: {filters: 8}\n",
    )
    spec = load_spec(spec_path)
    assert spec.includes == (os.path.join("blocks", "common.yaml"),)
    plan = validate(spec)
    assert plan.layers[0].args["activation"] == "relu"
    assert plan.layers[0].location.file == os.path.join("blocks", "common.yaml")


def test_includes_are_relative_to_the_including_file(project):
    (project / "specs").mkdir()
    spec_path = write(
        project / "specs" / "net.yaml",
        "include: ../blocks/common.yaml\ninput: [8, 8, 3]\nlayers:\n  - conv_bn: {filters: 8}\n",
    )
    assert len(validate(load_spec(spec_path)).layers) == 2


def test_include_not_found_suggests(project):
    spec_path = write(
        project / "net.yaml", "include: blocks/comon.yaml\ninput: [4]\nlayers: [flatten]\n"
    )
    assert errors_of(spec_path) == [
        f"net.yaml:1:10: error: include: included file 'blocks/comon.yaml' not found (looked for "
        f"{project / 'blocks' / 'comon.yaml'}). Did you mean 'common.yaml'?"
    ]


def test_include_cycle_shows_the_chain(project):
    write(project / "a.yaml", "include: b.yaml\ninput: [4]\nlayers: [flatten]\n")
    write(project / "b.yaml", "include: [a.yaml]\n")
    assert errors_of("a.yaml") == [
        "b.yaml:1:11: error: include[0]: include cycle: a.yaml → b.yaml → a.yaml. Remove the "
        "include that leads back to a file already being read."
    ]


def test_a_name_defined_twice_is_an_error(project):
    spec_path = write(
        project / "net.yaml",
        "include: blocks/common.yaml\nvars: {act: gelu}\ninput: [4]\nlayers: [flatten]\n",
    )
    assert errors_of(spec_path) == [
        "net.yaml:2:13: error: vars.act: variable 'act' is defined twice (first at "
        f"{os.path.join('blocks', 'common.yaml')}:1:13). Rename one of the two variables."
    ]


def test_included_file_holds_only_blocks_and_vars(project):
    write(project / "blocks" / "bad.yaml", "blocks: {}\nlayers: [flatten]\n")
    spec_path = write(
        project / "net.yaml", "include: blocks/bad.yaml\ninput: [4]\nlayers: [flatten]\n"
    )
    assert errors_of(spec_path) == [
        f"{os.path.join('blocks', 'bad.yaml')}:2:1: error: layers: unknown included-file field "
        "'layers'. Did you mean 'vars'?"
    ]


def test_a_runs_spec_yaml_holds_the_included_blocks_and_needs_no_file_beside_it(tmp_path):
    """spec.yaml is written from the loaded spec (its includes' blocks and vars copied in, no
    file read again): read back alone, in another folder, it is the same model."""
    from layerkit.runs.spec_yaml import dump_spec, resolved_document

    from .conftest import ROOT

    spec = load_spec(ROOT / "examples" / "resnet20_cifar.yaml", ["vars.width=2"])
    document = resolved_document(spec)
    assert "include" not in document
    assert set(document["blocks"]) == set(spec.blocks) and "basic_block" in document["blocks"]
    assert document["vars"]["width"] == 2
    alone = tmp_path / "spec.yaml"
    alone.write_text(dump_spec(document, "# trained", str(alone)))
    again = load_spec(alone)
    assert again.includes == ()
    assert [layer.args for layer in validate(again).layers] == [
        layer.args for layer in validate(spec).layers
    ]
