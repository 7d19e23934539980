"""Training throughput: `layerkit train` against a hand-written `model.fit` of the same network,
data, batch and recipe, and `layerkit train` on Keras-JAX against Keras-TensorFlow, measured in
alternating turns in one run.

Each turn is a fresh process that trains one side for --epochs epochs on the same images (a
seeded subset of the shared CIFAR-10 archive, written once as an .npz) with the same validation
split, so every side trains on the same number of images per epoch. A turn's figure is the mean
images/s of its epochs after the first (the first pays for tracing and compiling); an epoch's time
includes its validation pass (with flip TTA where the spec asks for it) on every side. The sides
take turns round by round, each round in the opposite order of the one before, so a machine that
slows down or speeds up during the run weighs on every side alike. Usage, from the project root:

    python bench/train_throughput.py                         # specs/cifar-fast.yaml, 3 rounds
    python bench/train_throughput.py --images 12000 --validation 2000 --epochs 3 --rounds 3
    python bench/train_throughput.py --sides layerkit,fit    # TensorFlow only

Sides: ``layerkit`` (``layerkit train SPEC``, TensorFlow), ``fit`` (the spec's model compiled and
fitted by hand as a Keras user would write the same recipe, TensorFlow), ``layerkit-jax``
(``KERAS_BACKEND=jax layerkit train SPEC``), ``layerkit-pair`` (two ``layerkit train`` runs at
once, each pinned to a core of its own with one TensorFlow thread; its figure is the two runs'
images/s added up, epoch by epoch: whether a machine trains more images running seeds side by side
than one after another). Target (issue 20): layerkit ≥ 1.0× the plain fit.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARCHIVE = ROOT.parent / "shared" / "datasets" / "cifar10" / "train.tar.gz"
SPEC = ROOT / "specs" / "cifar-fast.yaml"
SIDES = ("layerkit", "fit", "layerkit-jax", "layerkit-pair")
ONE_THREAD = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": "1"}


def write_subset(archive: Path, images: int, seed: int, path: Path) -> None:
    """A seeded subset of ``archive``'s images as an .npz that both sides read."""
    import numpy as np

    from layerkit.data.load import load_dataset

    dataset = load_dataset(str(archive), (32, 32, 3))
    chosen = np.sort(np.random.default_rng(seed).permutation(len(dataset))[:images])
    np.savez(path, x_train=dataset.x[chosen], y_train=dataset.y[chosen],
             class_names=np.array(dataset.class_names))  # fmt: skip


# taskset's Python form: run argv[2:] on core argv[1] alone
PINNED = "import os, sys; os.sched_setaffinity(0, {int(sys.argv[1])}); os.execv(sys.argv[2], sys.argv[2:])"


def layerkit_turn(
    spec: Path, data: Path, epochs: int, validation: int, backend: str, cores: int = 0
) -> list[float]:
    """``layerkit train`` in a fresh process; each epoch's images/s from its --json events.
    ``cores`` > 0: that many runs at once, each pinned to one core with one thread, and each
    epoch's images/s added up over them."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    with tempfile.TemporaryDirectory() as folder:
        runs = []
        for index in range(max(cores, 1)):
            command = [sys.executable, "-m", "layerkit", "train", str(spec), "--data", str(data),
                       "--epochs", str(epochs), "--set", f"train.validation_split={validation}",
                       "--out", str(Path(folder) / f"run-{index}"), "--json"]  # fmt: skip
            if cores:  # on core `index` alone, with one thread
                command = [sys.executable, "-c", PINNED, str(index), *command]
            runs.append(subprocess.Popen(command, env={**env, **(ONE_THREAD if cores else {})},
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True))  # fmt: skip
        speeds = []
        for run in runs:
            stdout, stderr = run.communicate()
            if run.returncode:
                raise SystemExit(f"layerkit train failed ({run.returncode}):\n{stderr[-2000:]}")
            events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
            speeds.append([event["images_per_second"] for event in events
                           if event.get("event") == "epoch"])  # fmt: skip
    return [sum(epoch) for epoch in zip(*speeds, strict=True)]


def fit_turn(spec_path: Path, data: Path, epochs: int, validation: int) -> list[float]:
    """The spec's network trained by a hand-written ``model.fit`` with the spec's recipe, written
    with Keras's own pieces: the same normalization, augmentation layers, SGD with Nesterov
    momentum, decoupled weight decay skipping normalization and bias weights, a one-cycle rate,
    label smoothing, Keras's weight EMA swapped in for validation, and flip TTA on the validation
    images after each epoch (dropout stays on in every epoch: it costs the same either way)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np

    from layerkit import build, load_spec
    from layerkit.data.arrays import read_npz
    from layerkit.data.load import split
    from layerkit.model.compiler import make_layer
    from layerkit.spec.validation import validate

    spec = load_spec(spec_path)
    plan = validate(spec)
    train = spec.document["train"]
    normalize = spec.document["data"]["normalize"]
    dataset = read_npz(data)
    train_index, val_index = split(dataset, validation, train.get("seed", 0))

    def prepared(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = dataset.x[index].astype("float32") * normalize["scale"]
        x = (x - np.array(normalize["mean"], "float32")) / np.array(normalize["std"], "float32")
        return x, keras.utils.to_categorical(dataset.y[index], 10)

    (x, y), (x_val, y_val) = prepared(train_index), prepared(val_index)
    batch = train["batch_size"]
    steps = epochs * -(-len(x) // batch)
    sgd = train["optimizer"]["sgd"]
    cycle = train["schedule"]["one_cycle"]

    class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            peak = sgd["learning_rate"]
            warm = steps * cycle["warmup"]
            step = keras.ops.cast(step, "float32")
            up = peak / cycle["div"] + (peak - peak / cycle["div"]) * step / warm
            down = peak + (peak / cycle["final_div"] - peak) * (step - warm) / (steps - warm)
            return keras.ops.where(step < warm, up, down)

    model = build(plan)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = train["batchnorm_momentum"]
    augment = [make_layer(layer, plan.registry) for layer in plan.augment]
    trained = keras.Sequential([keras.Input(x.shape[1:]), *augment, model])
    optimizer = keras.optimizers.SGD(OneCycle(), momentum=sgd["momentum"], nesterov=True,
                                     weight_decay=sgd["weight_decay"], use_ema=True,
                                     ema_momentum=train["ema"])  # fmt: skip
    optimizer.exclude_from_weight_decay(var_names=["bias", "beta", "gamma"])
    trained.compile(optimizer=optimizer,
                    loss=keras.losses.CategoricalCrossentropy(label_smoothing=train["label_smoothing"]),
                    metrics=["accuracy", keras.metrics.TopKCategoricalAccuracy(5, name="top5")])  # fmt: skip

    seconds: list[float] = []

    class FlipTta(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            both = model.predict(x_val, batch_size=256, verbose=0)
            both += model.predict(x_val[:, :, ::-1], batch_size=256, verbose=0)
            logs["val_accuracy_tta"] = float(np.mean(both.argmax(1) == y_val.argmax(1)))
            seconds.append(time.perf_counter() - self.started)

    trained.fit(x, y, batch_size=batch, epochs=epochs, validation_data=(x_val, y_val),
                callbacks=[keras.callbacks.SwapEMAWeights(swap_on_epoch=True), FlipTta()],
                verbose=0)  # fmt: skip
    return [len(x) / s for s in seconds]


def run_turn(side: str, args: argparse.Namespace, data: Path) -> list[float]:
    """One turn of ``side`` in a fresh process: the images/s of each of its epochs."""
    command = [sys.executable, __file__, "--turn", side, "--spec", str(args.spec),
               "--data", str(data), "--epochs", str(args.epochs),
               "--validation", str(args.validation)]  # fmt: skip
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"turn {side} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=SPEC)
    parser.add_argument("--archive", type=Path, default=ARCHIVE)
    parser.add_argument("--images", type=int, default=12000, help="images in the subset")
    parser.add_argument("--validation", type=int, default=2000, help="of them held out")
    parser.add_argument("--epochs", type=int, default=3, help="per turn")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sides", default="layerkit,fit,layerkit-jax", help=", ".join(SIDES))
    parser.add_argument("--turn", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.turn == "fit":
        print(json.dumps(fit_turn(args.spec, args.data, args.epochs, args.validation)))
        return
    if args.turn:
        backend = "jax" if args.turn == "layerkit-jax" else "tensorflow"
        cores = 2 if args.turn == "layerkit-pair" else 0
        print(json.dumps(layerkit_turn(args.spec, args.data, args.epochs, args.validation,
                                       backend, cores)))  # fmt: skip
        return

    sides = args.sides.split(",")
    unknown = sorted(set(sides) - set(SIDES))
    if unknown:
        parser.error(f"unknown side {unknown[0]!r}; choose from {', '.join(SIDES)}")
    if "layerkit-pair" in sides and not (
        hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1
    ):
        parser.error("layerkit-pair pins each run to a core: it needs Linux and 2 or more cores")
    started = time.time()
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "subset.npz"
        write_subset(args.archive, args.images, 0, data)
        speeds: dict[str, list[float]] = {side: [] for side in sides}
        for turn in range(args.rounds):
            for side in sides if turn % 2 == 0 else sides[::-1]:
                epochs = run_turn(side, args, data)
                speeds[side].append(statistics.mean(epochs[1:] or epochs))
                each = ", ".join(f"{speed:.0f}" for speed in epochs)
                print(f"round {turn + 1}  {side:13} {speeds[side][-1]:6.0f} img/s  (epochs: {each})",
                      flush=True)  # fmt: skip
    print(f"\n{args.spec.name}: {args.images - args.validation} training images per epoch, "
          f"{args.validation} validation, {args.epochs} epochs a turn, {args.rounds} rounds, "
          f"{os.cpu_count()} cores, {(time.time() - started) / 60:.1f} min\n")  # fmt: skip
    print("| side | img/s per round | mean | ratio to `layerkit` |")
    print("|---|---|---:|---:|")
    base = statistics.mean(speeds[sides[0]])
    for side in sides:
        rounds = ", ".join(f"{s:.0f}" for s in speeds[side])
        mean = statistics.mean(speeds[side])
        print(f"| {side} | {rounds} | {mean:.0f} | {mean / base:.2f} |")
    mean = {side: statistics.mean(values) for side, values in speeds.items()}
    if {"layerkit", "fit"} <= set(mean):
        print(
            f"\nlayerkit train ÷ plain model.fit: {mean['layerkit'] / mean['fit']:.2f}x (target >= 1.0)"
        )
    if {"layerkit", "layerkit-pair"} <= set(mean):
        print(
            f"two runs at once, one core each ÷ one run: {mean['layerkit-pair'] / mean['layerkit']:.2f}x"
        )
    if {"layerkit", "layerkit-jax"} <= set(mean):
        print(
            f"Keras-JAX ÷ Keras-TensorFlow (layerkit train): {mean['layerkit-jax'] / mean['layerkit']:.2f}x"
        )


if __name__ == "__main__":
    main()
