"""Reading YAML safely, with file:line:column on every value."""

from __future__ import annotations

import pytest
import yaml

from layerkit.errors import Location, SpecError
from layerkit.spec.spec_file import read_source
from layerkit.spec.yaml_source import MAX_NODES, exponent_fix, parse_yaml


def error_of(text: str) -> SpecError:
    with pytest.raises(SpecError) as caught:
        parse_yaml(text, "s.yaml")
    return caught.value


def test_values_keep_their_line_and_column():
    root = parse_yaml("name: x\nlayers:\n  - dense: {units: 10}\n", "s.yaml")
    item = root.value["layers"].value[0]
    assert item.location == Location("s.yaml", 3, 5)
    assert item.value["dense"].value["units"].location == Location("s.yaml", 3, 20)
    assert root.key_location("layers") == Location("s.yaml", 2, 1)
    assert root.plain() == {"name": "x", "layers": [{"dense": {"units": 10}}]}


@pytest.mark.parametrize(
    "text",
    [
        "a: !!python/object/apply:os.system ['echo pwned']\n",
        "a: !!python/name:os.system\n",
        "a: !custom 3\n",
        "a: !!binary aGVsbG8=\n",
    ],
)
def test_unsafe_and_unknown_tags_are_refused(text):
    error = error_of(text)
    assert error.location == Location("s.yaml", 1, 4)
    assert "is not allowed: a spec holds only plain data" in error.message
    assert error.fix == "Remove the tag, or quote the value if it is meant as text."


def test_a_date_is_not_a_spec_value_and_the_fix_says_to_quote_it():
    """Unquoted, YAML reads 2024-01-01 as a timestamp (written with the tag or not)."""
    for text in ("a: 2024-01-01\n", "a: !!timestamp 2024-01-01\n"):
        error = error_of(text)
        assert error.location == Location("s.yaml", 1, 4)
        assert error.message == (
            "'2024-01-01' reads as a date or time (YAML's !!timestamp), which a spec cannot hold: "
            "it holds only plain data (text, numbers, booleans, null, lists and mappings)"
        )
        assert error.fix == 'Quote it ("2024-01-01") if it is meant as text.'


def test_python_tag_is_named_as_written():
    error = error_of("a: !!python/object/apply:os.system ['x']\n")
    assert error.message.startswith("YAML tag '!!python/object/apply:os.system' is not allowed")


def test_duplicate_keys_are_an_error_not_last_wins():
    error = error_of("name: a\ninput: [3]\nname: b\n")
    assert error.format() == (
        "s.yaml:3:1: error: duplicate key 'name' (first written at line 1). "
        "Remove one of the two, or merge them."
    )


def test_syntax_error_points_at_the_unclosed_bracket():
    error = error_of("layers:\n  - conv2d: {filters: 32, kernel_size: 3\n  - flatten\n")
    assert error.location == Location("s.yaml", 2, 13)
    assert error.message.startswith("YAML syntax error: while parsing a flow mapping")
    assert error.fix == "Close the bracket or quote opened here."


def test_tabs_get_a_specific_fix():
    error = error_of("layers:\n\t- flatten\n")
    assert error.location.line == 2
    assert error.fix == "Indent with spaces, not tabs."


def test_merge_keys_are_resolved():
    root = parse_yaml("base: &b {units: 4}\nx:\n  <<: *b\n  activation: relu\n", "s.yaml")
    assert root.plain()["x"] == {"units": 4, "activation": "relu"}


MERGED = """\
vars:
  base: &b {epochs: 3, batch_size: 8}
  other: &o {epochs: 5, seed: 1}
one: {<<: *b, epochs: 4}
two: {<<: [*b, *o]}
three: {<<: [*b, *o], epochs: 6}
"""


def test_a_key_written_beside_a_merge_wins_as_yaml_has_it():
    """A key written in the mapping overrides the merged one, and of two merged mappings the
    first listed wins (as PyYAML's own loader reads it); these were refused as duplicate keys."""
    root = parse_yaml(MERGED, "s.yaml")
    assert root.plain() == yaml.safe_load(MERGED)
    assert root.plain()["one"] == {"epochs": 4, "batch_size": 8}
    assert root.plain()["two"] == {"epochs": 3, "batch_size": 8, "seed": 1}
    assert root.plain()["three"] == {"epochs": 6, "batch_size": 8, "seed": 1}
    assert root.value["one"].key_location("epochs") == Location("s.yaml", 4, 15)
    assert root.value["two"].key_location("epochs") == Location("s.yaml", 2, 13)


def test_a_key_written_twice_beside_a_merge_is_still_a_duplicate():
    error = error_of("base: &b {epochs: 3}\ntrain: {<<: *b, epochs: 4, epochs: 6}\n")
    assert error.format() == (
        "s.yaml:2:28: error: duplicate key 'epochs' (first written at line 2). "
        "Remove one of the two, or merge them."
    )


SIGNED = "YAML reads a number with an exponent as text unless it has a decimal point and a signed exponent."


@pytest.mark.parametrize(
    ("text", "integer", "fix"),
    [
        ("1e-3", False, f"Write it as 1.0e-3: {SIGNED}"),
        ("5e2", False, f"Write it as 5.0e+2: {SIGNED}"),
        ("5.0e2", False, f"Write it as 5.0e+2: {SIGNED}"),
        ("1.e3", False, f"Write it as 1.0e+3: {SIGNED}"),
        ("-2E5", False, f"Write it as -2.0e+5: {SIGNED}"),
        ("1e3", True, "Write it as 1000: an integer setting takes digits, not an exponent."),
        ("5.0e2", True, "Write it as 500: an integer setting takes digits, not an exponent."),
        ("1e-3", True, f"Write it as 1.0e-3: {SIGNED}"),
        ("1.0e-3", False, None),  # a number as YAML writes one, only quoted
        ("0.001", False, None),
        ("e5", False, None),
    ],
)
def test_the_fix_for_an_exponent_read_as_text_is_a_number_yaml_reads(text, integer, fix):
    """The suggestion used to be 5.0e2 for 5e2, which YAML 1.1 reads as text too."""
    assert exponent_fix(text, integer=integer) == fix
    if fix is not None and not integer:
        suggested = fix.split(":")[0].removeprefix("Write it as ")
        assert isinstance(yaml.safe_load(f"x: {suggested}")["x"], float)
        assert yaml.safe_load(f"x: {suggested}")["x"] == float(text)


def test_non_text_keys_are_refused():
    error = error_of("32: x\n")
    assert error.message == "a mapping key must be a name, received int '32'"


def test_alias_bombs_fail_fast():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        refs = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{refs}]")
    error = error_of("\n".join(lines) + "\n")
    assert f"more than {MAX_NODES:,} YAML values" in error.message


def test_empty_document():
    error = error_of("# only a comment\n")
    assert error.message == "the spec is empty"


def test_read_source_tells_files_from_text(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("name: m\n", encoding="utf-8")
    assert read_source(str(path)) == ("name: m\n", str(path))
    assert read_source(path) == ("name: m\n", str(path))
    assert read_source("name: m\ninput: [3]\n") == ("name: m\ninput: [3]\n", "<string>")


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(SpecError, match="it does not exist"):
        read_source(str(tmp_path / "nothere.yaml"))
    with pytest.raises(SpecError, match="it is a folder"):
        read_source(tmp_path)


def test_non_utf8_file(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(SpecError) as caught:
        read_source(path)
    assert caught.value.message == f"spec '{path}' is not UTF-8 text (byte 9 cannot be decoded)"


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("name: a\x00b\n", "<string>:1:8:", "character U+0000 is not allowed in YAML"),
        ("name: n\nx: [1,\n  \x07]\n", "<string>:3:3:", "character U+0007 is not allowed in YAML"),
        ("a: &a [*a]\n", "<string>:1:4:", "the YAML nests lists or mappings more than 100 deep"),
        (
            "a: " + "[" * 3000 + "]" * 3000 + "\n",
            "<string>:1:1:",
            "the YAML nests lists or mappings more than 100 deep",
        ),
    ],
)
def test_characters_and_nesting_yaml_cannot_take_are_errors_at_their_place(text, where, message):
    with pytest.raises(SpecError) as caught:
        parse_yaml(text, "<string>")
    assert str(caught.value).startswith(where) and message in str(caught.value)
