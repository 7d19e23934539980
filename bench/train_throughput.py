"""Training throughput: `layerkit train` against a plain hand-written `model.fit`, same model,
data, batch size and validation split, measured in one run on the full shared CIFAR-10 archive.

For each of "no augmentation" and "augmentation" (the spec's shift and flip), trains each side
for --epochs epochs and compares the images/s of the last epoch (the first pays for tracing).
An epoch's time includes the validation pass, on both sides. Usage, from the project root:

    python bench/train_throughput.py [--epochs 2]

Target (issue "Train, evaluate, predict"): layerkit reaches at least 0.95x the baseline's images/s.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras

from layerkit import build, load_spec
from layerkit.data.load import load_dataset, split
from layerkit.model.compiler import make_layer
from layerkit.spec.validation import validate
from layerkit.training.loop import train
from layerkit.training.start import TrainOptions, prepare

ROOT = Path(__file__).resolve().parent.parent
ARCHIVE = ROOT.parent / "shared" / "datasets" / "cifar10" / "train.tar.gz"
SPEC = ROOT / "specs" / "cifar.yaml"


class EpochTimer(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.started)


def baseline(augment: bool, epochs: int) -> float:
    """A plain model.fit of the spec's model: the way one would write it by hand."""
    spec = load_spec(SPEC)
    plan = validate(spec)
    dataset = load_dataset(str(ARCHIVE), (32, 32, 3))
    train_index, val_index = split(dataset, 5000, 0)
    x = dataset.x[train_index].astype("float32") / 255.0
    y = keras.utils.to_categorical(dataset.y[train_index], 10)
    x_val = dataset.x[val_index].astype("float32") / 255.0
    y_val = keras.utils.to_categorical(dataset.y[val_index], 10)
    model = build(plan)
    if augment:
        layers = [make_layer(layer, plan.registry) for layer in plan.augment]
        model = keras.Sequential([keras.Input((32, 32, 3)), *layers, model])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy",
                  metrics=["accuracy", keras.metrics.TopKCategoricalAccuracy(5, name="top5")],
                  jit_compile=False)  # fmt: skip
    timer = EpochTimer()
    model.fit(x, y, batch_size=64, epochs=epochs, validation_data=(x_val, y_val),
              callbacks=[timer], verbose=0)  # fmt: skip
    return len(x) / timer.seconds[-1]


def layerkit_run(augment: bool, epochs: int) -> float:
    from rich.console import Console

    with tempfile.TemporaryDirectory() as folder, open(os.devnull, "w") as quiet:
        options = TrainOptions(
            data=str(ARCHIVE), epochs=epochs, augment=augment, out=Path(folder) / "run"
        )
        result = train(prepare(load_spec(SPEC), options), Console(file=quiet))
        return result.run.read_history()[-1]["images_per_second"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    print(
        f"machine: {os.cpu_count()} cores; backend {keras.backend.backend()}; keras {keras.__version__}"
    )
    print("| augmentation | plain model.fit (img/s) | layerkit train (img/s) | ratio |")
    print("|---|---:|---:|---:|")
    for augment in (False, True):
        plain = baseline(augment, args.epochs)
        ours = layerkit_run(augment, args.epochs)
        label = "shift + flip" if augment else "none"
        print(f"| {label} | {plain:.0f} | {ours:.0f} | {ours / plain:.3f} |", flush=True)


if __name__ == "__main__":
    main()
