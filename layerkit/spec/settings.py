"""The ``train:`` and ``data:`` sections of a spec, read into plain settings with their places.

Each setting is declared once, on its field of :class:`TrainSettings` or :class:`DataSettings`: its
kind, default, range or choices and one line of help (a :class:`Setting`, as Ludwig declares its
config fields). :func:`read_train` and :func:`read_data` read the simple ones (integers, numbers,
text, choices, booleans) from that declaration alone, and the structured ones (optimizer, schedule,
loss, metrics, validation_split, no_decay, target, normalize) with a reader of their own;
:mod:`layerkit.spec.schema` makes the JSON Schema's ``train:`` and ``data:`` from it, and
``tests/test_settings_declaration.py`` checks the tables of docs/training.md against it.

Structure and simple types are checked by :func:`read_train` and :func:`read_data` when the spec
is loaded. :func:`check_settings`, part of validation, checks the rest, still without TensorFlow:
optimizer, loss, schedule and metric names and their arguments against the settings catalog
(:mod:`layerkit.catalog.training`), ``target`` and ``monitor`` against what the run will log, and
the settings that depend on the model's input. :mod:`layerkit.training.recipe` makes the Keras objects
when training starts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from ..catalog.layers import accepts, kinds_text, type_fix
from ..catalog.training import (
    OLD_ARGUMENTS,
    Entry,
    SettingsCatalog,
    UnknownNameError,
    default_catalog,
    metric_name,
)
from ..errors import ErrorCollector, Location, SpecError, did_you_mean
from .yaml_source import Node, describe

NO_DECAY_KINDS = ("normalization", "bias")  # weights that weight_decay can leave alone
TTA_KINDS = ("flip",)
NORMALIZE_FIELDS = ("scale", "offset", "mean", "std")
BAD_IMAGE_CHOICES = ("error", "skip")
# What a setting can be: the first five are read from their declaration alone; a structured one
# has a reader of its own (_TRAIN_READERS, _DATA_READERS) and a schema of its own (spec/schema.py).
SETTING_KINDS = ("integer", "number", "string", "choice", "boolean", "structured")
_RANGE = ("minimum", "maximum", "exclusive_minimum", "exclusive_maximum")


@dataclass(frozen=True)
class Setting:
    """One ``train:`` or ``data:`` setting, as declared on its settings field.

    Args:
        name: the key written in the spec (the field's name).
        kind: one of :data:`SETTING_KINDS`.
        default: the value when the spec does not write the setting.
        help: one line saying what it does (the JSON Schema's description).
        minimum, maximum, exclusive_minimum, exclusive_maximum: a number's range, as JSON Schema
            writes it; an integer takes a minimum only.
        choices: the values a choice may take (None among them: it may be written null).
        expected: what an error says was expected, where the kind alone does not say it: a
            number's range, a text's meaning, a choice's spelling.
        fix: the fix an error for a value out of range or choices offers.
        shown: the default as the docs write it, where the value alone would mislead (an
            optimizer of None is Adam).

    Raises:
        ValueError: for a declaration the readers could not follow.
    """

    name: str
    kind: str
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None
    choices: tuple[Any, ...] = ()
    expected: str | None = None
    fix: str | None = None
    shown: str | None = None

    def __post_init__(self) -> None:
        problem = None
        ranged = [name for name in _RANGE if getattr(self, name) is not None]
        if self.kind not in SETTING_KINDS:
            problem = f"kind '{self.kind}' is not one of {', '.join(SETTING_KINDS)}"
        elif self.kind == "integer" and ranged != ["minimum"]:
            problem = "an integer setting takes a minimum, and only that"
        elif self.kind == "number" and ranged and self.expected is None:
            problem = "a number setting with a range needs the expected text its error gives"
        elif self.kind not in ("integer", "number") and ranged:
            problem = f"a {self.kind} setting takes no range"
        elif (self.kind == "choice") != bool(self.choices):
            problem = (
                "a choice setting needs its choices"
                if self.kind == "choice"
                else f"a {self.kind} setting takes no choices"
            )
        if problem:
            raise ValueError(f"setting '{self.name}': {problem}")

    @property
    def expected_text(self) -> str:
        """What a value of the wrong kind is told was expected."""
        if self.kind == "integer":
            return f"an integer of at least {self.minimum}"
        if self.kind == "number":
            return "a number"
        if self.expected is not None:
            return self.expected
        if self.kind == "choice":
            return " or ".join(str(choice) for choice in self.choices if choice is not None)
        return {"boolean": "true or false", "string": "a text"}.get(self.kind, "a value")

    def in_range(self, value: float) -> bool:
        """Whether a number lies in the declared range."""
        return (
            (self.minimum is None or value >= self.minimum)
            and (self.maximum is None or value <= self.maximum)
            and (self.exclusive_minimum is None or value > self.exclusive_minimum)
            and (self.exclusive_maximum is None or value < self.exclusive_maximum)
        )

    @property
    def doc_default(self) -> str:
        """The default as the docs' tables write it: ``shown``, or the value in YAML, or none."""
        if self.shown is not None:
            return self.shown
        value = self.default
        if value is None:
            return "none"
        if isinstance(value, bool):
            return f"`{str(value).lower()}`"
        if isinstance(value, float):
            return f"`{value:g}`"
        if isinstance(value, tuple):
            return f"`[{', '.join(str(item) for item in value)}]`"
        return f"`{value}`"


def _setting(kind: str, help: str, **details: Any) -> dict[str, Setting]:
    """A settings field's metadata: its :class:`Setting`, whose name and default
    :func:`_declared` takes from the field."""
    return {"setting": Setting("", kind, None, help, **details)}


def _declared(settings_class: type) -> tuple[Setting, ...]:
    """The settings declared on a settings dataclass's fields, in their order, with their names."""
    declared = []
    for item in dataclasses.fields(settings_class):
        if item.name == "locations":
            continue
        if "setting" not in item.metadata:
            raise TypeError(f"{settings_class.__name__}.{item.name} has no metadata=_setting(...)")
        default = item.default_factory() if item.default is dataclasses.MISSING else item.default
        setting = item.metadata["setting"]
        declared.append(dataclasses.replace(setting, name=item.name, default=default))
    return tuple(declared)


@dataclass(frozen=True)
class Choice:
    """A named thing with arguments, written ``adam`` or ``{adam: {learning_rate: 0.001}}``.

    ``location`` is where the name is written; ``key_locations`` and ``value_locations`` where each
    argument's name and value are.
    """

    name: str
    args: dict[str, Any]
    location: Location
    key_locations: dict[str, Location] = field(default_factory=dict, compare=False)
    value_locations: dict[str, Location] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class TrainSettings:
    """How to train: every field has a default, so a spec without ``train:`` can be trained."""

    # fmt: off
    optimizer: Choice | None = field(default=None, metadata=_setting(
        "structured", "a keras.optimizers class by name, with its arguments; "
        "Adam with Keras's defaults when unset", shown="`adam`"))
    schedule: Choice | None = field(default=None, metadata=_setting(
        "structured", "the learning rate over training: constant, step, cosine or "
        "one_cycle, with its arguments", shown="`constant`"))
    loss: Choice | None = field(default=None, metadata=_setting(
        "structured", "a keras.losses class by name, with its arguments; labels reach it "
        "one-hot", shown="`categorical_crossentropy`"))
    label_smoothing: float = field(default=0.0, metadata=_setting(
        "number", "label smoothing of the cross-entropy losses", minimum=0,
        exclusive_maximum=1, expected="a number from 0 to below 1"))
    metrics: tuple[str, ...] = field(default=("accuracy",), metadata=_setting(
        "structured", "the metrics logged: accuracy, topK (top5), each once"))
    batch_size: int = field(default=32, metadata=_setting(
        "integer", "images per training step (--batch-size)", minimum=1))
    epochs: int = field(default=10, metadata=_setting(
        "integer", "epochs to train (--epochs)", minimum=1))
    validation_split: float | int = field(default=0.1, metadata=_setting(
        "structured", "a fraction of the training images below 1, or a number of them, held "
        "out to validate on"))
    seed: int = field(default=0, metadata=_setting(
        "integer", "seeds the split, the initial weights, and each epoch's order, augmentation "
        "and dropout", minimum=0))
    monitor: str = field(default="val_accuracy", metadata=_setting(
        "string", "what 'best' means for model_best.keras (a loss is minimised)",
        expected="a metric name such as val_accuracy"))
    no_decay: tuple[str, ...] = field(default=NO_DECAY_KINDS, metadata=_setting(
        "structured", "the weights the optimizer's weight_decay skips: "
        "normalization, bias"))
    batchnorm_momentum: float | None = field(default=None, metadata=_setting(
        "number", "the momentum set on every BatchNormalization layer", exclusive_minimum=0,
        exclusive_maximum=1, expected="a momentum between 0 and 1 (such as 0.9)",
        shown="Keras's `0.99`"))
    ema: float | None = field(default=None, metadata=_setting(
        "number", "the momentum of an exponential moving average of the weights",
        exclusive_minimum=0, exclusive_maximum=1,
        expected="a momentum between 0 and 1 (such as 0.9)", shown="off"))
    early_dropout: float | None = field(default=None, metadata=_setting(
        "number", "the fraction of the epochs with dropout on; off after them",
        exclusive_minimum=0, maximum=1,
        expected="the fraction of the epochs that keep dropout on, above 0 and at most 1",
        fix="Write e.g. 'early_dropout: 0.5' for dropout in the first half of the epochs only.",
        shown="off"))
    tta: str | None = field(default=None, metadata=_setting(
        "choice", "flip: also report validation accuracy with flip TTA each epoch",
        choices=(*TTA_KINDS, None), shown="off",
        fix="Write 'tta: flip' to also report validation accuracy averaged over each image and "
        "its mirror."))
    target: tuple[str, float] | None = field(default=None, metadata=_setting(
        "structured", "stop once this metric reaches this value: {val_accuracy: 0.83}"))
    # fmt: on
    locations: dict[str, Location] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Normalize:
    """Input scaling applied before the model: ``(x * scale + offset - mean) / std``."""

    scale: float = 1 / 255
    offset: float = 0.0
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None


@dataclass(frozen=True)
class DataSettings:
    """Where the training data comes from and how it is prepared."""

    # fmt: off
    source: str | None = field(default=None, metadata=_setting(
        "string", "a folder, archive or .npz of class images, or a built-in dataset name; "
        "--data overrides it", expected="a dataset name or a path"))
    normalize: Normalize = field(default_factory=Normalize, metadata=_setting(
        "structured", "input scaling before the model: (x * scale + offset - mean) / "
        "std", shown="`{scale: 1/255}`"))
    on_bad_image: str = field(default="error", metadata=_setting(
        "choice", "error: an unreadable image stops the run; skip: it is skipped and "
        "counted", choices=BAD_IMAGE_CHOICES, expected="'error' or 'skip'"))
    resize: bool = field(default=False, metadata=_setting(
        "boolean", "resize images whose size differs from the spec's input (--resize)"))
    # fmt: on
    locations: dict[str, Location] = field(default_factory=dict, compare=False)


TRAIN_SETTINGS = _declared(TrainSettings)
DATA_SETTINGS = _declared(DataSettings)
TRAIN_FIELDS = tuple(setting.name for setting in TRAIN_SETTINGS)
DATA_FIELDS = tuple(setting.name for setting in DATA_SETTINGS)


class _Reader:
    def __init__(self, errors: ErrorCollector, section: str) -> None:
        self.errors = errors
        self.section = section

    def error(self, message: str, node: Node, key: str, fix: str | None = None) -> None:
        self.errors.add(SpecError(message, node.location, f"{self.section}.{key}", fix))

    def mapping(self, node: Node | None, allowed: tuple[str, ...]) -> dict[str, Node]:
        if node is None:
            return {}
        if not node.is_mapping:
            self.errors.add(
                SpecError(
                    f"expected a mapping, received {describe(node)}", node.location, self.section
                )
            )
            return {}
        for key in node.value:
            if key not in allowed:
                hint = did_you_mean(key, allowed) or f"Use one of: {', '.join(allowed)}."
                self.errors.add(
                    SpecError(
                        f"unknown {self.section} setting '{key}'",
                        node.key_location(key),
                        f"{self.section}.{key}",
                        hint,
                    )
                )
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
                    f"expected {setting.expected}, received {number}", node, key, setting.fix
                )
                return None
            return number
        fix = None
        if setting.kind == "integer":
            accepted = _is_integer(value) and setting.in_range(value)
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
            self.error(f"expected a number, received {describe(node)}", node, key)
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
        self.error(
            f"expected a name or {{name: {{argument: value}}}}, received {describe(node)}",
            node,
            key,
            f"Write e.g. '{key}: {{adam: {{learning_rate: 0.001}}}}'."
            if key == "optimizer"
            else None,
        )
        return None


# A structured setting's reader: (the reader, the setting's node, its name) → its value, or None.
StructuredReader = Callable[[_Reader, Node, str], Any]


def read_train(node: Node | None, errors: ErrorCollector) -> TrainSettings:
    """The ``train:`` section's settings (defaults for those not written); every problem found
    goes to ``errors``, at its place."""
    reader = _Reader(errors, "train")
    fields = reader.mapping(node, TRAIN_FIELDS)
    values = reader.settings(TRAIN_SETTINGS, fields, _TRAIN_READERS)
    locations = {key: child.location for key, child in fields.items()}
    if "metrics" in values:
        for index, item in enumerate(fields["metrics"].value):
            locations[f"metrics[{index}]"] = item.location
    if "target" in values:
        locations[f"target.{values['target'][0]}"] = fields["target"].key_location(
            values["target"][0]
        )
    return TrainSettings(**values, locations=locations)


def _read_metrics(reader: _Reader, node: Node, key: str) -> tuple[str, ...] | None:
    if node.is_sequence and all(isinstance(item.value, str) for item in node.value):
        return tuple(item.value for item in node.value)
    reader.error(
        f"expected a list of metric names, received {describe(node)}",
        node,
        key,
        "Write e.g. 'metrics: [accuracy, top5]'.",
    )
    return None


def _read_no_decay(reader: _Reader, node: Node, key: str) -> tuple[str, ...] | None:
    items = node.value if node.is_sequence else None
    if items is None or not all(item.value in NO_DECAY_KINDS for item in items):
        reader.error(
            f"expected a list drawn from {', '.join(NO_DECAY_KINDS)}, received {describe(node)}",
            node,
            key,
            "Write 'no_decay: [normalization, bias]' (the default), or 'no_decay: []' to decay "
            "every weight.",
        )
        return None
    return tuple(item.value for item in items)


def _read_target(reader: _Reader, node: Node, key: str) -> tuple[str, float] | None:
    if node.is_mapping and len(node.value) == 1:
        ((metric, value),) = node.value.items()
        number = reader.number(value, f"{key}.{metric}")
        return None if number is None else (metric, number)
    reader.error(
        f"expected one metric and the value to stop at, received {describe(node)}",
        node,
        key,
        "Write e.g. 'target: {val_accuracy: 0.83}'.",
    )
    return None


def _read_split(reader: _Reader, node: Node, key: str) -> float | int:
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
    "optimizer": _Reader.choice,
    "schedule": _Reader.choice,
    "loss": _Reader.choice,
    "metrics": _read_metrics,
    "validation_split": _read_split,
    "no_decay": _read_no_decay,
    "target": _read_target,
}


def read_data(node: Node | None, errors: ErrorCollector) -> DataSettings:
    """The ``data:`` section's settings: a mapping, or the source alone (``data: cifar10``);
    every problem found goes to ``errors``, at its place."""
    reader = _Reader(errors, "data")
    if node is not None and isinstance(node.value, str):
        return DataSettings(source=node.value, locations={"source": node.location})
    if node is not None and not node.is_mapping:
        errors.add(
            SpecError(
                f"expected a dataset name, a path, or a mapping of data settings, received "
                f"{describe(node)}",
                node.location,
                "data",
                "Write e.g. 'data: cifar10', or 'data: {source: images/, on_bad_image: skip}'.",
            )
        )
        return DataSettings()
    fields = reader.mapping(node, DATA_FIELDS)
    values = reader.settings(DATA_SETTINGS, fields, _DATA_READERS)
    locations = {key: child.location for key, child in fields.items()}
    normalize = fields.get("normalize")
    if normalize is not None and normalize.is_mapping:
        locations.update(
            {
                f"normalize.{key}": child.location
                for key, child in normalize.value.items()
                if key in NORMALIZE_FIELDS
            }
        )
    return DataSettings(**values, locations=locations)


def _read_normalize(data_reader: _Reader, node: Node, key: str) -> Normalize:
    reader = _Reader(data_reader.errors, f"data.{key}")
    fields = reader.mapping(node, NORMALIZE_FIELDS)
    values: dict[str, Any] = {}
    for name in ("scale", "offset"):
        if name in fields:
            number = reader.number(fields[name], name)
            if number is not None:
                values[name] = number
    for name in ("mean", "std"):
        if name in fields:
            child = fields[name]
            items = child.value if child.is_sequence else (child,)
            numbers = [item.value for item in items]
            if not numbers or not all(
                isinstance(n, int | float) and not isinstance(n, bool) for n in numbers
            ):
                reader.error(
                    f"expected a number or a list of numbers (one per channel), received {describe(child)}",
                    child,
                    name,
                )
                continue
            if name == "std" and any(n <= 0 for n in numbers):
                bad = next(item for item in items if item.value <= 0)
                reader.error(
                    f"standard deviations must be positive, received {describe(bad)}", bad, name
                )
                continue
            values[name] = tuple(float(n) for n in numbers)
    return Normalize(**values)


_DATA_READERS: dict[str, StructuredReader] = {"normalize": _read_normalize}


# ---------------------------------------------------------------------------------------------
# The check of names and of settings that depend on each other (part of validation: no TensorFlow)


def check_settings(
    train: TrainSettings,
    data: DataSettings,
    input_shape: tuple[int | None, ...] | None,
    catalog: SettingsCatalog | None = None,
) -> list[SpecError]:
    """Check every name ``train:`` writes, and the settings that depend on others.

    Optimizer, loss and schedule names, and their arguments' names and simple types, are checked
    against the settings catalog (:mod:`layerkit.catalog.training`); metric names against the
    metrics layerkit makes; ``target`` and ``monitor`` against the names the run's history will
    have; ``tta`` and ``data.normalize`` against the model's input shape (None when the model has
    several inputs).

    Returns:
        Every problem found, each at its place in the spec; empty when there is none.
    """
    checker = _Checker(catalog or default_catalog())
    checker.check_train(train, input_shape)
    checker.check_data(data, input_shape)
    return checker.errors


# One-cycle arguments that would divide by zero, never decay or run backwards (recipe.OneCycle).
ONE_CYCLE_RANGES: dict[str, tuple[Callable[[float], bool], str]] = {
    "max_lr": (lambda value: value > 0, "a peak rate above 0"),
    "warmup": (
        lambda value: 0 <= value < 1,
        "the fraction of the steps spent rising, 0 to below 1",
    ),
    "div": (lambda value: value > 0, "the divisor of the starting rate, above 0"),
    "final_div": (lambda value: value > 0, "the divisor of the final rate, above 0"),
}


class _Checker:
    def __init__(self, catalog: SettingsCatalog) -> None:
        self.catalog = catalog
        self.errors: list[SpecError] = []

    def error(self, message: str, location: Location, path: str, fix: str | None = None) -> None:
        self.errors.append(SpecError(message, location, path, fix))

    def check_train(self, train: TrainSettings, input_shape: tuple[int | None, ...] | None) -> None:
        self.choice(train.optimizer, "optimizer")
        loss = self.choice(train.loss, "loss")
        schedule = self.choice(train.schedule, "schedule")
        if schedule is not None and train.schedule is not None:
            self.schedule_values(train.schedule)
        if train.label_smoothing and loss is not None and "label_smoothing" not in loss.args:
            self.error(
                f"label_smoothing applies to cross-entropy losses; loss {loss.name} takes none",
                _where(train.locations, "label_smoothing"),
                "train.label_smoothing",
                "Remove label_smoothing, or use categorical_crossentropy.",
            )
        metrics = self.metrics(train)
        if metrics is not None:
            self.history_names(train, metrics)
        if train.tta == "flip" and input_shape is not None and len(input_shape) not in (2, 3):
            self.error(
                f"tta: flip mirrors images, but the input is {list(input_shape)}, not "
                "[height, width] or [height, width, channels]",
                _where(train.locations, "tta"),
                "train.tta",
                "Remove 'tta: flip' for inputs that are not images.",
            )

    def choice(self, choice: Choice | None, kind: str) -> Entry | None:
        """Resolve an optimizer, loss or schedule and check its arguments; None when unknown."""
        if choice is None:
            return None
        path = f"train.{kind}"
        try:
            entry = self.catalog.resolve(kind, choice.name)
        except UnknownNameError as unknown:
            self.error(f"unknown {kind} '{choice.name}'", choice.location, path, unknown.hint)
            return None
        allowed = [name for name in entry.args if name not in entry.supplied]
        suggested = set()
        for name, value in choice.args.items():
            arg_path = f"{path}.{choice.name}.{name}"
            key_location = choice.key_locations.get(name, choice.location)
            arg = entry.args.get(name)
            if name in entry.supplied:
                setting, fix = entry.supplied[name]
                self.error(
                    f"'{name}' of {entry.label} is set by layerkit from {setting}",
                    key_location,
                    arg_path,
                    fix,
                )
            elif arg is None:
                hint = did_you_mean(name, allowed)
                if hint is None and name in OLD_ARGUMENTS:
                    hint = f"Did you mean '{OLD_ARGUMENTS[name]}'?"
                suggested.add(hint)
                read_as = (
                    f" (layerkit reads '{entry.alias_of}' as {entry.name}: labels reach the loss "
                    "one-hot)"
                    if entry.alias_of
                    else ""
                )
                takes = f"takes: {', '.join(allowed)}" if allowed else "takes no arguments"
                self.error(
                    f"unknown argument '{name}' for {entry.label}{read_as}",
                    key_location,
                    arg_path,
                    hint or f"{entry.label[0].upper()}{entry.label[1:]} {takes}.",
                )
            elif not accepts(arg.kinds, value):
                self.error(
                    f"argument '{name}' of {entry.label} expects {kinds_text(arg.kinds)}, "
                    f"received {describe(value)}",
                    choice.value_locations.get(name, key_location),
                    arg_path,
                    type_fix(arg.kinds, value),
                )
        for name, arg in entry.args.items():
            if (
                arg.required
                and name not in choice.args
                and f"Did you mean '{name}'?" not in suggested
            ):
                self.error(
                    f"{entry.label} needs argument '{name}'",
                    choice.location,
                    path,
                    f"Add '{name}: ...' to its arguments.",
                )
        return entry

    def schedule_values(self, choice: Choice) -> None:
        """What a schedule's arguments must be beyond their types: the ranges one_cycle needs, and
        a step schedule's boundaries and rates, which must fit together."""
        path = f"train.schedule.{choice.name}"
        if choice.name == "one_cycle":
            for name, (fits, expected) in ONE_CYCLE_RANGES.items():
                value = choice.args.get(name)
                if _is_number(value) and not fits(value):
                    self.error(
                        f"schedule 'one_cycle': {name} must be {expected}, received {float(value)}",
                        _where(choice.value_locations, name, choice.location),
                        f"{path}.{name}",
                        "Write e.g. 'one_cycle: {warmup: 0.25, div: 20, final_div: 200}'.",
                    )
        if choice.name != "step":
            return
        lists = {}
        for name in ("boundaries", "values"):
            items = choice.args.get(name)
            if not isinstance(items, list):
                continue  # missing or not a list: reported with the arguments
            bad = next((item for item in items if not _is_number(item)), _NONE)
            if bad is not _NONE:
                self.error(
                    f"argument '{name}' of schedule 'step' expects a list of numbers, received "
                    f"{describe(bad)} in it",
                    _where(choice.value_locations, name, choice.location),
                    f"{path}.{name}",
                    "Write e.g. 'step: {boundaries: [30, 60], values: [0.1, 0.01, 0.001]}'.",
                )
                continue
            lists[name] = items
        boundaries, rates = lists.get("boundaries"), lists.get("values")
        if boundaries is not None and any(b <= a for a, b in pairwise(boundaries)):
            self.error(
                f"boundaries must be epochs in increasing order, received {boundaries}",
                _where(choice.value_locations, "boundaries", choice.location),
                f"{path}.boundaries",
            )
        if boundaries is not None and rates is not None and len(rates) != len(boundaries) + 1:
            self.error(
                f"'values' needs one more entry than 'boundaries' (a rate before the first "
                f"boundary, and after each), received {len(rates)} values for "
                f"{len(boundaries)} boundaries",
                _where(choice.value_locations, "values", choice.location),
                f"{path}.values",
            )

    def metrics(self, train: TrainSettings) -> list[str] | None:
        """The names the history logs for the metrics; None when one is unknown."""
        names: dict[str, str] = {}  # logged name → as first written
        known = True
        for index, written in enumerate(train.metrics):
            location = _where(train.locations, f"metrics[{index}]", "metrics")
            path = f"train.metrics[{index}]"
            try:
                name = metric_name(written)
            except UnknownNameError as unknown:
                self.error(f"unknown metric '{written}'", location, path, unknown.hint)
                known = False
                continue
            if name in names:
                first = f" (first as '{names[name]}')" if names[name] != written else ""
                self.error(f"metric '{name}' is listed twice{first}", location, path,
                           "List each metric once.")  # fmt: skip
            else:
                names[name] = written
        return list(names) if known else None

    def history_names(self, train: TrainSettings, metrics: list[str]) -> None:
        """``target`` and ``monitor`` must name something the history will have (as
        train._check_target): the loss and metrics, with ``val_`` when the run validates, and
        ``val_accuracy_tta`` with ``tta``. Without validation, train drops a monitor's ``val_``."""
        measured = ["loss", *metrics]
        validated = [f"val_{name}" for name in measured]
        validating = bool(train.validation_split)
        names = [*measured, *validated] if validating else measured
        if validating and train.tta:
            names.append("val_accuracy_tta")
        if train.target is not None:
            metric = train.target[0]
            if metric not in names:
                unvalidated = (
                    " (validation_split is 0: nothing is validated)"
                    if metric.startswith("val_") and not validating
                    else ""
                )
                self.error(
                    f"train.target names '{metric}', which this run does not measure{unvalidated}",
                    _where(train.locations, f"target.{metric}", "target"),
                    "train.target",
                    did_you_mean(metric, names) or f"Use one of: {', '.join(names)}.",
                )
        monitors = names if validating else [*measured, *validated]
        if "monitor" in train.locations:
            if train.monitor not in monitors:
                self.error(
                    f"train.monitor names '{train.monitor}', which this run does not measure",
                    _where(train.locations, "monitor"),
                    "train.monitor",
                    did_you_mean(train.monitor, monitors) or f"Use one of: {', '.join(monitors)}.",
                )
        elif train.monitor not in monitors and "metrics" in train.locations:
            self.error(
                f"the best model is the one with the highest {train.monitor} (the default "
                "monitor), which these metrics do not measure",
                _where(train.locations, "metrics"),
                "train.metrics",
                "Add accuracy to the metrics, or set e.g. 'monitor: val_loss'.",
            )

    def check_data(self, data: DataSettings, input_shape: tuple[int | None, ...] | None) -> None:
        """``mean`` and ``std`` give one value for all channels or one per channel."""
        channels = input_shape[-1] if input_shape else None
        if channels is None:
            return
        for key in ("mean", "std"):
            values = getattr(data.normalize, key)
            if values is not None and len(values) not in (1, channels):
                self.error(
                    f"expected one value, or one per channel ({channels} for the input "
                    f"{list(input_shape)}), received {len(values)}",
                    _where(data.locations, f"normalize.{key}", "normalize"),
                    f"data.normalize.{key}",
                )


_NONE = object()  # no such item


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _where(locations: dict[str, Location], *keys: str | Location) -> Location:
    """The location of the first of ``keys`` that has one (a Location is its own); settings made
    in Python rather than read from a file have none, and are reported as ``<defaults>``."""
    for key in keys:
        if isinstance(key, Location):
            return key
        if key in locations:
            return locations[key]
    return Location("<defaults>", 1, 1)
