"""A JSON Schema of the spec format, derived from the layer registry and the settings catalog.

Editors that run yaml-language-server use it to complete layer names and arguments and to flag
typos as you type (see docs/spec.md). Every layer's arguments, their defaults and simple types come
from the same catalog ``layerkit validate`` checks against, so the two never disagree; so do the
optimizers, losses and schedules ``train:`` can name, with their arguments. The ``train:`` and
``data:`` settings come from their declaration (:mod:`layerkit.spec.settings`): a simple one's
type, range or choices, default and help from it alone, a structured one's shape from
:mod:`.settings_schema`. The schema cannot know a spec's own block names, so an item whose one key is not a layer name is taken as a
block use; ``layerkit validate`` checks those.
"""

from __future__ import annotations

from typing import Any

from ..catalog.arguments import ArgInfo
from ..catalog.layers import ALIASES, LayerRegistry, default_registry, to_snake_case
from ..tuning.search_space import DIRECTIONS, PRUNERS
from .document import EXPECT_FIELDS, INPUT_DTYPES, MAX_REPEAT, SPEC_VERSION, VARIANT_FIELDS
from .settings_schema import EXPRESSION, arg_schema, data_schema, train_schema

SCHEMA_URI = "http://json-schema.org/draft-07/schema#"
CONDITION = {
    "description": "if: false (or an expression that gives false) leaves the item out",
    "anyOf": [{"type": "boolean"}, EXPRESSION],
}
VARIANT_NAME = "^[A-Za-z_][A-Za-z0-9_]*$"


def spec_schema(registry: LayerRegistry | None = None) -> dict[str, Any]:
    """The JSON Schema (draft-07) that every valid spec satisfies."""
    registry = registry or default_registry()
    definitions: dict[str, Any] = {
        "ref": {
            "description": "a layer id, an input name, or -N for N items back",
            "anyOf": [{"type": "string"}, {"type": "integer", "maximum": -1}],
        },
        "refs": {
            "anyOf": [
                {"$ref": "#/definitions/ref"},
                {"type": "array", "items": {"$ref": "#/definitions/ref"}},
                {
                    "type": "object",
                    "description": "named inputs: each of the call's tensor parameters → a ref",
                    "minProperties": 1,
                    "additionalProperties": {"$ref": "#/definitions/ref"},
                },
            ]
        },
        "shape": {
            "anyOf": [
                {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}, EXPRESSION]
                    },
                },
                EXPRESSION,
            ]
        },
        "input": {
            "anyOf": [
                {"$ref": "#/definitions/shape"},
                {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["shape"],
                    "properties": {
                        "shape": {"$ref": "#/definitions/shape"},
                        "dtype": {"enum": list(INPUT_DTYPES)},
                        "name": {"type": "string"},
                    },
                },
            ]
        },
        "layers": {"type": "array", "minItems": 1, "items": {"$ref": "#/definitions/item"}},
        "item": _item_schema(registry),
        "repeat": {
            "type": "object",
            "required": ["repeat", "layers"],
            "additionalProperties": False,
            "properties": {
                "repeat": {
                    "anyOf": [{"type": "integer", "minimum": 0, "maximum": MAX_REPEAT}, EXPRESSION]
                },
                "index": {"type": "string"},
                "layers": {"$ref": "#/definitions/layers"},
                "id": {"type": "string"},
                "inputs": {"$ref": "#/definitions/refs"},
                "if": CONDITION,
            },
        },
        "op": {
            "type": "object",
            "required": ["op"],
            "additionalProperties": False,
            "properties": {
                "op": {
                    "description": "a keras.ops function by name, with its constant argument",
                    "type": "object",
                    "minProperties": 1,
                    "properties": {
                        "id": {"type": "string"},
                        "inputs": {"$ref": "#/definitions/refs"},
                        "if": CONDITION,
                    },
                }
            },
        },
        "shared": {
            "type": "object",
            "required": ["shared"],
            "additionalProperties": False,
            "properties": {
                "shared": {
                    "type": "object",
                    "required": ["layer"],
                    "additionalProperties": False,
                    "properties": {
                        "layer": {"type": "string"},
                        "id": {"type": "string"},
                        "inputs": {"$ref": "#/definitions/refs"},
                        "if": CONDITION,
                    },
                }
            },
        },
        "block": {
            "type": "object",
            "required": ["layers"],
            "additionalProperties": False,
            "properties": {
                "description": {"type": "string"},
                "params": {"type": "array", "items": {"type": "string"}},
                "defaults": {"type": "object"},
                "inputs": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                "output": {"$ref": "#/definitions/ref"},
                "layers": {"$ref": "#/definitions/layers"},
            },
        },
        "count": {"anyOf": [{"type": "integer", "minimum": 0}, EXPRESSION]},
        "expect": _expect_schema(),
    }
    for class_name in registry.names():
        definitions[f"layer:{class_name}"] = _layer_schema(registry, class_name)
    return {
        "$schema": SCHEMA_URI,
        "title": "layerkit model spec",
        "description": "A YAML model spec for layerkit (docs/spec.md).",
        "type": "object",
        "additionalProperties": False,
        "required": ["layers"],
        "oneOf": [{"required": ["input"]}, {"required": ["inputs"]}],
        "properties": {
            "version": {"const": SPEC_VERSION},
            "name": {"type": "string"},
            "description": {"type": "string"},
            "include": {
                "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
            },
            "vars": {"type": "object"},
            "input": {"$ref": "#/definitions/input"},
            "inputs": {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": {"$ref": "#/definitions/input"},
            },
            "layers": {"$ref": "#/definitions/layers"},
            "outputs": {"$ref": "#/definitions/refs"},
            "blocks": {"type": "object", "additionalProperties": {"$ref": "#/definitions/block"}},
            "expect": {"$ref": "#/definitions/expect"},
            "variants": _variants_schema(),
            "data": data_schema(),
            "augment": {"type": "array", "items": {"$ref": "#/definitions/item"}},
            "train": train_schema(definitions),
            "search": _search_schema(),
        },
        "definitions": definitions,
    }


def _spellings(registry: LayerRegistry, class_name: str) -> list[str]:
    names = {class_name, to_snake_case(class_name)}
    names.update(alias for alias, target in ALIASES.items() if target == class_name)
    return sorted(names)


def _item_schema(registry: LayerRegistry) -> dict[str, Any]:
    layer_names: dict[str, Any] = {}
    for class_name in registry.names():
        for spelling in _spellings(registry, class_name):
            layer_names[spelling] = {"$ref": f"#/definitions/layer:{class_name}"}
    return {
        "anyOf": [
            {"type": "string", "description": "a layer or block without arguments"},
            {"$ref": "#/definitions/repeat"},
            {"$ref": "#/definitions/shared"},
            {"$ref": "#/definitions/op"},
            {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 1,
                "not": {"anyOf": [{"required": [key]} for key in ("repeat", "shared", "op")]},
                "properties": layer_names,
                # any other single key is a block use: its parameters are the block's own
                "additionalProperties": {"type": ["object", "null"]},
            },
        ]
    }


def _layer_schema(registry: LayerRegistry, class_name: str) -> dict[str, Any]:
    info = registry.info(class_name)
    properties: dict[str, Any] = {
        "id": {"type": "string", "description": "names this layer's output for 'inputs:'"},
        "inputs": {"$ref": "#/definitions/refs"},
        "if": CONDITION,
    }
    for name in info.arg_names(registry.base_args):
        properties[name] = arg_schema(info.arg(name, registry.base_args) or ArgInfo(name, False))
    required = [name for name, arg in info.args.items() if arg.required]
    schema: dict[str, Any] = {
        "description": f"keras.layers.{class_name}",
        "type": ["object", "null"] if not required else "object",
        "additionalProperties": False,
        "properties": properties,
    }
    if required:
        schema["required"] = required
    return schema


def _expect_schema() -> dict[str, Any]:
    totals = {key: {"$ref": "#/definitions/count"} for key in EXPECT_FIELDS if key != "rows"}
    row = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string"},
            "type": {"type": "string"},
            "shape": {"$ref": "#/definitions/shape"},
            "params": {"$ref": "#/definitions/count"},
        },
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {**totals, "rows": {"type": "array", "items": row}},
    }


def _variants_schema() -> dict[str, Any]:
    variant = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "description": {"type": "string"},
            "vars": {"type": "object", "description": "values of vars the spec declares"},
            "expect": {"$ref": "#/definitions/expect"},
        },
    }
    if set(variant["properties"]) != set(VARIANT_FIELDS):
        raise ValueError("the variant fields and the variant schema differ")
    return {
        "description": "named sets of var values, each with its own expect: (--variant NAME)",
        "type": "object",
        "minProperties": 1,
        "propertyNames": {"pattern": VARIANT_NAME},
        "additionalProperties": variant,
    }


def _search_schema() -> dict[str, Any]:
    """``search:``: vars or settings mapped to ranges or choices, and the study's settings (a
    var named like one of them is still given a range)."""
    pair = {"type": "array", "minItems": 2, "maxItems": 2}
    step = {"type": "number", "exclusiveMinimum": 0}
    ranges = {
        "description": "what layerkit tune may give a var or a train:/augment: setting",
        "oneOf": [
            {"type": "object", "additionalProperties": False, "required": ["float"],
             "properties": {"float": {**pair, "items": {"type": "number"}},
                            "log": {"type": "boolean"}, "step": step}},
            {"type": "object", "additionalProperties": False, "required": ["int"],
             "properties": {"int": {**pair, "items": {"type": "integer"}},
                            "log": {"type": "boolean"}, "step": {"type": "integer", "minimum": 1}}},
            {"type": "object", "additionalProperties": False, "required": ["choice"],
             "properties": {"choice": {"type": "array", "minItems": 1,
                                       "items": {"type": ["number", "string", "boolean", "null"]}}}},
        ],
    }  # fmt: skip
    settings = {
        "direction": {"enum": list(DIRECTIONS)},
        "metric": {"type": "string", "description": "the metric tune optimises (train.monitor)"},
        "trials": {"type": "integer", "minimum": 1},
        "pruner": {"enum": list(PRUNERS)},
    }
    return {
        "description": "what layerkit tune varies, and how (docs/training.md)",
        "type": "object",
        "minProperties": 1,
        "properties": {name: {"anyOf": [schema, ranges]} for name, schema in settings.items()},
        "additionalProperties": ranges,
    }
