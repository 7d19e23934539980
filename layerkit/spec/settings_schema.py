"""The JSON Schema of a spec's ``train:`` and ``data:`` sections, and of one argument.

Takes the settings' declaration (:mod:`layerkit.spec.settings`) and the settings catalog (the
optimizers, losses and schedules ``train:`` can name, with their arguments); gives the schemas
:func:`layerkit.spec.schema.spec_schema` puts under ``train`` and ``data`` (:func:`train_schema`,
:func:`data_schema`), and the schema of one argument's default and types (:func:`arg_schema`),
which layer arguments share. A simple setting's type, range or choices, default and help come
from its declaration alone; a structured one's shape is written here.
"""

from __future__ import annotations

from typing import Any

from ..catalog.arguments import ArgInfo
from ..catalog.training import METRICS, SettingsCatalog, default_catalog
from .settings import (
    DATA_SETTINGS,
    EARLY_STOPPING_SETTINGS,
    INIT_SETTINGS,
    LOOKAHEAD_SETTINGS,
    LR_GROUPS,
    NO_DECAY_KINDS,
    TRAIN_SETTINGS,
    Setting,
)

EXPRESSION = {"type": "string", "pattern": r"\$\{", "description": "a ${...} expression"}
_JSON_TYPES = {
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "str": "string",
    "null": "null",
    "list": "array",
    "map": "object",
}


def arg_schema(arg: ArgInfo, expressions: bool = True) -> dict[str, Any]:
    """An argument's default and types; ``expressions`` where a ${...} may stand for the value
    (layer arguments; train: settings are read as written)."""
    schema: dict[str, Any] = {}
    if not arg.required:
        schema["default"] = arg.default
    if not arg.kinds:
        return schema
    options: list[dict[str, Any]] = [EXPRESSION] if expressions else []
    for kind in arg.kinds:
        if kind == "layer":
            options.append({"$ref": "#/definitions/item"})
        else:
            options.append({"type": _JSON_TYPES[kind]})
    schema["anyOf"] = options
    return schema


def _choice(catalog: SettingsCatalog, kind: str, definitions: dict[str, Any]) -> dict[str, Any]:
    """``adam`` or ``{adam: {learning_rate: 0.001}}``: each name in its spellings, with the
    arguments a spec may give it (those layerkit supplies left out)."""
    names = catalog.spellings(kind)
    with_args: dict[str, Any] = {}
    for name in names:
        entry = catalog.resolve(kind, name)
        definition = f"{kind}:{entry.name}"
        if definition not in definitions:
            required = [arg.name for arg in entry.args.values() if arg.required]
            definitions[definition] = {
                "description": entry.label,
                "type": "object" if required else ["object", "null"],
                "additionalProperties": False,
                "properties": {
                    arg.name: arg_schema(arg, expressions=False)
                    for arg in entry.args.values()
                    if arg.name not in entry.supplied
                },
                **({"required": required} if required else {}),
            }
        with_args[name] = {"$ref": f"#/definitions/{definition}"}
    return {
        "anyOf": [
            {"enum": names},
            {"type": "object", "minProperties": 1, "maxProperties": 1,
             "additionalProperties": False, "properties": with_args},
        ]
    }  # fmt: skip


# The JSON types of the simple settings' kinds (a choice is an enum).
_SETTING_TYPES = {
    "integer": "integer",
    "number": "number",
    "string": "string",
    "boolean": "boolean",
}
_RANGE_KEYWORDS = {
    "minimum": "minimum",
    "maximum": "maximum",
    "exclusive_minimum": "exclusiveMinimum",
    "exclusive_maximum": "exclusiveMaximum",
}


def _setting_schema(setting: Setting) -> dict[str, Any]:
    """A simple setting's schema, from its declaration alone: type and range, or choices; its
    default (unless none)."""
    if setting.kind == "choice":
        schema: dict[str, Any] = {"enum": list(setting.choices)}
    else:
        schema = {"type": _SETTING_TYPES[setting.kind]}
        for name, keyword in _RANGE_KEYWORDS.items():
            if getattr(setting, name) is not None:
                schema[keyword] = getattr(setting, name)
    if setting.default is not None:
        schema["default"] = setting.default
    return schema


def _settings_properties(
    settings: tuple[Setting, ...], structured: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The properties of ``train:`` or ``data:``: every declared setting, in its order, with its
    help; ``structured`` gives the schemas of the structured ones, which must be exactly those.

    Raises:
        ValueError: when ``structured`` misses a structured setting, or names another.
    """
    declared = {setting.name for setting in settings if setting.kind == "structured"}
    if declared != set(structured):
        raise ValueError(
            "the structured settings declared and those given a schema differ: "
            f"{', '.join(sorted(declared ^ set(structured)))}"
        )
    return {
        setting.name: {
            **(structured[setting.name] if setting.name in declared else _setting_schema(setting)),
            "description": setting.help,
        }
        for setting in settings
    }


def _parts_schema(settings: tuple[Setting, ...]) -> dict[str, Any]:
    """A setting made of settings (``lookahead``, ``init``), or null: each part from its
    declaration."""
    properties = {setting.name: {**_setting_schema(setting), "description": setting.help}
                  for setting in settings}  # fmt: skip
    return {"anyOf": [{"type": "null"}, {"type": "object", "additionalProperties": False,
                                         "properties": properties}]}  # fmt: skip


def train_schema(definitions: dict[str, Any]) -> dict[str, Any]:
    catalog = default_catalog()
    metric = {
        "anyOf": [{"enum": list(METRICS)}, {"type": "string", "pattern": "^top_?[1-9][0-9]*$"}]
    }
    structured = {
        "optimizer": _choice(catalog, "optimizer", definitions),
        "schedule": _choice(catalog, "schedule", definitions),
        "loss": _choice(catalog, "loss", definitions),
        "metrics": {"type": "array", "items": metric},
        "validation_split": {"anyOf": [{"type": "integer", "minimum": 0},
                                       {"type": "number", "minimum": 0, "exclusiveMaximum": 1}]},
        "no_decay": {"type": "array", "items": {"enum": list(NO_DECAY_KINDS)}},
        "target": {"type": "object", "minProperties": 1, "maxProperties": 1,
                   "additionalProperties": {"type": "number"}},
        "early_stopping": {"anyOf": [
            {"type": "null"},
            {"type": "object", "additionalProperties": False, "required": ["patience"],
             "properties": {setting.name: {**_setting_schema(setting), "description": setting.help}
                            for setting in EARLY_STOPPING_SETTINGS}},
        ]},
        "lr_scale": {"anyOf": [{"type": "null"}, {
            "type": "object", "additionalProperties": False,
            "properties": {group: {"type": "number", "exclusiveMinimum": 0}
                           for group in LR_GROUPS}}]},
        "lookahead": _parts_schema(LOOKAHEAD_SETTINGS),
        "init": _parts_schema(INIT_SETTINGS),
    }  # fmt: skip
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": _settings_properties(TRAIN_SETTINGS, structured),
    }


def data_schema() -> dict[str, Any]:
    numbers = {"anyOf": [{"type": "number"}, {"type": "array", "items": {"type": "number"}}]}
    normalize = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"scale": {"type": "number"}, "offset": {"type": "number"},
                       "mean": numbers, "std": numbers},
    }  # fmt: skip
    return {
        "anyOf": [
            {"type": "string"},
            {
                "type": "object",
                "additionalProperties": False,
                "properties": _settings_properties(DATA_SETTINGS, {"normalize": normalize}),
            },
        ]
    }
