"""The ``train:`` and ``data:`` sections of a spec, read into plain settings with their places.

Structure and simple types are checked by :func:`read_train` and :func:`read_data` when the spec
is loaded. :func:`check_settings`, part of validation, checks the rest, still without TensorFlow:
optimizer, loss, schedule and metric names and their arguments against the settings catalog
(:mod:`layerkit.catalog.training`), ``target`` and ``monitor`` against what the run will log, and
the settings that depend on the model's input. :mod:`layerkit.training.recipe` makes the Keras objects
when training starts.
"""

from __future__ import annotations

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

TRAIN_FIELDS = (
    "optimizer", "schedule", "loss", "label_smoothing", "metrics", "batch_size", "epochs",
    "validation_split", "seed", "monitor", "no_decay", "batchnorm_momentum", "ema",
    "early_dropout", "tta", "target",
)  # fmt: skip
NO_DECAY_KINDS = ("normalization", "bias")  # weights that weight_decay can leave alone
TTA_KINDS = ("flip",)
DATA_FIELDS = ("source", "normalize", "on_bad_image", "resize")
NORMALIZE_FIELDS = ("scale", "offset", "mean", "std")
BAD_IMAGE_CHOICES = ("error", "skip")


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

    optimizer: Choice | None = None  # Adam with Keras's defaults when None
    schedule: Choice | None = None  # a constant learning rate when None
    loss: Choice | None = None  # categorical cross-entropy when None
    label_smoothing: float = 0.0
    metrics: tuple[str, ...] = ("accuracy",)
    batch_size: int = 32
    epochs: int = 10
    validation_split: float | int = 0.1  # a fraction of the training data, or a number of samples
    seed: int = 0
    monitor: str = "val_accuracy"  # what "best" means for the best checkpoint
    no_decay: tuple[str, ...] = NO_DECAY_KINDS  # weights the optimizer's weight_decay skips
    batchnorm_momentum: float | None = None  # set on every BatchNormalization layer when given
    ema: float | None = None  # momentum of an exponential moving average of the weights
    early_dropout: float | None = None  # fraction of the epochs with dropout on; off after them
    tta: str | None = None  # "flip": also report validation accuracy with flip TTA each epoch
    target: tuple[str, float] | None = None  # stop once this metric reaches this value
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

    source: str | None = None  # a built-in name or a path; --data overrides it
    normalize: Normalize = field(default_factory=Normalize)
    on_bad_image: str = "error"  # or "skip": unreadable images are skipped and counted
    resize: bool = False  # resize images whose size differs from the spec's input
    locations: dict[str, Location] = field(default_factory=dict, compare=False)


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

    def integer(self, node: Node, key: str, minimum: int = 1) -> int | None:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.error(
                f"expected an integer of at least {minimum}, received {describe(node)}", node, key
            )
            return None
        return value

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


def read_train(node: Node | None, errors: ErrorCollector) -> TrainSettings:
    reader = _Reader(errors, "train")
    fields = reader.mapping(node, TRAIN_FIELDS)
    values: dict[str, Any] = {}
    for key in ("optimizer", "schedule", "loss"):
        if key in fields:
            values[key] = reader.choice(fields[key], key)
    if "label_smoothing" in fields:
        smoothing = reader.number(fields["label_smoothing"], "label_smoothing")
        if smoothing is not None and not 0 <= smoothing < 1:
            reader.error(
                f"expected a number from 0 to below 1, received {smoothing}",
                fields["label_smoothing"],
                "label_smoothing",
            )
        values["label_smoothing"] = smoothing or 0.0
    if "metrics" in fields:
        metrics = fields["metrics"]
        if metrics.is_sequence and all(isinstance(item.value, str) for item in metrics.value):
            values["metrics"] = tuple(item.value for item in metrics.value)
        else:
            reader.error(
                f"expected a list of metric names, received {describe(metrics)}",
                metrics,
                "metrics",
                "Write e.g. 'metrics: [accuracy, top5]'.",
            )
    for key in ("batch_size", "epochs"):
        if key in fields:
            values[key] = reader.integer(fields[key], key) or getattr(TrainSettings, key)
    if "seed" in fields:
        values["seed"] = reader.integer(fields["seed"], "seed", minimum=0) or 0
    if "validation_split" in fields:
        values["validation_split"] = _read_split(reader, fields["validation_split"])
    if "monitor" in fields:
        monitor = fields["monitor"]
        if isinstance(monitor.value, str):
            values["monitor"] = monitor.value
        else:
            reader.error(
                f"expected a metric name such as val_accuracy, received {describe(monitor)}",
                monitor,
                "monitor",
            )
    _read_recipe_extras(reader, fields, values)
    values = {key: value for key, value in values.items() if value is not None}
    locations = {key: child.location for key, child in fields.items()}
    if "metrics" in values:
        for index, item in enumerate(fields["metrics"].value):
            locations[f"metrics[{index}]"] = item.location
    if "target" in values:
        locations[f"target.{values['target'][0]}"] = fields["target"].key_location(
            values["target"][0]
        )
    return TrainSettings(**values, locations=locations)


def _read_recipe_extras(reader: _Reader, fields: dict[str, Node], values: dict[str, Any]) -> None:
    """The fast-training settings: no_decay, batchnorm_momentum, ema, early_dropout, tta,
    target."""
    if "no_decay" in fields:
        node = fields["no_decay"]
        items = node.value if node.is_sequence else None
        if items is None or not all(item.value in NO_DECAY_KINDS for item in items):
            reader.error(
                f"expected a list drawn from {', '.join(NO_DECAY_KINDS)}, received {describe(node)}",
                node,
                "no_decay",
                "Write 'no_decay: [normalization, bias]' (the default), or 'no_decay: []' to decay "
                "every weight.",
            )
        else:
            values["no_decay"] = tuple(item.value for item in items)
    for key in ("batchnorm_momentum", "ema"):
        if key in fields:
            number = reader.number(fields[key], key)
            if number is not None and not 0 < number < 1:
                reader.error(
                    f"expected a momentum between 0 and 1 (such as 0.9), received {number}",
                    fields[key],
                    key,
                )
                number = None
            values[key] = number
    if "early_dropout" in fields:
        node = fields["early_dropout"]
        number = reader.number(node, "early_dropout")
        if number is not None and not 0 < number <= 1:
            reader.error(
                f"expected the fraction of the epochs that keep dropout on, above 0 and at most 1, "
                f"received {number}",
                node,
                "early_dropout",
                "Write e.g. 'early_dropout: 0.5' for dropout in the first half of the epochs only.",
            )
            number = None
        values["early_dropout"] = number
    if "tta" in fields:
        node = fields["tta"]
        if node.value in TTA_KINDS:
            values["tta"] = node.value
        elif node.value is not None:
            reader.error(
                f"expected {' or '.join(TTA_KINDS)}, received {describe(node)}",
                node,
                "tta",
                "Write 'tta: flip' to also report validation accuracy averaged over each image "
                "and its mirror.",
            )
    if "target" in fields:
        node = fields["target"]
        if node.is_mapping and len(node.value) == 1:
            ((metric, value),) = node.value.items()
            number = reader.number(value, f"target.{metric}")
            if number is not None:
                values["target"] = (metric, number)
        else:
            reader.error(
                f"expected one metric and the value to stop at, received {describe(node)}",
                node,
                "target",
                "Write e.g. 'target: {val_accuracy: 0.83}'.",
            )


def _read_split(reader: _Reader, node: Node) -> float | int:
    value = node.value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, float) and 0 <= value < 1:
        return value
    reader.error(
        f"expected a fraction below 1 (0.1) or a number of samples (5000), received {describe(node)}",
        node,
        "validation_split",
    )
    return TrainSettings.validation_split


def read_data(node: Node | None, errors: ErrorCollector) -> DataSettings:
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
    values: dict[str, Any] = {}
    if "source" in fields:
        if isinstance(fields["source"].value, str):
            values["source"] = fields["source"].value
        else:
            reader.error(
                f"expected a dataset name or a path, received {describe(fields['source'])}",
                fields["source"],
                "source",
            )
    if "on_bad_image" in fields:
        choice = fields["on_bad_image"].value
        if choice in BAD_IMAGE_CHOICES:
            values["on_bad_image"] = choice
        else:
            reader.error(
                f"expected 'error' or 'skip', received {describe(fields['on_bad_image'])}",
                fields["on_bad_image"],
                "on_bad_image",
                did_you_mean(choice, BAD_IMAGE_CHOICES) if isinstance(choice, str) else None,
            )
    if "resize" in fields:
        if isinstance(fields["resize"].value, bool):
            values["resize"] = fields["resize"].value
        else:
            reader.error(
                f"expected true or false, received {describe(fields['resize'])}",
                fields["resize"],
                "resize",
            )
    locations = {key: child.location for key, child in fields.items()}
    if "normalize" in fields:
        values["normalize"], normalize_fields = _read_normalize(fields["normalize"], errors)
        locations.update(
            {f"normalize.{key}": node.location for key, node in normalize_fields.items()}
        )
    return DataSettings(**values, locations=locations)


def _read_normalize(node: Node, errors: ErrorCollector) -> tuple[Normalize, dict[str, Node]]:
    reader = _Reader(errors, "data.normalize")
    fields = reader.mapping(node, NORMALIZE_FIELDS)
    values: dict[str, Any] = {}
    for key in ("scale", "offset"):
        if key in fields:
            number = reader.number(fields[key], key)
            if number is not None:
                values[key] = number
    for key in ("mean", "std"):
        if key in fields:
            child = fields[key]
            items = child.value if child.is_sequence else (child,)
            numbers = [item.value for item in items]
            if not numbers or not all(
                isinstance(n, int | float) and not isinstance(n, bool) for n in numbers
            ):
                reader.error(
                    f"expected a number or a list of numbers (one per channel), received {describe(child)}",
                    child,
                    key,
                )
                continue
            if key == "std" and any(n <= 0 for n in numbers):
                bad = next(item for item in items if item.value <= 0)
                reader.error(
                    f"standard deviations must be positive, received {describe(bad)}", bad, key
                )
                continue
            values[key] = tuple(float(n) for n in numbers)
    return Normalize(**values), fields


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
