"""The ``train:`` and ``data:`` settings of a spec, declared once: plain frozen dataclasses.

Takes nothing; gives the declaration the rest of layerkit follows. Each setting is declared once, on
its field of :class:`TrainSettings` or :class:`DataSettings`: its kind, default, range or choices
and one line of help (a :class:`Setting`, as Ludwig declares its config fields). From it
:mod:`layerkit.spec.settings_reader` and :mod:`layerkit.spec.data_settings_reader` read a spec's
``train:`` and ``data:`` sections, :mod:`layerkit.spec.schema` makes the JSON Schema's ``train:`` and ``data:``, and
``tests/test_settings_declaration.py`` checks the tables of docs/training.md.
:mod:`layerkit.spec.settings_checks` checks, as part of validation, what depends on the catalog,
on other settings and on the model's input; :mod:`layerkit.training.recipe` makes the Keras
objects when training starts.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import Location

NO_DECAY_KINDS = ("normalization", "bias")  # weights that weight_decay can leave alone
# the groups of weights train.lr_scale can give a learning rate of their own
LR_GROUPS = ("kernel", "bias", "normalization_scale", "normalization_bias")
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
        """Whether a number lies in the declared range; a ranged number is also finite (inf
        passes an open-ended range, nan passes none)."""
        ranged = any(getattr(self, name) is not None for name in _RANGE)
        return (
            (not ranged or math.isfinite(value))
            and (self.minimum is None or value >= self.minimum)
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
class EarlyStopping:
    """``train.early_stopping``: end the run once ``patience`` epochs in a row have not improved
    the monitored metric (``train.monitor``) by more than ``min_delta``."""

    patience: int
    min_delta: float = 0.0


# The settings of train.early_stopping, read as the simple train: settings are.
EARLY_STOPPING_SETTINGS = (
    Setting("patience", "integer", None, "epochs without an improvement before the run stops",
            minimum=1),
    Setting("min_delta", "number", 0.0, "the least change that counts as an improvement",
            minimum=0, expected="a number of at least 0"),
)  # fmt: skip


@dataclass(frozen=True)
class Lookahead:
    """``train.lookahead``: every ``every`` optimizer steps the slow weights move ``alpha`` of the
    way to the weights the optimizer trains (the fast ones), which are then set to them (Zhang et
    al., 2019). With ``ramp`` above 0 the fraction falls from 1 at the run's first step to
    ``alpha`` at its last, as ``1 − (1 − alpha)·(step / steps)^ramp`` (airbench's schedule:
    ``alpha: 0.226, ramp: 3``)."""

    every: int = 5
    alpha: float = 0.5
    ramp: float = 0.0

    def fraction(self, step: int, steps: int) -> float:
        """How far the slow weights move at optimizer step ``step`` of a run of ``steps``."""
        if not self.ramp:
            return self.alpha
        progress = min(1.0, step / max(1, steps))
        return 1.0 - (1.0 - self.alpha) * progress**self.ramp


# The settings of train.lookahead, read as the simple train: settings are.
LOOKAHEAD_SETTINGS = (
    Setting("every", "integer", 5, "optimizer steps between two updates of the slow weights",
            minimum=1),
    Setting("alpha", "number", 0.5, "how far the slow weights move towards the fast ones",
            exclusive_minimum=0, maximum=1, expected="a fraction above 0 and at most 1",
            fix="Write e.g. 'lookahead: {every: 5, alpha: 0.5}'."),
    Setting("ramp", "number", 0.0, "0: alpha throughout; above 0: the fraction falls from 1 at "
            "the first step to alpha at the last as (step / steps)^ramp",
            minimum=0, maximum=10, expected="a number from 0 to 10",
            fix="Write e.g. 'lookahead: {every: 5, alpha: 0.226, ramp: 3}' (airbench's)."),
)  # fmt: skip


@dataclass(frozen=True)
class Init:
    """``train.init``: how a new run initialises the model's plain convolutions (``conv2d``)
    beyond Keras's initialisers: the first from patch-whitening of the training images
    (``whiten``), the others as identities (``dirac``)."""

    dirac: bool = False
    whiten: bool = False
    whiten_eps: float = 5e-4


# The settings of train.init, read as the simple train: settings are.
INIT_SETTINGS = (
    Setting("dirac", "boolean", False, "each conv2d (but a whitened one) starts as the identity "
            "on its first channels"),
    Setting("whiten", "boolean", False, "the first conv2d starts as the whitening of the "
            "training images' patches"),
    Setting("whiten_eps", "number", 5e-4, "added to each eigenvalue before whitening",
            exclusive_minimum=0, expected="a number above 0 (such as 0.0005)"),
)  # fmt: skip


@dataclass(frozen=True)
class TrainSettings:
    """How to train: every field has a default, so a spec without ``train:`` can be trained."""

    # fmt: off
    optimizer: Choice | None = field(default=None, metadata=_setting(
        "structured", "a keras.optimizers class by name, with its arguments; "
        "Adam with Keras's defaults when unset", shown="`adam`"))
    schedule: Choice | None = field(default=None, metadata=_setting(
        "structured", "the learning rate over training: constant, step, cosine, one_cycle "
        "or plateau, with its arguments", shown="`constant`"))
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
    tta_translate: int = field(default=0, metadata=_setting(
        "integer", "with tta: flip, also average over each image shifted this many pixels both "
        "ways along the diagonal (0: off)", minimum=0))
    target: tuple[str, float] | None = field(default=None, metadata=_setting(
        "structured", "stop once this metric reaches this value: {val_accuracy: 0.83}"))
    early_stopping: EarlyStopping | None = field(default=None, metadata=_setting(
        "structured", "stop after patience epochs in which the monitor did not improve by more "
        "than min_delta: {patience: 5, min_delta: 0.001}", shown="off"))
    lookahead: Lookahead | None = field(default=None, metadata=_setting(
        "structured", "Lookahead on top of the optimizer: every `every` steps the slow weights "
        "move `alpha` of the way to the trained ones, which restart from them: "
        "{every: 5, alpha: 0.5}", shown="off"))
    lr_scale: tuple[tuple[str, float], ...] = field(default=(), metadata=_setting(
        "structured", "the learning rate of a group of weights times a factor: "
        "{normalization_bias: 64}; groups: kernel, bias, normalization_scale, "
        "normalization_bias", shown="none"))
    init: Init | None = field(default=None, metadata=_setting(
        "structured", "a new run's conv2d weights: {dirac: true, whiten: true} (identities; the "
        "first from patch-whitening of the training images)", shown="Keras's"))
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


def other_section(key: str, section: str) -> str | None:
    """The section, ``train`` or ``data``, that declares ``key`` when it is written where it is
    unknown (at the top level, ``section`` "", or in the other section); None for a misspelling."""
    for name, fields in (("train", TRAIN_FIELDS), ("data", DATA_FIELDS)):
        if section in ("", "train", "data") and name != section and key in fields:
            return name
    return None


def misplaced(key: str, section: str) -> tuple[str, str] | None:
    """What an error for ``key``, unknown in ``section`` but a setting of another, adds to its
    message, and its fix; None when it is no setting."""
    other = other_section(key, section)
    if other is None:
        return None
    return f"; '{key}' is a {other}: setting", f"Move it under {other}:."
