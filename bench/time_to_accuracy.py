"""Time to accuracy: the fast recipe (specs/cifar-fast.yaml) against the original one
(specs/cifar.yaml) on the same reference network, data and validation split.

Each run is an ordinary ``layerkit train`` whose run directory is kept; validation accuracy (with
and without flip TTA) and wall time per epoch are read back from its ``history.csv``.

    python bench/time_to_accuracy.py                       # all three runs, then table and plot
    python bench/time_to_accuracy.py --only fast-10        # one run
    python bench/time_to_accuracy.py --report-only         # table and plot from runs already made

Runs go to ``--out`` (default bench/results/time-to-accuracy/NAME); an existing run directory is
reused, never overwritten, so an interrupted benchmark picks up where it stopped (unfinished runs
are resumed). The plot is written to docs/images/time_to_accuracy.png.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "datasets" / "cifar10" / "train.tar.gz"
RUNS = {  # name → (spec, epochs)
    "fast-10": ("specs/cifar-fast.yaml", 10),
    "original-10": ("specs/cifar.yaml", 10),
    "fast-30": ("specs/cifar-fast.yaml", 30),
}


def train(name: str, data: Path, out: Path) -> None:
    spec, epochs = RUNS[name]
    run = out / name
    state = run / "state.json"
    if state.is_file():
        done = json.loads(state.read_text())["epoch"]
        if done >= epochs:
            print(f"{name}: already finished in {run}", flush=True)
            return
        command = ["layerkit", "train", "--resume", str(run)]
    else:
        command = ["layerkit", "train", str(ROOT / spec), "--data", str(data),
                   "--epochs", str(epochs), "--out", str(run)]  # fmt: skip
    print("$", " ".join(command), flush=True)
    started = time.perf_counter()
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run(command, check=True, env=environment)
    print(f"{name}: {time.perf_counter() - started:.0f} s for the command", flush=True)


def read(out: Path, name: str) -> list[dict[str, float]]:
    path = out / name / "history.csv"
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        rows = [{key: float(value) for key, value in row.items()} for row in csv.DictReader(handle)]
    elapsed = 0.0
    for row in rows:
        elapsed += row["seconds"]
        row["elapsed"] = elapsed
    return rows


def table(results: dict[str, list[dict[str, float]]]) -> str:
    lines = [
        "| run | epoch | val accuracy | with flip TTA | epoch time (s) | wall time (min) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, rows in results.items():
        for row in rows:
            tta = row.get("val_accuracy_tta")
            lines.append(
                f"| {name} | {int(row['epoch'])} | {row['val_accuracy']:.2%} | "
                f"{'—' if tta is None else f'{tta:.2%}'} | {row['seconds']:.0f} | "
                f"{row['elapsed'] / 60:.1f} |"
            )
    return "\n".join(lines).replace("%", " %")


def plot(results: dict[str, list[dict[str, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (by_epoch, by_time) = plt.subplots(1, 2, figsize=(11, 4))
    for name, rows in results.items():
        if not rows:
            continue
        accuracy = [row["val_accuracy"] * 100 for row in rows]
        by_epoch.plot([row["epoch"] for row in rows], accuracy, marker="o", label=name)
        by_time.plot([row["elapsed"] / 60 for row in rows], accuracy, marker="o", label=name)
    for axis, label in ((by_epoch, "epoch"), (by_time, "wall time (minutes, 2-core CPU)")):
        axis.axhline(83, color="grey", linestyle="--", linewidth=1)
        axis.set_xlabel(label)
        axis.set_ylabel("validation accuracy (%)")
        axis.grid(alpha=0.3)
        axis.legend()
    by_epoch.set_title("CIFAR-10, 5,000 held-out images: accuracy by epoch")
    by_time.set_title("accuracy by wall time (dashed: 83 %)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "time-to-accuracy")
    parser.add_argument("--only", action="append", choices=sorted(RUNS))
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument(
        "--plot", type=Path, default=ROOT / "docs" / "images" / "time_to_accuracy.png"
    )
    args = parser.parse_args()
    names = args.only or list(RUNS)
    if not args.report_only:
        for name in names:
            train(name, args.data, args.out)
    results = {name: read(args.out, name) for name in RUNS}
    results = {name: rows for name, rows in results.items() if rows}
    if not results:
        print("no runs to report", file=sys.stderr)
        return 1
    print(table(results))
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    plot(results, args.plot)
    print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
