"""The ``train:`` and ``data:`` sections of a spec, read into plain settings with their places.

Structure and simple types are checked here, when the spec is loaded (no TensorFlow). Names of
optimizers, schedules, losses and metrics are resolved by :mod:`layerkit.recipe` when training
starts, against what Keras has, and reported at these same places.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import ErrorCollector, Location, SpecError, did_you_mean
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


@dataclass(frozen=True)
class Choice:
    """A named thing with arguments, written ``adam`` or ``{adam: {learning_rate: 0.001}}``."""

    name: str
    args: dict[str, Any]
    location: Location


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
                return Choice(name, args.plain(), node.key_location(name))
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
        if choice in ("error", "skip"):
            values["on_bad_image"] = choice
        else:
            reader.error(
                f"expected 'error' or 'skip', received {describe(fields['on_bad_image'])}",
                fields["on_bad_image"],
                "on_bad_image",
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
    if "normalize" in fields:
        values["normalize"] = _read_normalize(fields["normalize"], errors)
    locations = {key: child.location for key, child in fields.items()}
    return DataSettings(**values, locations=locations)


def _read_normalize(node: Node, errors: ErrorCollector) -> Normalize:
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
                reader.error("standard deviations must be positive", child, key)
                continue
            values[key] = tuple(float(n) for n in numbers)
    return Normalize(**values)
