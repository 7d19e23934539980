"""Where ``alternating_flip`` may be written: once, in the ``augment:`` list, without a
``random_flip`` that also mirrors left to right.

Takes the resolved ``augment:`` layers and the model's layers (:class:`~.plan.ResolvedLayer`);
reports each misplaced ``alternating_flip`` to :class:`~.problems.Problems`, at its line. Training
mirrors the images as it draws the batches (:mod:`layerkit.training.batches`), for an
``alternating_flip`` found in ``augment:`` only: anywhere else the layer passes its input through.
"""

from __future__ import annotations

from collections.abc import Iterable

from .plan import ResolvedLayer, with_wrapped
from .problems import Problems

ALTERNATING_FLIP = "AlternatingFlip"
RANDOM_FLIP_DEFAULT_MODE = "horizontal_and_vertical"  # keras.layers.RandomFlip's


def check_alternating_flip(problems: Problems, augment: Iterable[ResolvedLayer],
                           layers: Iterable[ResolvedLayer]) -> None:  # fmt: skip
    """Reports an ``alternating_flip`` among the model's layers, a second one in ``augment:``,
    and one beside a ``random_flip`` whose mode mirrors left to right."""
    for layer in layers:
        for inner in with_wrapped(layer):
            if inner.class_name == ALTERNATING_FLIP:
                problems.error(
                    "alternating_flip acts only as an augment: entry (training mirrors the images "
                    "as it draws each batch); among the model's layers it would do nothing",
                    inner.location, inner.path, "Move it to the augment: list.",
                )  # fmt: skip
    augment = list(augment)
    flips = [layer for layer in augment if layer.class_name == ALTERNATING_FLIP]
    for second in flips[1:]:
        problems.error(
            f"alternating_flip is already in the augment: list (line {flips[0].location.line})",
            second.location, second.path, "Remove one of them.",
        )  # fmt: skip
    mirrors = [layer for layer in augment if layer.class_name == "RandomFlip"
               and layer.args.get("mode", RANDOM_FLIP_DEFAULT_MODE) != "vertical"]  # fmt: skip
    if flips and mirrors:
        mode = mirrors[0].args.get("mode", RANDOM_FLIP_DEFAULT_MODE)
        problems.error(
            f"alternating_flip mirrors images left to right on alternate epochs, and random_flip "
            f"(line {mirrors[0].location.line}) with mode '{mode}' mirrors them at random too",
            flips[0].location, flips[0].path,
            "Remove one of them (or give random_flip mode: vertical).",
        )  # fmt: skip
