"""The ``train:`` and ``data:`` settings are declared once (issue 14).

Each setting's type, default, range or choices and help are declared on its ``TrainSettings`` or
``DataSettings`` field; the readers, the JSON Schema and the docs tables must agree with that
declaration, and every reader error keeps its exact words.
"""

from __future__ import annotations

import dataclasses
import re

import jsonschema
import pytest

from layerkit.errors import ErrorCollector
from layerkit.spec.data_settings_reader import _DATA_READERS, read_data
from layerkit.spec.schema import spec_schema
from layerkit.spec.settings import (
    DATA_FIELDS,
    DATA_SETTINGS,
    TRAIN_FIELDS,
    TRAIN_SETTINGS,
    DataSettings,
    Setting,
    TrainSettings,
)
from layerkit.spec.settings_reader import _TRAIN_READERS, read_train
from layerkit.spec.yaml_source import parse_yaml

from .conftest import ROOT

SCHEMA = spec_schema()
TRAIN_SCHEMA = SCHEMA["properties"]["train"]["properties"]
DATA_SCHEMA = SCHEMA["properties"]["data"]["anyOf"][1]["properties"]
SIMPLE = [s for s in (*TRAIN_SETTINGS, *DATA_SETTINGS) if s.kind != "structured"]


def _section(setting: Setting) -> str:
    return "train" if setting in TRAIN_SETTINGS else "data"


def _read(section: str, text: str) -> tuple[object, list[str]]:
    errors = ErrorCollector()
    node = parse_yaml(text, "<string>")
    reader = read_train if section == "train" else read_data
    settings = reader(node, errors)
    return settings, [error.format() for error in errors.errors]


@pytest.mark.parametrize(
    ("settings", "fields", "names"),
    [(TRAIN_SETTINGS, TrainSettings, TRAIN_FIELDS), (DATA_SETTINGS, DataSettings, DATA_FIELDS)],
    ids=["train", "data"],
)
def test_the_declaration_covers_every_field_and_nothing_else(settings, fields, names):
    declared = [field.name for field in dataclasses.fields(fields) if field.name != "locations"]
    assert [setting.name for setting in settings] == declared == list(names)
    for setting, field in zip(settings, dataclasses.fields(fields), strict=False):
        default = field.default_factory() if field.default is dataclasses.MISSING else field.default
        assert setting.default == default, setting.name
        assert setting.help and "\n" not in setting.help, setting.name


def test_every_structured_setting_has_a_reader_of_its_own():
    for settings, readers in ((TRAIN_SETTINGS, _TRAIN_READERS), (DATA_SETTINGS, _DATA_READERS)):
        assert set(readers) == {s.name for s in settings if s.kind == "structured"}


@pytest.mark.parametrize(
    ("settings", "properties"),
    [(TRAIN_SETTINGS, TRAIN_SCHEMA), (DATA_SETTINGS, DATA_SCHEMA)],
    ids=["train", "data"],
)
def test_the_schema_has_the_declared_settings_with_their_help(settings, properties):
    assert list(properties) == [setting.name for setting in settings]
    for setting in settings:
        assert properties[setting.name]["description"] == setting.help


SIMPLE_SCHEMAS = {
    "label_smoothing": {"type": "number", "minimum": 0, "exclusiveMaximum": 1, "default": 0.0},
    "batch_size": {"type": "integer", "minimum": 1, "default": 32},
    "epochs": {"type": "integer", "minimum": 1, "default": 10},
    "seed": {"type": "integer", "minimum": 0, "default": 0},
    "monitor": {"type": "string", "default": "val_accuracy"},
    "batchnorm_momentum": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    "ema": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    "early_dropout": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
    "tta": {"enum": ["flip", None]},
    "tta_translate": {"type": "integer", "minimum": 0, "default": 0},
    "source": {"type": "string"},
    "on_bad_image": {"enum": ["error", "skip"], "default": "error"},
    "resize": {"type": "boolean", "default": False},
}


def test_simple_settings_get_their_type_range_and_default_in_the_schema():
    assert sorted(SIMPLE_SCHEMAS) == sorted(setting.name for setting in SIMPLE)
    for setting in SIMPLE:
        properties = TRAIN_SCHEMA if _section(setting) == "train" else DATA_SCHEMA
        written = {k: v for k, v in properties[setting.name].items() if k != "description"}
        assert written == SIMPLE_SCHEMAS[setting.name], setting.name


# For every simple setting: values the reader takes (as read), and values it refuses, with the
# exact error (these words are the ones the readers always gave).
ACCEPTED = [
    ("train", "label_smoothing: 0", 0.0),
    ("train", "label_smoothing: 0.1", 0.1),
    ("train", "batch_size: 1", 1),
    ("train", "epochs: 300", 300),
    ("train", "seed: 0", 0),
    ("train", "monitor: val_loss", "val_loss"),
    ("train", "batchnorm_momentum: 0.9", 0.9),
    ("train", "ema: 0.999", 0.999),
    ("train", "early_dropout: 1", 1.0),
    ("train", "tta: flip", "flip"),
    ("train", "tta: null", None),
    ("train", "tta_translate: 2", 2),
    ("data", "source: images/", "images/"),
    ("data", "on_bad_image: skip", "skip"),
    ("data", "resize: true", True),
]
REFUSED = [
    ("train", "label_smoothing: 1", "train.label_smoothing: expected a number from 0 to below 1, "
     "received 1"),
    ("train", "label_smoothing: -0.1", "train.label_smoothing: expected a number from 0 to below "
     "1, received -0.1"),
    ("train", "label_smoothing: lots", "train.label_smoothing: expected a number, received the "
     "text 'lots'"),
    ("train", "batch_size: 0", "train.batch_size: expected an integer of at least 1, received int "
     "0"),
    ("train", "epochs: 2.5", "train.epochs: expected an integer of at least 1, received float 2.5"),
    ("train", "seed: -1", "train.seed: expected an integer of at least 0, received int -1"),
    ("train", "seed: true", "train.seed: expected an integer of at least 0, received the boolean "
     "true"),
    ("train", "monitor: 3", "train.monitor: expected a metric name such as val_accuracy, received "
     "int 3"),
    ("train", "batchnorm_momentum: 1", "train.batchnorm_momentum: expected a momentum between 0 and "
     "1 (such as 0.9), received 1"),
    ("train", "ema: 0", "train.ema: expected a momentum between 0 and 1 (such as 0.9), received "
     "0"),
    ("train", "early_dropout: 1.5", "train.early_dropout: expected the fraction of the epochs that "
     "keep dropout on, above 0 and at most 1, received 1.5. Write e.g. 'early_dropout: 0.5' for "
     "dropout in the first half of the epochs only."),
    ("train", "tta: [flip]", "train.tta: expected flip, received a list. Write 'tta: "
     "flip' to also report validation accuracy averaged over each image and its mirror."),
    ("train", "tta_translate: -2", "train.tta_translate: expected an integer of at least 0, "
     "received int -2"),
    ("data", "source: 3", "data.source: expected a dataset name or a path, received int 3"),
    ("data", "on_bad_image: skp", "data.on_bad_image: expected 'error' or 'skip', received the "
     "text 'skp'. Did you mean 'skip'?"),
    ("data", "on_bad_image: 1", "data.on_bad_image: expected 'error' or 'skip', received "
     "int 1"),
    ("data", "resize: yes please", "data.resize: expected true or false, received the text 'yes "
     "please'"),
]  # fmt: skip


def test_every_simple_setting_has_reader_cases():
    names = {line.split(":")[0] for _, line, *_ in [*ACCEPTED, *REFUSED]}
    assert names == {setting.name for setting in SIMPLE}


@pytest.mark.parametrize(("section", "line", "value"), ACCEPTED, ids=[a[1] for a in ACCEPTED])
def test_simple_settings_read_what_they_declare(section, line, value):
    settings, errors = _read(section, line)
    assert errors == []
    name = line.split(":")[0]
    assert getattr(settings, name) == value
    assert name in settings.locations


@pytest.mark.parametrize(("section", "line", "message"), REFUSED, ids=[r[1] for r in REFUSED])
def test_simple_settings_refuse_with_their_exact_words(section, line, message):
    settings, errors = _read(section, line)
    assert errors == [f"<string>:1:{len(line.split(':')[0]) + 3}: error: {message}"]
    name = line.split(":")[0]
    default = next(s.default for s in (*TRAIN_SETTINGS, *DATA_SETTINGS) if s.name == name)
    assert getattr(settings, name) == default


def test_every_refused_value_breaks_the_schema_too():
    validator = jsonschema.Draft7Validator(SCHEMA)
    for section, line, _ in REFUSED:
        name = line.split(":")[0]
        document = {
            "input": [4],
            "layers": ["flatten"],
            section: parse_yaml(line, "<string>").plain(),
        }
        assert list(validator.iter_errors(document)), f"{section}: {line}"
        assert name in document[section]
    for section, line, _ in ACCEPTED:
        document = {
            "input": [4],
            "layers": ["flatten"],
            section: parse_yaml(line, "<string>").plain(),
        }
        assert list(validator.iter_errors(document)) == [], f"{section}: {line}"


def _doc_table(heading: str) -> dict[str, list[str]]:
    """The rows of the first table under ``heading`` in docs/training.md: setting → cells."""
    text = (ROOT / "docs" / "training.md").read_text()
    section = text.split(f"\n{heading}\n", 1)[1]
    rows = re.findall(r"^\| `(\w+)` \|(.*)\|$", section.split("\n## ", 1)[0], re.MULTILINE)
    return {name: [cell.strip() for cell in cells.split(" | ")] for name, cells in rows}


@pytest.mark.parametrize(
    ("heading", "settings"),
    [("## `train:`", TRAIN_SETTINGS), ("## `data:`", DATA_SETTINGS)],
    ids=["train", "data"],
)
def test_the_docs_table_lists_every_setting_with_its_default(heading, settings):
    table = _doc_table(heading)
    assert list(table) == [setting.name for setting in settings]
    for setting in settings:
        assert table[setting.name][0] == setting.doc_default, setting.name


@pytest.mark.parametrize(
    ("setting", "shown"),
    [
        (Setting("n", "integer", 32, "h", minimum=1), "`32`"),
        (Setting("n", "number", 0.0, "h"), "`0`"),
        (Setting("n", "boolean", False, "h"), "`false`"),
        (Setting("n", "structured", ("accuracy", "top5"), "h"), "`[accuracy, top5]`"),
        (Setting("n", "structured", (), "h"), "`[]`"),
        (Setting("n", "string", None, "h"), "none"),
        (Setting("n", "number", None, "h", shown="off"), "off"),
    ],
)
def test_doc_default_writes_the_value_as_yaml(setting, shown):
    assert setting.doc_default == shown


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"kind": "list"},
            "setting 'n': kind 'list' is not one of integer, number, string, "
            "choice, boolean, structured",
        ),
        (
            {"kind": "integer", "maximum": 3},
            "setting 'n': an integer setting takes a minimum, and only that",
        ),
        ({"kind": "choice"}, "setting 'n': a choice setting needs its choices"),
        ({"kind": "integer"}, "setting 'n': an integer setting takes a minimum, and only that"),
        (
            {"kind": "number", "maximum": 1},
            "setting 'n': a number setting with a range needs the expected text its error gives",
        ),
        ({"kind": "string", "minimum": 0}, "setting 'n': a string setting takes no range"),
        ({"kind": "boolean", "choices": (1,)}, "setting 'n': a boolean setting takes no choices"),
    ],
)
def test_a_mistaken_declaration_is_refused(arguments, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Setting("n", default=None, help="h", **arguments)
