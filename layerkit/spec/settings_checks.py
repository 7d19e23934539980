"""Checking ``train:`` and ``data:`` settings against the catalog, each other and the model's input.

Takes the settings :mod:`layerkit.spec.settings_reader` read, the model's input shape and the
settings catalog (:mod:`layerkit.catalog.training`); gives every problem found, each a
:class:`SpecError` at its place in the spec. Part of validation, so still without TensorFlow:
optimizer, loss, schedule and metric names and their arguments, ``target`` and ``monitor`` against
what the run will log, and the settings that depend on the model's input (``tta``,
``data.normalize``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from ..catalog.arguments import accepts, kinds_text, type_fix
from ..catalog.training import (
    OLD_ARGUMENTS,
    Entry,
    SettingsCatalog,
    UnknownNameError,
    default_catalog,
    metric_name,
)
from ..errors import Location, SpecError, did_you_mean
from .settings import Choice, DataSettings, TrainSettings
from .yaml_source import describe, written

if TYPE_CHECKING:
    from ..tuning.search_space import SearchSpace


def check_settings(
    train: TrainSettings,
    data: DataSettings,
    input_shape: tuple[int | None, ...] | None,
    catalog: SettingsCatalog | None = None,
    search: SearchSpace | None = None,
    channels_first: bool = False,
) -> list[SpecError]:
    """Check every name ``train:`` writes, and the settings that depend on others.

    Optimizer, loss and schedule names, and their arguments' names and simple types, are checked
    against the settings catalog (:mod:`layerkit.catalog.training`); metric names against the
    metrics layerkit makes; ``target`` and ``monitor`` against the names the run's history will
    have (and ``search:``'s ``metric`` and ``direction``); ``tta`` and ``data.normalize`` against
    the model's input shape (None when the model has several inputs), whose channels come first
    where ``channels_first`` (a layer of the model has that data_format).

    Returns:
        Every problem found, each at its place in the spec; empty when there is none.
    """
    checker = _Checker(catalog or default_catalog())
    checker.check_train(train, input_shape, search)
    checker.check_data(data, input_shape, channels_first)
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
# Plateau arguments that would never lower the rate, raise it, or count epochs backwards.
PLATEAU_RANGES: dict[str, tuple[Callable[[float], bool], str]] = {
    "factor": (lambda value: 0 < value < 1, "what the rate is multiplied by, above 0 and below 1"),
    "patience": (lambda value: value >= 1, "a number of epochs of at least 1"),
    "min_delta": (lambda value: value >= 0, "at least 0"),
    "min_lr": (lambda value: value >= 0, "at least 0"),
    "cooldown": (lambda value: value >= 0, "a number of epochs of at least 0"),
}
# Cosine arguments that would warm up for a negative time or end above (or below) the rate.
COSINE_RANGES: dict[str, tuple[Callable[[float], bool], str]] = {
    "warmup_epochs": (lambda value: value >= 0, "a number of epochs of at least 0"),
    "final_fraction": (
        lambda value: 0 <= value <= 1,
        "the fraction of the rate it ends at, 0 to 1",
    ),
}
_RANGES = {"one_cycle": ONE_CYCLE_RANGES, "plateau": PLATEAU_RANGES, "cosine": COSINE_RANGES}
_EXAMPLES = {
    "one_cycle": "Write e.g. 'one_cycle: {warmup: 0.25, div: 20, final_div: 200}'.",
    "plateau": "Write e.g. 'plateau: {factor: 0.5, patience: 2}'.",
    "cosine": "Write e.g. 'cosine: {warmup_epochs: 2, final_fraction: 0.01}'.",
}
_STEP_EXAMPLE = "Write e.g. 'step: {boundaries: [30, 60], values: [0.1, 0.01, 0.001]}'."


class _Checker:
    def __init__(self, catalog: SettingsCatalog) -> None:
        self.catalog = catalog
        self.errors: list[SpecError] = []

    def error(self, message: str, location: Location, path: str, fix: str | None = None) -> None:
        self.errors.append(SpecError(message, location, path, fix))

    def check_train(self, train: TrainSettings, input_shape: tuple[int | None, ...] | None,
                    search: SearchSpace | None = None) -> None:  # fmt: skip
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
            if search is not None:
                self.search_metric(train, metrics, search)
        if train.tta == "flip" and input_shape is not None and len(input_shape) not in (2, 3):
            self.error(
                f"tta: flip mirrors images, but the input is {list(input_shape)}, not "
                "[height, width] or [height, width, channels]",
                _where(train.locations, "tta"),
                "train.tta",
                "Remove 'tta: flip' for inputs that are not images.",
            )
        self.tta_translate(train, input_shape)

    def tta_translate(self, train: TrainSettings, shape: tuple[int | None, ...] | None) -> None:
        """``tta_translate`` shifts the views ``tta: flip`` averages, by fewer pixels than the
        images have."""
        if not train.tta_translate:
            return
        where, path = _where(train.locations, "tta_translate"), "train.tta_translate"
        if train.tta != "flip":
            self.error(
                "tta_translate shifts the views that flip TTA averages, but tta is off", where,
                path, "Add 'tta: flip', or remove tta_translate.",
            )  # fmt: skip
            return
        images = shape is not None and len(shape) in (2, 3)  # else tta: flip is refused already
        sizes = [size for size in shape[:2] if size is not None] if images and shape else []
        if sizes and train.tta_translate >= min(sizes):
            self.error(
                f"tta_translate {train.tta_translate} shifts the images by at least their size "
                f"({list(shape)})", where, path, "Write e.g. 'tta_translate: 2'.",
            )  # fmt: skip

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
            elif (infinite := _not_finite(value)) is not None:
                self.error(
                    f"argument '{name}' of {entry.label} must be a finite number, received "
                    f"{written(infinite)}" + (" in it" if isinstance(value, list) else ""),
                    choice.value_locations.get(name, key_location),
                    arg_path,
                    "Write a finite number: YAML reads .inf and .nan as infinity and not a number.",
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
        """What a schedule's arguments must be beyond their types: the ranges one_cycle and
        plateau need, and a step schedule's boundaries and rates, which must fit together."""
        path = f"train.schedule.{choice.name}"
        for name, (fits, expected) in _RANGES.get(choice.name, {}).items():
            value = choice.args.get(name)
            if _is_number(value) and math.isfinite(value) and not fits(value):
                self.error(
                    f"schedule '{choice.name}': {name} must be {expected}, received "
                    f"{written(value)}",
                    _where(choice.value_locations, name, choice.location),
                    f"{path}.{name}",
                    _EXAMPLES[choice.name],
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
                    _STEP_EXAMPLE,
                )
                continue
            if _not_finite(items) is not None:
                continue  # said with the arguments
            negative = next((item for item in items if item < 0), None)
            if negative is not None:
                what = "epochs" if name == "boundaries" else "learning rates"
                self.error(
                    f"{name} of schedule 'step' must be {what} of at least 0, received "
                    f"{written(negative)} in it",
                    _where(choice.value_locations, name, choice.location),
                    f"{path}.{name}",
                    _STEP_EXAMPLE,
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
        names: dict[str, str] = {}  # logged name → as first spelled
        known = True
        for index, spelled in enumerate(train.metrics):
            location = _where(train.locations, f"metrics[{index}]", "metrics")
            path = f"train.metrics[{index}]"
            try:
                name = metric_name(spelled)
            except UnknownNameError as unknown:
                self.error(f"unknown metric '{spelled}'", location, path, unknown.hint)
                known = False
                continue
            if name in names:
                first = f" (first as '{names[name]}')" if names[name] != spelled else ""
                self.error(f"metric '{name}' is listed twice{first}", location, path,
                           "List each metric once.")  # fmt: skip
            else:
                names[name] = spelled
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

    def search_metric(self, train: TrainSettings, metrics: list[str], search: SearchSpace) -> None:
        """``search.metric`` names what the run logs; ``search.direction`` does not maximise a
        loss or minimise anything else (a tune that did picked the worst trial as best)."""
        measured = ["loss", *metrics]
        names = [*measured, *(f"val_{name}" for name in measured)]
        metric = search.metric or train.monitor
        if search.metric is not None and metric not in names:
            self.error(
                f"search.metric names '{metric}', which this run does not measure",
                search.locations["metric"],
                "search.metric",
                did_you_mean(metric, names) or f"Use one of: {', '.join(names)}.",
            )
        elif search.direction is not None:
            natural = "minimize" if "loss" in metric else "maximize"
            if search.direction != natural:
                self.error(
                    f"{search.direction} would take the trial with the "
                    f"{'highest' if natural == 'minimize' else 'lowest'} {metric} as the best",
                    search.locations["direction"],
                    "search.direction",
                    f"Remove direction ({metric} is {natural}d), or write 'direction: {natural}'.",
                )

    def check_data(self, data: DataSettings, input_shape: tuple[int | None, ...] | None,
                   channels_first: bool) -> None:  # fmt: skip
        """``mean`` and ``std`` give one value for all channels or one per channel."""
        channels = input_shape[0 if channels_first else -1] if input_shape else None
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


def _not_finite(value: Any) -> float | None:
    """The first nan or infinity in an argument's value (a number or a list of them), or None."""
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, float) and not math.isfinite(item):
            return item
    return None


def _where(locations: dict[str, Location], *keys: str | Location) -> Location:
    """The location of the first of ``keys`` that has one (a Location is its own); settings made
    in Python rather than read from a file have none, and are reported as ``<defaults>``."""
    for key in keys:
        if isinstance(key, Location):
            return key
        if key in locations:
            return locations[key]
    return Location("<defaults>", 1, 1)
