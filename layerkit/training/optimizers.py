"""The optimizer a spec's ``train:`` settings name, with its learning-rate schedule.

Takes :class:`~layerkit.spec.settings.TrainSettings` and the steps an epoch has; gives a Keras
optimizer (any class of ``keras.optimizers``, by CamelCase or snake_case name) whose learning
rate follows ``train.schedule`` (constant, step, cosine, one_cycle; plateau's rate is a constant
that :class:`~layerkit.training.control.Control` lowers between epochs), with ``train.ema``
switched on. Also keeps weight decay off the weights ``no_decay`` names, scales the rate of the
groups of weights ``lr_scale`` names, and reads the rate in use. An unknown name or a bad argument is a SpecError at its line in the spec.
"""

from __future__ import annotations

import math
from typing import Any

import keras

from ..catalog.training import SCHEDULES as SCHEDULE_ARGUMENTS
from ..errors import SpecError, did_you_mean
from ..spec.settings import Choice, TrainSettings
from .recipe import default_location, keras_classes, make_named

SCHEDULES = ("constant", "step", "cosine", "one_cycle", "plateau")
PLATEAU_ARGUMENTS = tuple(SCHEDULE_ARGUMENTS["plateau"])


@keras.saving.register_keras_serializable(package="layerkit")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """One-cycle learning rate (Smith & Topin, 2017): a linear rise from ``max_lr / div`` to
    ``max_lr`` over the first ``warmup`` fraction of the steps, then a linear fall to
    ``max_lr / final_div`` at the last step."""

    def __init__(self, max_lr: float, total_steps: int, warmup: float = 0.3, div: float = 25.0,
                 final_div: float = 1e4) -> None:  # fmt: skip
        self.max_lr = max_lr
        self.total_steps = total_steps
        self.warmup = warmup
        self.div = div
        self.final_div = final_div

    def __call__(self, step: Any) -> Any:
        step = keras.ops.cast(step, "float32")
        peak = max(1.0, self.warmup * self.total_steps)
        start, end = self.max_lr / self.div, self.max_lr / self.final_div
        rising = start + (self.max_lr - start) * step / peak
        progress = keras.ops.minimum(1.0, (step - peak) / max(1.0, self.total_steps - peak))
        falling = self.max_lr + (end - self.max_lr) * progress
        return keras.ops.where(step < peak, rising, falling)

    def get_config(self) -> dict[str, Any]:
        return {
            "max_lr": self.max_lr,
            "total_steps": self.total_steps,
            "warmup": self.warmup,
            "div": self.div,
            "final_div": self.final_div,
        }


def _check_one_cycle(schedule: OneCycle, choice: Choice) -> None:
    """Arguments that would divide by zero, never decay or run backwards are refused here, at the
    spec's line, rather than as a traceback from inside training."""
    problems = {
        "max_lr": (schedule.max_lr > 0, "a peak rate above 0"),
        "warmup": (
            0 <= schedule.warmup < 1,
            "the fraction of the steps spent rising, 0 to below 1",
        ),
        "div": (schedule.div > 0, "the divisor of the starting rate, above 0"),
        "final_div": (schedule.final_div > 0, "the divisor of the final rate, above 0"),
    }
    for name, (ok, expected) in problems.items():
        if not ok:
            raise SpecError(
                f"schedule 'one_cycle': {name} must be {expected}, received "
                f"{getattr(schedule, name)}",
                choice.location,
                f"train.schedule.one_cycle.{name}",
                "Write e.g. 'one_cycle: {warmup: 0.25, div: 20, final_div: 200}'.",
            )


def make_schedule(settings: TrainSettings, base_rate: float, steps_per_epoch: int) -> Any:
    """The learning rate: a float, or a schedule over optimizer steps (epochs become steps)."""
    choice = settings.schedule
    if choice is None or choice.name == "constant":
        return base_rate
    total = settings.epochs * steps_per_epoch
    args = dict(choice.args)
    path = "train.schedule"
    try:
        if choice.name == "step":
            boundaries = [int(epoch * steps_per_epoch) for epoch in args.pop("boundaries")]
            values = [float(value) for value in args.pop("values")]
            if len(values) != len(boundaries) + 1:
                raise ValueError("'values' needs one more entry than 'boundaries'")
            schedule = keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
        elif choice.name == "cosine":
            warmup = int(float(args.pop("warmup_epochs", 0)) * steps_per_epoch)
            floor = float(args.pop("final_fraction", 0.0))
            schedule = keras.optimizers.schedules.CosineDecay(
                initial_learning_rate=base_rate / 100 if warmup else base_rate,
                decay_steps=max(1, total - warmup),
                alpha=floor,
                warmup_target=base_rate if warmup else None,
                warmup_steps=warmup,
            )
        elif choice.name == "one_cycle":
            schedule = OneCycle(
                max_lr=float(args.pop("max_lr", base_rate)),
                total_steps=total,
                warmup=float(args.pop("warmup", 0.3)),
                div=float(args.pop("div", 25.0)),
                final_div=float(args.pop("final_div", 1e4)),
            )
            _check_one_cycle(schedule, choice)
        elif choice.name == "plateau":  # lowered between epochs by training.control.Control
            schedule = base_rate
            for name in PLATEAU_ARGUMENTS:
                args.pop(name, None)
        else:
            raise SpecError(
                f"unknown schedule '{choice.name}'",
                choice.location,
                path,
                did_you_mean(choice.name, SCHEDULES) or f"Use one of: {', '.join(SCHEDULES)}.",
            )
    except KeyError as missing:
        raise SpecError(
            f"schedule '{choice.name}' needs {missing}", choice.location, path
        ) from None
    except (TypeError, ValueError, OverflowError) as error:  # also checked when the spec loads
        raise SpecError(f"schedule '{choice.name}': {error}", choice.location, path) from None
    if args:
        raise SpecError(
            f"unknown argument(s) for schedule '{choice.name}': {', '.join(args)}",
            choice.location,
            path,
        )
    return schedule


def make_optimizer(settings: TrainSettings, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    choice = settings.optimizer or Choice("adam", {}, default_location())
    registry = keras_classes(keras.optimizers, keras.optimizers.Optimizer)
    args = dict(choice.args)
    base_rate = float(args.pop("learning_rate", 0.001))
    rate = make_schedule(settings, base_rate, steps_per_epoch)
    extra: dict[str, Any] = {"learning_rate": rate}
    if settings.ema is not None:
        extra.update(use_ema=True, ema_momentum=settings.ema)
    return make_named(Choice(choice.name, args, choice.location), registry, "optimizer",
                 "train.optimizer", **extra)  # fmt: skip


def unwrapped(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """The optimizer that updates the weights. Under mixed precision Keras wraps it in a
    ``LossScaleOptimizer``, which reports no ``use_ema`` or ``weight_decay`` of its own."""
    return getattr(optimizer, "inner_optimizer", optimizer)


def decay_exempt(model: keras.Model, kinds: tuple[str, ...]) -> list[Any]:
    """The weights ``no_decay`` names: every weight of a normalization layer (scale and offset)
    and every layer's bias."""
    exempt: dict[int, Any] = {}
    for layer in model._flatten_layers(include_self=False):
        if "normalization" in kinds and _is_normalization(layer):
            exempt.update((id(weight), weight) for weight in layer.trainable_weights)
        bias = getattr(layer, "bias", None)
        if "bias" in kinds and isinstance(bias, keras.Variable) and bias.trainable:
            exempt[id(bias)] = bias
    return list(exempt.values())


def _is_normalization(layer: keras.layers.Layer) -> bool:
    return isinstance(
        layer,
        keras.layers.BatchNormalization
        | keras.layers.LayerNormalization
        | keras.layers.GroupNormalization
        | keras.layers.UnitNormalization,
    ) or type(layer).__name__.endswith("Normalization")


def skip_weight_decay(optimizer: keras.optimizers.Optimizer, model: keras.Model,
                      kinds: tuple[str, ...]) -> None:  # fmt: skip
    """Keep ``optimizer``'s weight decay off the weights ``kinds`` names (see :func:`decay_exempt`).

    Keras offers ``exclude_from_weight_decay`` only before the optimizer is built, and does not
    save the choice with the model; a resumed run's optimizer comes back built, so the same three
    attributes that method sets are set directly. A mixed-precision wrapper is looked through."""
    optimizer = unwrapped(optimizer)
    if optimizer.weight_decay is None:
        return
    exempt = decay_exempt(model, kinds)
    if not optimizer.built:
        optimizer.exclude_from_weight_decay(var_list=exempt)
        return
    optimizer._exclude_from_weight_decay = {optimizer._var_key(weight) for weight in exempt}
    optimizer._exclude_from_weight_decay_pattern = None
    optimizer._exclude_from_weight_decay_cache = {}


def weight_groups(model: keras.Model) -> dict[int, tuple[str, Any]]:
    """Every trainable weight of ``model`` (by ``id``) with its group for ``train.lr_scale``:
    ``normalization_scale`` and ``normalization_bias`` (a normalization layer's gamma and beta),
    ``bias`` (any other layer's bias), ``kernel`` (every other weight)."""
    groups: dict[int, tuple[str, Any]] = {}
    for layer in model._flatten_layers(include_self=False):  # outer layers first: inner ones win
        normalization = _is_normalization(layer)
        for weight in layer.trainable_weights:
            biased = weight is getattr(layer, "beta" if normalization else "bias", None) or (
                weight.name in ("beta", "bias", "offset"))  # fmt: skip
            if normalization:
                group = "normalization_bias" if biased else "normalization_scale"
            else:
                group = "bias" if biased else "kernel"
            groups[id(weight)] = (group, weight)
    return groups


def scale_learning_rates(optimizer: keras.optimizers.Optimizer, model: keras.Model,
                         scales: tuple[tuple[str, float], ...]) -> None:  # fmt: skip
    """``train.lr_scale``: each step of a weight in a scaled group (:func:`weight_groups`) uses
    the learning rate times the group's factor, whatever the optimizer. Keras has no rate per
    weight, so the optimizer's ``update_step``, which takes the rate, is wrapped; like
    :func:`skip_weight_decay` it is set again on a resumed run's optimizer. Decoupled weight decay
    still uses the unscaled rate."""
    if not scales:
        return
    optimizer = unwrapped(optimizer)
    factors = dict(scales)
    scaled = {key: factors[group] for key, (group, _) in weight_groups(model).items()
              if group in factors}  # fmt: skip
    update = type(optimizer).update_step

    def update_step(gradient: Any, variable: Any, learning_rate: Any) -> Any:
        index = optimizer._get_variable_index(variable)
        factor = scaled.get(id(optimizer._trainable_variables[index]))
        rate = learning_rate if factor is None else learning_rate * factor
        return update(optimizer, gradient, variable, rate)

    optimizer.update_step = update_step
    if hasattr(optimizer, "_parallel_update_step"):
        # Keras's PyTorch optimizers update every weight in one call that never reaches
        # update_step: they step weight by weight instead, as on the other backends
        optimizer._backend_update_step = _weight_by_weight(optimizer)


def _weight_by_weight(optimizer: keras.optimizers.Optimizer) -> Any:
    import torch

    def backend_update_step(gradients: Any, variables: Any, learning_rate: Any) -> None:
        with torch.no_grad():
            for gradient, variable in zip(gradients, variables, strict=True):
                optimizer.update_step(gradient, variable, learning_rate)

    return backend_update_step


def learning_rate_at(optimizer: keras.optimizers.Optimizer) -> float:
    """The learning rate the optimizer uses at its current step."""
    rate = optimizer.learning_rate
    value = float(keras.ops.convert_to_numpy(rate))
    return value if math.isfinite(value) else float("nan")
