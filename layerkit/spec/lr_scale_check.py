"""Whether the model has weights in each normalization group ``train.lr_scale`` names.

Takes the model's layers (:class:`~.plan.ResolvedLayer`, wrapped ones included) and the layer
registry; reports to :class:`~.problems.Problems`, at the group's line, a ``normalization_scale``
or ``normalization_bias`` that no layer of the model trains, which training would ignore. The
groups are :func:`layerkit.training.optimizers.weight_groups`'s; which Keras normalization layers
make which weights is known from their arguments (the table below), so this is decided before
Keras loads. ``kernel`` and ``bias`` are not checked: which weights every Keras layer makes is not
known from the catalog alone. A model with a custom layer (which may hold any weights) is not
judged.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..catalog.layers import LayerRegistry
from .plan import ResolvedLayer, with_wrapped
from .problems import Problems
from .settings import TrainSettings

# a Keras normalization layer's trainable weights: group → (the argument that makes it, and
# the one that must be off for it, or None), each on by default; other *Normalization layers
# (Normalization, UnitNormalization, SpectralNormalization's own) train none
_NORMALIZATION_WEIGHTS = {
    "BatchNormalization": {"normalization_scale": ("scale", None),
                           "normalization_bias": ("center", None)},
    "GroupNormalization": {"normalization_scale": ("scale", None),
                           "normalization_bias": ("center", None)},
    "LayerNormalization": {"normalization_scale": ("scale", None),
                           "normalization_bias": ("center", "rms_scaling")},
    "RMSNormalization": {"normalization_scale": (None, None)},
}  # fmt: skip
_COVERS = {
    "normalization_scale": "the scale (gamma) of batch, layer, group and RMS normalization layers",
    "normalization_bias": "the offset (beta) of batch, layer and group normalization layers",
}


def check_lr_scale(problems: Problems, train: TrainSettings, layers: Iterable[ResolvedLayer],
                   registry: LayerRegistry) -> None:  # fmt: skip
    """Reports each normalization group of ``train.lr_scale`` that no layer trains a weight of."""
    asked = [(group, factor) for group, factor in train.lr_scale if group in _COVERS]
    if not asked:
        return
    present: set[str] = set()
    for layer in (inner for outer in layers for inner in with_wrapped(outer)):
        if layer.operation:
            continue
        if registry.info(layer.class_name).custom:
            return  # its weights are its own: not judged
        present |= _normalization_groups(layer)
    for group, factor in asked:
        if group not in present:
            where = train.locations.get(f"lr_scale.{group}", train.locations.get("lr_scale"))
            problems.error(
                f"{group} is {_COVERS[group]}, and the model has no such weight to train",
                where, f"train.lr_scale.{group}", f"Remove '{group}: {factor:g}'.",
            )  # fmt: skip


def _normalization_groups(layer: ResolvedLayer) -> set[str]:
    """The normalization groups ``layer`` trains a weight of."""
    made = _NORMALIZATION_WEIGHTS.get(layer.class_name, {})
    if layer.args.get("trainable", True) is False:
        return set()
    return {group for group, (on, off) in made.items()
            if (on is None or layer.args.get(on, True)) and not (off and layer.args.get(off))}  # fmt: skip
