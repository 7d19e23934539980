"""A spec's ``search:`` section: what ``layerkit tune`` may vary, read and checked at load time.

Takes the ``search:`` node, the spec's vars and its document (as nodes, with their places); gives
a :class:`SearchSpace`: each :class:`Dimension` (a var or a ``train:``/``augment:`` setting, with
its range or choices and the ``--set`` key a trial sets it with) and the study's settings
(``direction``, ``metric``, ``trials``, ``pruner``). Every mistake is a located spec error
(``file:line:col: error: search.width: …``), reported by ``layerkit validate`` like any other;
neither TensorFlow nor Optuna is imported here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import Location, did_you_mean
from ..spec.problems import suggest
from ..spec.settings import TRAIN_SETTINGS
from ..spec.yaml_source import Node, describe, exponent_fix

# the loader's ValueReader (error, check_keys, read_text, read_positive_int, errors); not imported,
# since the spec's document types name SearchSpace
Reader = Any

KINDS = ("float", "int", "choice")
STUDY_SETTINGS = ("direction", "metric", "trials", "pruner")
DIRECTIONS = ("maximize", "minimize")
PRUNERS = ("median", "none")
_KEYS = {"float": ("float", "log", "step"), "int": ("int", "log", "step"), "choice": ("choice",)}
_FORMS = "{float: [0.0001, 0.1], log: true}, {int: [16, 64], step: 16} or {choice: [adam, sgd]}"
_SECTIONS = ("vars", "train", "augment")


@dataclass(frozen=True)
class Dimension:
    """One thing a trial chooses: ``key`` is its ``--set`` key (``vars.width``,
    ``train.batch_size``), ``adds`` whether the spec lacks it (set as ``--set +key=…``)."""

    name: str  # as written under search:
    key: str
    kind: str  # float, int or choice
    location: Location
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] = ()
    adds: bool = False

    def override(self, value: Any) -> str:
        """The ``--set`` text that gives this dimension ``value``."""
        return f"{'+' if self.adds else ''}{self.key}={format_value(value)}"


@dataclass(frozen=True)
class SearchSpace:
    """The ``search:`` section: its dimensions, and the study's settings (None: the default —
    the spec's ``train.monitor``, its direction, ``--trials``, a median pruner)."""

    dimensions: tuple[Dimension, ...]
    location: Location
    direction: str | None = None
    metric: str | None = None
    trials: int | None = None
    pruner: str = "median"
    # where metric and direction are written, for the check against train: (settings_checks)
    locations: dict[str, Location] = field(default_factory=dict)


def format_value(value: Any) -> str:
    """A value as ``--set`` reads it back: YAML's spelling, floats to 4 significant digits."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        text = f"{value:.4g}"
        return text if any(mark in text for mark in ".en") else f"{text}.0"
    return str(value)


def read_search(
    node: Node | None, values: Reader, variables: dict[str, Node], root: Node
) -> SearchSpace | None:
    """``search:`` read, every problem recorded on ``values``; None where the spec has none."""
    if node is None:
        return None
    if not node.is_mapping or not node.value:
        values.error(
            f"expected a mapping of vars or settings to ranges, received {describe(node)}",
            node.location,
            "search",
            "Write e.g. 'search: {width: {int: [16, 64], step: 16}}'.",
        )
        return None
    settings: dict[str, Any] = {}
    dimensions = []
    for name, child in node.value.items():
        if name in STUDY_SETTINGS and not child.is_mapping:
            settings[name] = _read_setting(values, name, child)
            continue
        dimension = _read_dimension(values, name, child, node.key_location(name), variables, root)
        if dimension is not None:
            dimensions.append(dimension)
    if not dimensions and not values.errors.errors:
        values.error(
            "search: names nothing to vary",
            node.location,
            "search",
            "Add a var or setting with its range, e.g. 'width: {int: [16, 64]}'.",
        )
    return SearchSpace(
        tuple(dimensions), node.location, settings.get("direction"), settings.get("metric"),
        settings.get("trials"), settings.get("pruner") or "median",
        {name: node.value[name].location for name in ("metric", "direction") if name in settings},
    )  # fmt: skip


def _read_setting(values: Reader, name: str, node: Node) -> Any:
    path = f"search.{name}"
    if name == "trials":
        return values.read_positive_int(node, path)
    if name == "metric":
        return values.read_text(node, path)
    choices = DIRECTIONS if name == "direction" else PRUNERS
    if node.value not in choices:
        values.error(
            f"expected one of {', '.join(choices)}, received {describe(node)}",
            node.location,
            path,
            did_you_mean(str(node.value), choices) or f"Use one of: {', '.join(choices)}.",
        )
        return None
    return node.value


def _read_dimension(values: Reader, name: str, node: Node, where: Location,
                    variables: dict[str, Node], root: Node) -> Dimension | None:  # fmt: skip
    path = f"search.{name}"
    target = _target(values, name, where, variables, root)
    if not node.is_mapping or sum(kind in node.value for kind in KINDS) != 1:
        values.error(
            f"expected one range: {_FORMS}, received {describe(node)}", node.location, path
        )
        return None
    kind = next(kind for kind in KINDS if kind in node.value)
    values.check_keys(node, _KEYS[kind], path, f"{kind} range key")
    if target is None:
        return None
    key, adds = target
    if kind == "choice":
        choices = _read_choices(values, node.value["choice"], f"{path}.choice")
        if choices is None:
            return None
        return Dimension(name, key, kind, where, choices=choices, adds=adds)
    bounds = _read_range(values, node, kind, path)
    if bounds is None:
        return None
    low, high, log, step = bounds
    return Dimension(name, key, kind, where, low, high, log, step, adds=adds)


def _read_choices(values: Reader, node: Node, path: str) -> tuple[Any, ...] | None:
    if not node.is_sequence or not node.value:
        received = "an empty list" if node.is_sequence else describe(node)
        values.error(
            f"expected a list of at least one value, received {received}",
            node.location,
            path,
            "Write e.g. 'choice: [adam, sgd]'.",
        )
        return None
    plain = [item.plain() for item in node.value]
    for item, value in zip(node.value, plain, strict=True):
        if isinstance(value, dict | list):
            values.error(
                f"a choice is a single value (a number, text, true/false or null), received "
                f"{describe(item)}",
                item.location,
                path,
            )
            return None
    return tuple(plain)


def _number(value: Any, kind: str) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) if kind == "int" else isinstance(value, int | float)


def _read_range(values: Reader, node: Node, kind: str, path: str) -> tuple | None:
    bounds = node.value[kind]
    what = "integers" if kind == "int" else "numbers"
    example = f"Write e.g. '{kind}: {'[16, 64]' if kind == 'int' else '[0.0001, 0.1]'}'."
    if not bounds.is_sequence or len(bounds.value) != 2:
        values.error(f"expected [low, high], two {what}, received {describe(bounds)}",
                     bounds.location, f"{path}.{kind}", example)  # fmt: skip
        return None
    for index, item in enumerate(bounds.value):
        if not _number(item.value, kind) or not math.isfinite(item.value):
            values.error(f"expected [low, high], two finite {what}, received {describe(item)} "
                         "in it", item.location, f"{path}.{kind}[{index}]",
                         exponent_fix(item.value) or example)  # fmt: skip
            return None
    low, high = (item.value for item in bounds.value)
    log_node, step_node = node.value.get("log"), node.value.get("step")
    log = bool(log_node.value) if log_node is not None else False
    step = step_node.value if step_node is not None else None
    if low > high:
        values.error(f"low {low} is above high {high}", bounds.location, f"{path}.{kind}",
                     f"Swap them: {kind}: [{high}, {low}].")  # fmt: skip
        return None
    if log_node is not None and not isinstance(log_node.value, bool):
        values.error(f"expected true or false, received {describe(log_node)}",
                     log_node.location, f"{path}.log")  # fmt: skip
        return None
    if log and low <= 0:
        values.error(f"a log range needs low above 0, received {low}", bounds.location,
                     f"{path}.{kind}", "Give a positive low, or drop 'log: true'.")  # fmt: skip
        return None
    if step_node is not None and (not _number(step, kind) or step <= 0 or log):
        problem = ("a log range takes no step" if log and _number(step, kind) and step > 0
                   else f"expected a step above 0, received {describe(step_node)}")  # fmt: skip
        values.error(problem, step_node.location, f"{path}.step")
        return None
    return low, high, log, step


def _target(values: Reader, name: str, where: Location, variables: dict[str, Node],
            root: Node) -> tuple[str, bool] | None:  # fmt: skip
    """The ``--set`` key ``name`` stands for, and whether the spec lacks it; None after an
    error (an unknown var or setting, with a suggestion)."""
    section, _, rest = name.partition(".")
    if not rest:
        if name in variables:
            return _var_key(name, root)
        return _unknown(values, name, where, variables, root, "a var of the spec")
    if section == "vars" and "." not in rest:
        if rest in variables:
            return _var_key(rest, root)
        return _unknown(values, name, where, variables, root, "a var of the spec")
    if section in _SECTIONS[1:] and _written(root, name.split(".")):
        return name, False
    train_names = [setting.name for setting in TRAIN_SETTINGS]
    if section == "train" and rest in train_names and rest != "optimizer":
        return name, True
    return _unknown(values, name, where, variables, root, "a setting the spec writes")


def _var_key(name: str, root: Node) -> tuple[str, bool]:
    return f"vars.{name}", not _written(root, ["vars", name])


def _written(root: Node, steps: list[str]) -> bool:
    node = root
    for step in steps:
        if not node.is_mapping or step not in node.value:
            return False
        node = node.value[step]
    return not node.is_mapping and not node.is_sequence


def _unknown(values: Reader, name: str, where: Location, variables: dict[str, Node],
             root: Node, what: str) -> None:  # fmt: skip
    """Says ``name`` is not ``what``, with the closest known name: worked out only for a problem
    shown in full, over at most MAX_CHOICES names (a search of a long list for every unknown
    name of a long search section took minutes)."""

    def hint() -> str:
        known = [*variables, *(f"vars.{var}" for var in variables)]
        known += [f"train.{item.name}" for item in TRAIN_SETTINGS if item.name != "optimizer"]
        for section in _SECTIONS[1:]:
            known += _leaf_paths(section, root.value.get(section) if root.is_mapping else None)
        return suggest(name, known) or (
            f"Name a var (the spec's: {', '.join(variables) or 'none'}) or a train: setting such "
            "as train.batch_size, or one the spec writes, such as "
            "train.optimizer.adam.learning_rate."
        )

    values.error(f"'{name}' is not {what}", where, f"search.{name}", hint)


def _leaf_paths(path: str, node: Node | None) -> list[str]:
    """The dotted paths of the single values written below ``node`` (lists are not entered)."""
    if node is None or node.is_sequence:
        return []
    if not node.is_mapping:
        return [path]
    return [
        leaf for key, child in node.value.items() for leaf in _leaf_paths(f"{path}.{key}", child)
    ]
