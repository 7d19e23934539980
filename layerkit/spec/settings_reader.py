"""Reading a spec's ``train:`` section into settings, with their places.

Takes the section's YAML node and an error collector; gives :class:`TrainSettings` (defaults for
what is not written), and every problem of structure or simple type, at its place, to the
collector. :func:`read_train` reads the simple settings (integers, numbers, text, choices,
booleans) from their declaration in :mod:`layerkit.spec.settings` alone, and the structured ones
(optimizer, schedule, loss, metrics, validation_split, no_decay, target, early_stopping,
lookahead, lr_scale, init) with a reader of their own (``_TRAIN_READERS``). :class:`SettingsReader`
does the reading, for ``data:`` too (:mod:`layerkit.spec.data_settings_reader`). Run when the
spec is loaded; the checks that need the catalog or the model's input are
:mod:`layerkit.spec.settings_checks`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..errors import ErrorCollector, Location, SpecError, did_you_mean
from .document import MAX_ARGUMENT_INT
from .problems import BoundedErrors, Fix
from .settings import (
    EARLY_STOPPING_SETTINGS,
    INIT_SETTINGS,
    LOOKAHEAD_SETTINGS,
    LR_GROUPS,
    NO_DECAY_KINDS,
    TRAIN_FIELDS,
    TRAIN_SETTINGS,
    Choice,
    EarlyStopping,
    Init,
    Lookahead,
    Setting,
    TrainSettings,
    misplaced,
)
from .yaml_source import Node, describe, exponent_fix, written


class SettingsReader:
    def __init__(self, errors: ErrorCollector, section: str) -> None:
        self.errors = errors
        self.section = section

    def error(self, message: str, node: Node, key: str, fix: Fix = None) -> None:
        self.report(message, node.location, f"{self.section}.{key}", fix)

    def report(self, message: str, location: Location, path: str, fix: Fix = None) -> None:
        """Record a problem; past the problems shown in full it is only counted, and a ``fix``
        given as a function (a "did you mean" search) is not worked out."""
        if isinstance(self.errors, BoundedErrors) and self.errors.full:
            self.errors.hidden += 1
        else:
            self.errors.add(SpecError(message, location, path, fix() if callable(fix) else fix))

    def mapping(self, node: Node | None, allowed: tuple[str, ...]) -> dict[str, Node]:
        if node is None:
            return {}
        if not node.is_mapping:
            self.report(f"expected a mapping, received {describe(node)}", node.location,
                        self.section)  # fmt: skip
            return {}
        for key in node.value:
            if key not in allowed:
                moved = misplaced(key, self.section)
                self.report(
                    f"unknown {self.section} setting '{key}'" + (moved[0] if moved else ""),
                    node.key_location(key),
                    f"{self.section}.{key}",
                    moved[1] if moved else lambda key=key: (
                        did_you_mean(key, allowed) or f"Use one of: {', '.join(allowed)}."),
                )  # fmt: skip
        return {key: value for key, value in node.value.items() if key in allowed}

    def settings(
        self,
        declared: tuple[Setting, ...],
        fields: dict[str, Node],
        readers: dict[str, StructuredReader],
    ) -> dict[str, Any]:
        """The values of the settings written, each read by its declaration or, for a structured
        one, by its reader; one that is null (tta) or refused is left out, so it keeps its
        default."""
        values: dict[str, Any] = {}
        for setting in declared:
            if setting.name not in fields:
                continue
            node = fields[setting.name]
            if setting.kind == "structured":
                value = readers[setting.name](self, node, setting.name)
            else:
                value = self.simple(setting, node)
            if value is not None:
                values[setting.name] = value
        return values

    def simple(self, setting: Setting, node: Node) -> Any:
        """An integer, number, text, choice or boolean, checked against its declaration; None
        when refused."""
        key, value = setting.name, node.value
        if setting.kind == "number":
            number = self.number(node, key)
            if number is not None and not setting.in_range(number):
                self.error(
                    f"expected {setting.expected}, received {written(node)}", node, key,
                    setting.fix,
                )  # fmt: skip
                return None
            return number
        fix = None
        refused = _refused(value)
        if refused is not None:
            self.error(refused, node, key, "Check the value.")
            return None
        if setting.kind == "integer":
            accepted = _is_integer(value) and setting.in_range(value)
            fix = exponent_fix(value, integer=True)
        elif setting.kind == "choice":
            accepted = value in setting.choices
            spelling = [str(choice) for choice in setting.choices if choice is not None]
            fix = setting.fix or (did_you_mean(value, spelling) if isinstance(value, str) else None)
        else:
            accepted = isinstance(value, str if setting.kind == "string" else bool)
        if accepted:
            return value
        self.error(f"expected {setting.expected_text}, received {describe(node)}", node, key, fix)
        return None

    def number(self, node: Node, key: str) -> float | None:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error(f"expected a number, received {describe(node)}", node, key,
                       exponent_fix(value) or _unquote_fix(value))  # fmt: skip
            return None
        return float(value)

    def choice(self, node: Node, key: str) -> Choice | None:
        if isinstance(node.value, str):
            return Choice(node.value, {}, node.location)
        if node.is_mapping and len(node.value) == 1:
            ((name, args),) = node.value.items()
            if args.value is None:
                return Choice(name, {}, node.key_location(name))
            if args.is_mapping:
                values = {key: child.location for key, child in args.value.items()}
                return Choice(
                    name, args.plain(), node.key_location(name), dict(args.key_locations), values
                )
            example = "{learning_rate: 0.01}" if key == "optimizer" else "{argument: value}"
            self.error(
                f"the arguments of {key} '{name}' must be a mapping of argument: value, received "
                f"{describe(args)}",
                args,
                f"{key}.{name}",
                f"Write e.g. '{key}: {{{name}: {example}}}'.",
            )
            return None
        self.error(
            f"expected a name or {{name: {{argument: value}}}}, received {describe(node)}",
            node,
            key,
            f"Write e.g. '{key}: {{adam: {{learning_rate: 0.001}}}}'."
            if key == "optimizer"
            else None,
        )
        return None

    def parts(self, node: Node, key: str, declared: tuple[Setting, ...], example: str
              ) -> tuple[dict[str, Node], dict[str, Any]] | None:  # fmt: skip
        """A mapping of settings within a setting (``{patience: 5}``), each read by its
        declaration: the fields written and the values read; None for null, or for anything but a
        mapping (said at its place, with ``example``)."""
        if node.value is None:
            return None
        if not node.is_mapping:
            shown = {"integer": "N", "boolean": "true"}
            shape = ", ".join(f"{item.name}: {shown.get(item.kind, 'X')}" for item in declared)
            self.error(f"expected {{{shape}}}, received {describe(node)}", node, key, example)
            return None
        reader = SettingsReader(self.errors, f"{self.section}.{key}")
        fields = reader.mapping(node, tuple(item.name for item in declared))
        return fields, reader.settings(declared, fields, {})


# A structured setting's reader: (the reader, the setting's node, its name) → its value, or None.
StructuredReader = Callable[[SettingsReader, Node, str], Any]


def read_train(node: Node | None, errors: ErrorCollector) -> TrainSettings:
    """The ``train:`` section's settings (defaults for those not written); every problem found
    goes to ``errors``, at its place."""
    reader = SettingsReader(errors, "train")
    fields = reader.mapping(node, TRAIN_FIELDS)
    values = reader.settings(TRAIN_SETTINGS, fields, _TRAIN_READERS)
    locations = {key: child.location for key, child in fields.items()}
    if "metrics" in values:
        for index, item in enumerate(fields["metrics"].value):
            locations[f"metrics[{index}]"] = item.location
    for group, _ in values.get("lr_scale", ()):
        locations[f"lr_scale.{group}"] = fields["lr_scale"].key_location(group)
    if "target" in values:
        locations[f"target.{values['target'][0]}"] = fields["target"].key_location(
            values["target"][0]
        )
    return TrainSettings(**values, locations=locations)


def _read_metrics(reader: SettingsReader, node: Node, key: str) -> tuple[str, ...] | None:
    example = "Write e.g. 'metrics: [accuracy, top5]'."
    if not node.is_sequence:
        reader.error(f"expected a list of metric names, received {describe(node)}", node, key,
                     example)  # fmt: skip
        return None
    bad = [
        (index, item) for index, item in enumerate(node.value) if not isinstance(item.value, str)
    ]
    for index, item in bad:
        reader.error(f"expected a metric name, received {describe(item)}", item,
                     f"{key}[{index}]", example)  # fmt: skip
    return None if bad else tuple(item.value for item in node.value)


def _read_no_decay(reader: SettingsReader, node: Node, key: str) -> tuple[str, ...] | None:
    kinds = ", ".join(NO_DECAY_KINDS)
    if not node.is_sequence:
        reader.error(
            f"expected a list drawn from {kinds}, received {describe(node)}",
            node,
            key,
            "Write 'no_decay: [normalization, bias]' (the default), or 'no_decay: []' to decay "
            "every weight.",
        )
        return None
    bad = [
        (index, item) for index, item in enumerate(node.value) if item.value not in NO_DECAY_KINDS
    ]
    for index, item in bad:
        hint = did_you_mean(item.value, NO_DECAY_KINDS) if isinstance(item.value, str) else None
        reader.error(f"expected one of {kinds}, received {describe(item)}", item,
                     f"{key}[{index}]", hint or f"Write one of: {kinds}.")  # fmt: skip
    return None if bad else tuple(item.value for item in node.value)


def _read_target(reader: SettingsReader, node: Node, key: str) -> tuple[str, float] | None:
    if node.is_mapping and len(node.value) == 1:
        ((metric, value),) = node.value.items()
        number = reader.number(value, f"{key}.{metric}")
        if number is not None and not math.isfinite(number):
            reader.error(f"expected a finite value to stop at, received {written(value)}", value,
                         f"{key}.{metric}", "Write e.g. 'target: {val_accuracy: 0.83}'.")  # fmt: skip
            return None
        return None if number is None else (metric, number)
    reader.error(
        f"expected one metric and the value to stop at, received {describe(node)}",
        node,
        key,
        "Write e.g. 'target: {val_accuracy: 0.83}'.",
    )
    return None


def _read_early_stopping(train: SettingsReader, node: Node, key: str) -> EarlyStopping | None:
    """``{patience: 5, min_delta: 0.001}``, each read by its declaration; null is off."""
    example = "Write e.g. 'early_stopping: {patience: 5, min_delta: 0.001}'."
    read = train.parts(node, key, EARLY_STOPPING_SETTINGS, example)
    if read is None:
        return None
    fields, values = read
    misspelt = len(fields) != len(node.value)  # said with a suggestion already
    if "patience" not in fields and not misspelt:
        train.error(
            "needs patience, the number of epochs without an improvement after which the run stops",
            node,
            key,
            example,
        )
    if misspelt or len(values) != len(fields) or "patience" not in values:
        return None
    return EarlyStopping(**values)


def _parts_reader(declared: tuple[Setting, ...], made: type, example: str) -> StructuredReader:
    """The reader of a setting made of settings (``lookahead``, ``init``): each part read by its
    declaration, defaults for those left out; null is off."""

    def read(train: SettingsReader, node: Node, key: str) -> Any:
        parts = train.parts(node, key, declared, example)
        if parts is None or len(parts[0]) != len(node.value) or len(parts[1]) != len(parts[0]):
            return None  # off, or refused at its place
        return made(**parts[1])

    return read


def _read_lr_scale(
    train: SettingsReader, node: Node, key: str
) -> tuple[tuple[str, float], ...] | None:
    """``{normalization_bias: 64}``: groups of weights (:data:`LR_GROUPS`) and their factors,
    finite numbers above 0."""
    example = "Write e.g. 'lr_scale: {normalization_bias: 64}'."
    if node.value is None:
        return None
    if not node.is_mapping:
        received = f"received {describe(node)}"
        train.error(f"expected groups of weights and their factors, {received}", node, key, example)
        return None
    reader = SettingsReader(train.errors, f"train.{key}")
    fields = reader.mapping(node, LR_GROUPS)
    scales = []
    for name, child in fields.items():
        number = reader.number(child, name)
        if number is not None and not 0 < number < math.inf:  # nan too
            reader.error(f"expected a finite factor above 0, received {written(child)}", child,
                         name, example)  # fmt: skip
        elif number is not None:
            scales.append((name, number))
    return tuple(scales) if len(scales) == len(node.value) else None


def _read_split(reader: SettingsReader, node: Node, key: str) -> float | int:
    value = node.value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, float) and 0 <= value < 1:
        return value
    reader.error(
        f"expected a fraction below 1 (0.1) or a number of samples (5000), received {describe(node)}",
        node,
        key,
    )
    return TrainSettings.validation_split


_TRAIN_READERS: dict[str, StructuredReader] = {
    "optimizer": SettingsReader.choice,
    "schedule": SettingsReader.choice,
    "loss": SettingsReader.choice,
    "metrics": _read_metrics,
    "validation_split": _read_split,
    "no_decay": _read_no_decay,
    "target": _read_target,
    "early_stopping": _read_early_stopping,
    "lookahead": _parts_reader(LOOKAHEAD_SETTINGS, Lookahead,
                               "Write e.g. 'lookahead: {every: 5, alpha: 0.5}'."),
    "lr_scale": _read_lr_scale,
    "init": _parts_reader(INIT_SETTINGS, Init, "Write e.g. 'init: {dirac: true, whiten: true}'."),
}  # fmt: skip


def _refused(value: Any) -> str | None:
    """Why a value no setting can take is refused before its kind is checked, or None."""
    if _is_integer(value) and abs(value) > MAX_ARGUMENT_INT:
        return f"{value:,} is beyond the ±{MAX_ARGUMENT_INT:,} an integer setting may be"
    if isinstance(value, str) and "\0" in value:
        return "the text holds a NUL character, which no name or path can"
    return None


def _unquote_fix(value: Any) -> str | None:
    """The fix for a finite number written as text ('0.5' in quotes)."""
    try:
        number = float(value) if isinstance(value, str) else math.nan
    except ValueError:
        return None
    return "Write the number without quotes." if math.isfinite(number) else None


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
