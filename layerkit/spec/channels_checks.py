"""The settings that take images as channels-last, refused in a spec whose layers are
channels-first: ``tta: flip`` (with ``tta_translate``) mirrors and shifts the width and height
axes of ``[height, width, channels]`` images, and so do ``alternating_flip``, layerkit's
``random_padded_crop`` and ``cutout``, and a ``random_flip`` not told ``data_format:
channels_first``. Part of validation, so without TensorFlow. (``init`` is not refused: its
whitening reads the first conv2d's input in that layer's own layout, and dirac kernels do not
depend on it.)
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import Location, SpecError
from .plan import ResolvedLayer

# augmentation layers that take (batch, height, width, channels) whatever the model's layout
CHANNELS_LAST_AUGMENTATIONS = {
    "AlternatingFlip": "alternating_flip",
    "RandomPaddedCrop": "random_padded_crop",
    "Cutout": "cutout",
}
FIX = "These settings need channels_last images ([height, width, channels]): {fix}"


def channels_first_layer(layers: Iterable[ResolvedLayer]) -> ResolvedLayer | None:
    """The first layer given ``data_format: channels_first``, if any."""
    for layer in layers:
        if not layer.operation and layer.args.get("data_format") == "channels_first":
            return layer
    return None


def check_channels_first(layers: Iterable[ResolvedLayer], augment: Iterable[ResolvedLayer],
                         tta: str | None, tta_location: Location | None) -> list[SpecError]:  # fmt: skip
    """Each setting that would mirror or shift the wrong axes of a channels-first model's
    images, at its line; nothing for a model without ``data_format: channels_first``."""
    first = channels_first_layer(layers)
    if first is None:
        return []
    where = (f"the {first.class_name} layer at line {first.location.line} has data_format: "
             "channels_first")  # fmt: skip
    errors = []
    if tta == "flip" and tta_location is not None:
        errors.append(SpecError(
            f"tta: flip mirrors and shifts channels_last images, but {where}", tta_location,
            "train.tta", FIX.format(fix="remove 'tta: flip', or make the layers channels_last."),
        ))  # fmt: skip
    for layer in augment:
        name = CHANNELS_LAST_AUGMENTATIONS.get(layer.class_name)
        if name is not None:
            errors.append(SpecError(
                f"{name} mirrors or crops channels_last images, but {where}", layer.location,
                layer.path, FIX.format(fix=f"remove {name}, or make the layers channels_last."),
            ))  # fmt: skip
        elif layer.class_name == "RandomFlip" and layer.args.get("data_format") != "channels_first":
            errors.append(SpecError(
                f"random_flip takes images as channels_last unless told otherwise, but {where}",
                layer.location, layer.path, "Add data_format: channels_first to random_flip.",
            ))  # fmt: skip
    return errors
