"""What a spec's ``train:`` section may name: optimizers, losses, schedules and metrics.

Two sources behind one lookup, as for layers (:mod:`layerkit.catalog.layers`):

* the **catalog** (``keras_training.json`` beside this file) lists every ``keras.optimizers`` and
  ``keras.losses`` class a spec can name, with its constructor arguments, defaults and simple
  types. It is generated from Keras by introspection (``python -m layerkit.catalog.training``) and
  read as plain JSON, so ``layerkit validate`` checks ``train:`` without importing TensorFlow; a
  test keeps it equal to the installed Keras;
* **layerkit's own** names, declared here: the learning-rate schedules and metrics
  :mod:`layerkit.training.recipe` makes, the loss names it reads as another loss, the classes a spec cannot
  name, and the arguments layerkit supplies itself from other ``train:`` settings.

A name written in a spec is only ever compared with these tables; it is never imported.
"""

from __future__ import annotations

import inspect
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import did_you_mean
from ..spec.document import MAX_ARGUMENT_INT
from .arguments import ArgInfo, arg_from_json, arg_to_json
from .introspect import introspect
from .layers import lookup_key, to_snake_case

CATALOG_PATH = Path(__file__).with_name("keras_training.json")

# Classes a spec cannot name, and why (the reason is shown to the user).
EXCLUDED: dict[str, dict[str, str]] = {
    "optimizer": {
        "LossScaleOptimizer": "layerkit wraps the optimizer in it itself under mixed precision "
        "(--precision)",
        "MultiOptimizer": "it takes optimizer objects, one per group of layers",
    },
    "loss": {},
}
# Loss names layerkit reads as another loss: labels reach the loss one-hot, so the sparse
# cross-entropy is the categorical one (see recipe.make_loss).
LOSS_ALIASES: dict[str, str] = {
    "crossentropy": "CategoricalCrossentropy",
    "sparse_categorical_crossentropy": "CategoricalCrossentropy",
}
# Arguments layerkit gives the class itself, from another train: setting: (that setting, the fix).
SUPPLIED: dict[str, dict[str, tuple[str, str]]] = {
    "optimizer": {
        "use_ema": ("train.ema", "Write e.g. 'ema: 0.99' under train: instead."),
        "ema_momentum": ("train.ema", "Write e.g. 'ema: 0.99' under train: instead."),
    },
    "loss": {
        "label_smoothing": (
            "train.label_smoothing",
            "Write e.g. 'label_smoothing: 0.1' under train: instead.",
        ),
    },
    "schedule": {
        "total_steps": ("train.epochs", "The schedule spans train.epochs; set those instead."),
    },
}
# Names from older Keras that difflib would not connect with their successors.
OLD_ARGUMENTS: dict[str, str] = {"lr": "learning_rate"}


def _number(name: str, default: Any = None, required: bool = False) -> ArgInfo:
    return ArgInfo(name, required, default, ("int", "float"))


# The learning-rate schedules optimizers.make_schedule makes, by the name a spec writes (exactly),
# with the arguments it reads; one_cycle's are OneCycle's (a test keeps them equal).
SCHEDULES: dict[str, dict[str, ArgInfo]] = {
    "constant": {},
    "step": {
        "boundaries": ArgInfo("boundaries", True, None, ("list",)),  # epochs
        "values": ArgInfo("values", True, None, ("list",)),  # one more rate than boundaries
    },
    "cosine": {
        "warmup_epochs": _number("warmup_epochs", 0),
        "final_fraction": _number("final_fraction", 0.0),
    },
    "one_cycle": {
        "max_lr": _number("max_lr"),  # the optimizer's learning_rate when absent
        "warmup": _number("warmup", 0.3),
        "div": _number("div", 25.0),
        "final_div": _number("final_div", 1e4),
    },
    # the rate times factor after patience epochs without an improvement of train.monitor
    # (training.control, as keras.callbacks.ReduceLROnPlateau counts)
    "plateau": {
        "factor": _number("factor", 0.5),
        "patience": ArgInfo("patience", False, 2, ("int",)),
        "min_delta": _number("min_delta", 0.0),
        "min_lr": _number("min_lr", 0.0),
        "cooldown": ArgInfo("cooldown", False, 0, ("int",)),
    },
}
# The metrics recipe.make_metrics makes: lookup key → the name the history logs; plus topK.
METRICS: dict[str, str] = {"accuracy": "accuracy", "acc": "accuracy"}
TOP_K = re.compile(r"top([0-9]+)")


@dataclass(frozen=True)
class Entry:
    """One thing ``train:`` can name, and the arguments a spec may give it.

    ``supplied`` maps each argument layerkit sets itself to the setting that sets it and a fix.
    """

    kind: str  # "optimizer", "loss" or "schedule"
    name: str  # the class name, or the schedule's name
    args: dict[str, ArgInfo]
    supplied: dict[str, tuple[str, str]] = field(default_factory=dict)
    alias_of: str | None = None  # the name as written, when layerkit reads it as this entry

    @property
    def label(self) -> str:
        """How messages name it: ``optimizer Adam``, ``schedule 'one_cycle'``."""
        return f"schedule '{self.name}'" if self.kind == "schedule" else f"{self.kind} {self.name}"


class UnknownNameError(LookupError):
    """A name the catalog does not have; ``hint`` says what to write instead."""

    def __init__(self, kind: str, name: str, hint: str) -> None:
        self.kind = kind
        self.name = name
        self.hint = hint
        super().__init__(f"unknown {kind} '{name}'. {hint}")


# ---------------------------------------------------------------------------------------------
# Introspection (imports Keras; used to write the catalog)


def _classes(module: Any, base: type, kind: str) -> dict[str, Any]:
    names: dict[str, str] = {}
    classes: dict[str, Any] = {}
    for attribute in sorted(dir(module)):
        cls = getattr(module, attribute)
        if not (inspect.isclass(cls) and issubclass(cls, base)) or cls is base:
            continue
        if attribute in EXCLUDED[kind] or cls.__name__ in EXCLUDED[kind]:
            continue
        names[attribute] = cls.__name__
        if cls.__name__ not in classes:
            args = [_plain_kinds(arg) for arg in introspect(cls).args.values()]
            classes[cls.__name__] = {"args": [arg_to_json(arg) for arg in args]}
    return {"names": names, "classes": classes}


def _plain_kinds(arg: ArgInfo) -> ArgInfo:
    """A text default here is a name (a reduction, a loss's name), never the ``{class_name,
    config}`` mapping a layer's initializer may also be."""
    if arg.kinds == ("str", "map", "null"):
        return ArgInfo(arg.name, arg.required, arg.default, ("str", "null"))
    return arg


def generate_catalog() -> dict[str, Any]:
    """Describe every optimizer and loss class a spec can name, as written to
    ``keras_training.json``."""
    import keras

    return {
        "keras_version": keras.__version__,
        "optimizers": _classes(keras.optimizers, keras.optimizers.Optimizer, "optimizer"),
        "losses": _classes(keras.losses, keras.losses.Loss, "loss"),
    }


# ---------------------------------------------------------------------------------------------
# The catalog


class SettingsCatalog:
    """Resolves the names a ``train:`` section writes to :class:`Entry` objects."""

    def __init__(self, catalog: dict[str, Any]) -> None:
        self.keras_version: str = catalog["keras_version"]
        self._entries: dict[str, dict[str, Entry]] = {}
        self._keys: dict[str, dict[str, str]] = {}
        for kind, section in (("optimizer", "optimizers"), ("loss", "losses")):
            entries = {
                class_name: Entry(
                    kind,
                    class_name,
                    {arg.name: arg for arg in map(arg_from_json, entry["args"])},
                    SUPPLIED[kind],
                )
                for class_name, entry in catalog[section]["classes"].items()
            }
            keys: dict[str, str] = {}
            for attribute, class_name in catalog[section]["names"].items():
                keys.setdefault(lookup_key(attribute), class_name)
                keys.setdefault(lookup_key(class_name), class_name)
            self._entries[kind] = entries
            self._keys[kind] = keys

    def names(self, kind: str) -> list[str]:
        """The class names of ``kind`` (``optimizer`` or ``loss``) a spec can use."""
        return sorted(self._entries[kind])

    def spellings(self, kind: str) -> list[str]:
        """Every spelling of every name of ``kind``, for suggestions and the JSON Schema: the class
        name, its snake_case and lower-case forms (``AdamW``, ``adam_w``, ``adamw``), the aliases;
        schedules by their exact names."""
        if kind == "schedule":
            return list(SCHEDULES)
        found = set()
        for class_name in self._entries[kind]:
            found.update((class_name, to_snake_case(class_name), class_name.lower()))
        if kind == "loss":
            found.update(LOSS_ALIASES)
        return sorted(found)

    def spellings_of(self, kind: str, class_name: str) -> list[str]:
        """The spellings of one class (see :meth:`spellings`)."""
        names = {class_name, to_snake_case(class_name), class_name.lower()}
        if kind == "loss":
            names.update(alias for alias, target in LOSS_ALIASES.items() if target == class_name)
        return sorted(names)

    def resolve(self, kind: str, name: str) -> Entry:
        """The entry for a name of ``kind`` (``optimizer``, ``loss`` or ``schedule``) as a spec
        writes it: optimizers and losses in any spelling of their class name, schedules exactly.

        Raises:
            UnknownNameError: for a name nothing of that kind has, with a suggestion or the reason
                it is refused.
        """
        if kind == "schedule":
            if name in SCHEDULES:
                return Entry(kind, name, SCHEDULES[name], SUPPLIED["schedule"])
            hint = did_you_mean(name, SCHEDULES) or f"Use one of: {', '.join(SCHEDULES)}."
            raise UnknownNameError(kind, name, hint)
        key = lookup_key(name)
        if kind == "loss":
            alias = {lookup_key(alias): target for alias, target in LOSS_ALIASES.items()}.get(key)
            if alias is not None:
                entry = self._entries[kind][alias]
                return Entry(kind, alias, entry.args, entry.supplied, alias_of=name)
        class_name = self._keys[kind].get(key)
        if class_name is not None:
            return self._entries[kind][class_name]
        for excluded, reason in EXCLUDED[kind].items():
            if lookup_key(excluded) == key:
                raise UnknownNameError(
                    kind, name, f"{excluded} cannot be named in a spec: {reason}."
                )
        hint = did_you_mean(name, self.spellings(kind)) or (
            "Use a keras.optimizers class name, such as adam or sgd."
            if kind == "optimizer"
            else "Use a keras.losses class name, such as categorical_crossentropy."
        )
        raise UnknownNameError(kind, name, hint)


def metric_name(name: str) -> str:
    """The name the history logs for a metric as a spec writes it: ``acc`` → ``accuracy``,
    ``top_5`` → ``top5``.

    Raises:
        UnknownNameError: for a metric layerkit does not make.
    """
    key = lookup_key(name)
    if key in METRICS:
        return METRICS[key]
    top = TOP_K.fullmatch(key)
    if top and 1 <= int(top.group(1)) <= MAX_ARGUMENT_INT:
        return f"top{int(top.group(1))}"
    if top:
        raise UnknownNameError(
            "metric", name, f"Use topK with K from 1 to {MAX_ARGUMENT_INT:,}, such as top5."
        )
    hint = did_you_mean(name, [*METRICS, "top5"]) or "Use accuracy or topK (e.g. top5)."
    raise UnknownNameError("metric", name, hint)


@cache
def default_catalog() -> SettingsCatalog:
    """The process-wide catalog, read from ``keras_training.json`` on first use."""
    return SettingsCatalog(json.loads(CATALOG_PATH.read_text(encoding="utf-8")))


def main() -> None:
    """Regenerate the catalog from the installed Keras: ``python -m layerkit.catalog.training``."""
    catalog = generate_catalog()
    CATALOG_PATH.write_text(json.dumps(catalog, indent=1) + "\n", encoding="utf-8")
    counts = ", ".join(
        f"{len(catalog[section]['classes'])} {section}" for section in ("optimizers", "losses")
    )
    print(f"wrote {CATALOG_PATH} ({counts}, Keras {catalog['keras_version']})")


if __name__ == "__main__":
    main()
