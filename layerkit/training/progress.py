"""Training progress: a rich live display on a terminal, one plain line per epoch otherwise, or
one JSON object per line for scripts (``layerkit train --json``).

All are Keras callbacks that only report; they take the console to write to, so tests can capture
them. Each says how the run starts (``start``), then reports every finished epoch (``report``):
epoch, losses and metrics, learning rate, seconds, images per second.
"""

from __future__ import annotations

import json
import math
import time
from typing import TYPE_CHECKING, Any

import keras

from ..runs.rounding import float32_short
from ..safe_text import safe_text

if TYPE_CHECKING:
    from rich.console import Console


def epoch_line(row: dict[str, Any], epochs: int) -> str:
    """``epoch 3/10  loss 1.234  accuracy 0.5670  val_loss …  lr 0.001  41.2 s  1093 img/s``"""
    parts = [f"epoch {row['epoch']}/{epochs}"]
    for key, value in row.items():
        if key in ("epoch", "seconds", "images_per_second", "lr"):
            continue
        parts.append(f"{key} {value:.4f}" if isinstance(value, float) else f"{key} {value}")
    parts.append(f"lr {row['lr']:.3g}")
    parts.append(f"{row['seconds']:.1f} s")
    parts.append(f"{row['images_per_second']:.0f} img/s")
    return "  ".join(parts)


def epochs_text(count: int) -> str:
    """``1 epoch``, ``3 epochs``."""
    return f"{count} epoch" if count == 1 else f"{count} epochs"


def epoch_span(first: int, last: int) -> str:
    """``epoch 3``, ``epochs 1–10``."""
    return f"epoch {first}" if first == last else f"epochs {first}–{last}"


def start_line(facts: dict[str, Any]) -> str:
    """``training NAME on DEVICE, backend B: N training and M validation images (10 classes),
    batch 64, epochs 1–10, augmented, dropout in epoch 1 only → RUN``; a model that ends
    without softmax adds ``loss: categorical_crossentropy (from logits: the last layer has no
    softmax)``."""
    skipped = facts["skipped_images"]
    text = (
        f"training {safe_text(str(facts['spec']))} on {facts['device']}, backend {facts['backend']}: "
        f"{facts['train_images']:,} training and {facts['validation_images']:,} validation images "
        f"({facts['classes']} classes" + (f", {skipped} unreadable skipped" if skipped else "")
        + f"), batch {facts['batch_size']}, {epoch_span(facts['first_epoch'], facts['epochs'])}"
    )  # fmt: skip
    if facts["augment"]:
        text += ", augmented"
    if facts["dropout_until"] is not None:
        text += (
            f", dropout in {epoch_span(1, facts['dropout_until'])} only"
            if facts["dropout_layers"]
            else ", no dropout layer for early_dropout"
        )
    if facts["schedule_epochs"] not in (None, facts["epochs"]):
        text += f", learning-rate schedule as laid out for {epochs_text(facts['schedule_epochs'])} at the start"
    if facts.get("from_logits"):  # unusual enough to say: the model ends without softmax
        text += f", loss: {facts['loss']}"
    return text + f" → {safe_text(str(facts['run']))}"


class PlainProgress(keras.callbacks.Callback):
    """One line per epoch, for logs and pipes."""

    def __init__(self, console: Console, epochs: int) -> None:
        super().__init__()
        self.console = console
        self.epochs = epochs

    def start(self, facts: dict[str, Any]) -> None:
        # one line, however long, for whoever reads the output
        self.console.print(start_line(facts), markup=False, highlight=False, soft_wrap=True)

    def report(self, row: dict[str, Any]) -> None:
        self.console.print(
            epoch_line(row, self.epochs), markup=False, highlight=False, soft_wrap=True
        )


class JsonProgress(PlainProgress):
    """JSON Lines: ``{"event": "start", ...}``, then ``{"event": "epoch", ...}`` per epoch (the
    row history.csv gets); the command adds ``{"event": "end", ...}``."""

    def start(self, facts: dict[str, Any]) -> None:
        self.emit({"event": "start", **facts})

    def report(self, row: dict[str, Any]) -> None:
        self.emit({"event": "epoch", **row, "epochs": self.epochs})

    def emit(self, record: dict[str, Any]) -> None:
        finite = {key: None if isinstance(value, float) and not math.isfinite(value) else value
                  for key, value in float32_short(record).items()}  # fmt: skip
        self.console.file.write(json.dumps(finite) + "\n")
        self.console.file.flush()


class LiveProgress(PlainProgress):
    """A step bar with the running loss and metrics, images/s and ETA, and a line per epoch."""

    def __init__(self, console: Console, epochs: int, steps: int, batch_size: int) -> None:
        super().__init__(console, epochs)
        self.steps = steps
        self.batch_size = batch_size
        self.progress: Any = None
        self.task: Any = None
        self.started = 0.0

    def on_train_begin(self, logs: dict | None = None) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.progress.start()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.started = time.perf_counter()
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task(
            f"epoch {epoch + 1}/{self.epochs}", total=self.steps, stats=""
        )

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        speed = (batch + 1) * self.batch_size / elapsed
        stats = "  ".join(f"{key} {value:.4f}" for key, value in (logs or {}).items())
        self.progress.update(self.task, completed=batch + 1, stats=f"{stats}  {speed:.0f} img/s")

    def report(self, row: dict[str, Any]) -> None:
        self.progress.console.print(epoch_line(row, self.epochs), highlight=False, soft_wrap=True)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.progress is not None:
            self.progress.stop()
