"""Recipe sweep: variants of a training spec (by default specs/cifar-fast.yaml), each trained by an
ordinary ``layerkit train`` on the same data and validation split, several at a time, then one
table of where each landed.

    python bench/recipe_sweep.py --list                            # the variants and their edits
    python bench/recipe_sweep.py --only base --only no-smoothing   # two of them
    python bench/recipe_sweep.py --jobs 8 --deadline 900           # all, 8 at a time, 15 minutes
    python bench/recipe_sweep.py --only base --only lookahead --seeds 0,1,2   # 3 seeds each
    python bench/recipe_sweep.py --only base --seeds 0,1,2 --translate 2  # + flip & shift TTA
    python bench/recipe_sweep.py --seeds 0,1,2 --report                   # the tables, no training

A variant is a set of edits to the base spec's YAML document (``train.batch_size: 32``, a new
``train.optimizer``, other dropout rates, ...). Each variant's spec is written to
``OUT/specs/NAME.yaml`` and its run directory is ``OUT/NAME``; a variant whose run directory
already holds a finished run is not trained again, so an interrupted sweep picks up where it
stopped. With ``--seeds 0,1,2`` each variant is trained once per seed (``train.seed``), into
``OUT/NAME/seed-S``, and a second table gives each variant's mean ± standard deviation over them. With ``--deadline`` no run starts after that many seconds, and runs still going at the
deadline are stopped (they keep their finished epochs). Results: a table on stdout and
``--summary`` (default OUT/summary.json) with every run's per-epoch history.

Run directories are not committed, and a sweep may take several sessions on machines that do
not keep them: ``--record bench/records/NAME.json`` also merges each finished run's history and
TTA results into that file (a run recorded before under the same name is replaced, the others
kept), and ``--report --record FILE`` prints the tables from the file alone.

On a machine with a GPU and no TensorFlow, run it under another Keras backend:
``KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false python bench/recipe_sweep.py --jobs 8``.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "datasets" / "cifar10" / "train.tar.gz"
BASE = ROOT / "specs" / "cifar-fast.yaml"
SGD = "train.optimizer.sgd"

# name → edits to the base spec (dotted key paths; ``[i]`` indexes a list)
VARIANTS: dict[str, dict[str, Any]] = {
    "base": {},
    "no-smoothing": {"train.label_smoothing": 0.0},
    "peak-0.1": {f"{SGD}.learning_rate": 0.1},
    "peak-0.1-no-smoothing": {f"{SGD}.learning_rate": 0.1, "train.label_smoothing": 0.0},
    "peak-0.2": {f"{SGD}.learning_rate": 0.2},
    "peak-0.1-decay-0.01": {f"{SGD}.learning_rate": 0.1, f"{SGD}.weight_decay": 0.01},
    "batch-32": {"train.batch_size": 32, f"{SGD}.learning_rate": 0.025},
    "batch-32-peak-0.05": {"train.batch_size": 32},
    "decay-0.0025": {f"{SGD}.weight_decay": 0.0025},
    "decay-0.01": {f"{SGD}.weight_decay": 0.01},
    # cifar-fast.yaml keeps dropout on for the first half of the epochs (early_dropout: 0.5)
    "no-early-dropout": {"train.early_dropout": 1.0},
    "early-dropout-0.3": {"train.early_dropout": 0.3},
    "early-dropout-0.7": {"train.early_dropout": 0.7},
    "early-dropout-0.1": {"train.early_dropout": 0.1},
    # without dropout for most epochs the network may need more augmentation instead
    "early-dropout-0.3-pad-4": {
        "train.early_dropout": 0.3,
        "augment": [
            {"random_padded_crop": {"padding": 4, "fill_mode": "reflect"}},
            {"random_flip": {"mode": "horizontal"}},
        ],
    },
    # 30 epochs overfit in their second half (training accuracy 97.8 %): more augmentation
    "epochs-30-pad-4-cutout": {
        "train.epochs": 30,
        "augment": [
            {"random_padded_crop": {"padding": 4, "fill_mode": "reflect"}},
            {"random_flip": {"mode": "horizontal"}},
            {"cutout": {"size": 8}},
        ],
    },
    "ema-0.995": {"train.ema": 0.995},
    "bn-momentum-0.99": {"train.batchnorm_momentum": 0.99},
    "warmup-0.15": {"train.schedule.one_cycle.warmup": 0.15},
    "adamw": {"train.optimizer": {"adamw": {"learning_rate": 0.002, "weight_decay": 0.05}}},
    "flip-only": {"augment": [{"random_flip": {"mode": "horizontal"}}]},
    "no-smoothing-flip-only": {
        "train.label_smoothing": 0.0,
        "augment": [{"random_flip": {"mode": "horizontal"}}],
    },
    # the next two change the network's dropout rates: they measure what the dropout costs in a
    # short schedule, they are not the reference network any more
    "dropout-half": {
        "layers[0].conv_block.dropout": 0.1,
        "layers[1].conv_block.dropout": 0.15,
        "layers[2].conv_block.dropout": 0.2,
        "layers[6].dropout.rate": 0.25,
    },
    "dropout-none": {
        "layers[0].conv_block.dropout": 0.0,
        "layers[1].conv_block.dropout": 0.0,
        "layers[2].conv_block.dropout": 0.0,
        "layers[6].dropout.rate": 0.0,
    },
    "epochs-30": {"train.epochs": 30},
    # fast recipe 3 (issue 20): airbench's settings, one at a time
    "alt-flip": {
        "augment": [
            {"random_padded_crop": {"padding": 2, "fill_mode": "reflect"}},
            "alternating_flip",
        ],
    },
    "tta-translate": {"train.tta_translate": 2},
    "lookahead": {"train.lookahead": {"every": 5, "alpha": 0.5}},
    # airbench's own: the fraction falls from 1 to 0.226 over the run, by the cube of its progress
    "lookahead-ramped": {"train.lookahead": {"every": 5, "alpha": 0.226, "ramp": 3}},
    "bn-bias-lr-64": {"train.lr_scale": {"normalization_bias": 64}},
    "dirac": {"train.init": {"dirac": True}},
    "whiten": {"train.init": {"whiten": True}},
    "dirac-whiten": {"train.init": {"dirac": True, "whiten": True}},
    "smoothing-0.2": {"train.label_smoothing": 0.2},
    # the committed recipe (alternating flips) with dropout in epoch 1 of 10 only: one run of
    # early-dropout-0.1 above led the 0.5 of fast recipe 2 by about half a point
    "alt-flip-early-dropout-0.1": {
        "augment": [
            {"random_padded_crop": {"padding": 2, "fill_mode": "reflect"}},
            "alternating_flip",
        ],
        "train.early_dropout": 0.1,
    },
    # all of them at once (the candidate for the committed recipe)
    "airbench-all": {
        "augment": [
            {"random_padded_crop": {"padding": 2, "fill_mode": "reflect"}},
            "alternating_flip",
        ],
        "train.tta_translate": 2,
        "train.lookahead": {"every": 5, "alpha": 0.5},
        "train.lr_scale": {"normalization_bias": 64},
        "train.init": {"dirac": True, "whiten": True},
        "train.label_smoothing": 0.2,
    },
}

_SEGMENT = re.compile(r"([A-Za-z_]\w*)(?:\[(\d+)\])?$")


def edited(document: dict[str, Any], edits: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``document`` with each ``path: value`` edit applied. Every key but the last must
    exist; a new last key is added (layerkit itself refuses one it does not know, at its line)."""
    result = copy.deepcopy(document)
    for path, value in edits.items():
        parts: list[str | int] = []
        for part in path.split("."):
            match = _SEGMENT.match(part)
            if match is None:
                raise ValueError(f"bad key path {path!r}")
            parts.append(match.group(1))
            if match.group(2) is not None:
                parts.append(int(match.group(2)))
        node: Any = result
        for key in parts[:-1]:
            try:
                node = node[key]
            except (KeyError, IndexError, TypeError):
                raise ValueError(f"{path!r}: the base spec has no {key!r} there") from None
        node[parts[-1]] = copy.deepcopy(value)
    return result


def finished(run: Path) -> bool:
    state = run / "state.json"
    if not state.is_file():
        return False
    spec = yaml.safe_load((run / "spec.yaml").read_text())
    return json.loads(state.read_text())["epoch"] >= spec["train"]["epochs"]


def command(spec: Path, run: Path, args: argparse.Namespace) -> list[str]:
    layerkit = [sys.executable, "-m", "layerkit", "train", "--plain"]
    if (run / "state.json").is_file():
        return [*layerkit, "--resume", str(run)]
    overrides = [f"--set={override}" for override in args.set or ()]
    return [*layerkit, str(spec), "--data", str(args.data), "--out", str(run),
            "--precision", args.precision, *overrides]  # fmt: skip


def read_history(run: Path) -> list[dict[str, float]]:
    path = run / "history.csv"
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(handle)]


def run_name(name: str, seed: int | None) -> str:
    """A run's folder under OUT: the variant's name, with ``/seed-S`` under ``--seeds``."""
    return name if seed is None else f"{name}/seed-{seed}"


def summarize(out: Path, names: list[str], seeds: list[int | None]) -> dict[str, Any]:
    results = {}
    for name in names:
        for seed in seeds:
            rows = read_history(out / run_name(name, seed))
            if rows:
                results[run_name(name, seed)] = {
                    "variant": name, "seed": seed, "edits": VARIANTS[name], "history": rows,
                    "finished": finished(out / run_name(name, seed)),
                }  # fmt: skip
    return results


def translate_tta(run: Path, pixels: int) -> float | None:
    """Validation accuracy of ``run``'s best model with flip TTA over ±``pixels`` shifts too,
    from ``layerkit evaluate`` (kept in RUN/tta-translate-N.json, so asking again is free)."""
    kept = run / f"tta-translate-{pixels}.json"
    if not kept.is_file():
        if not finished(run):
            return None
        argv = [sys.executable, "-m", "layerkit", "evaluate", str(run), "--tta", "flip",
                "--tta-translate", str(pixels), "--json"]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, check=False,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})  # fmt: skip
        if done.returncode:
            print(f"{run}: layerkit evaluate failed: {done.stdout[-500:]}", flush=True)
            return None
        kept.write_text(done.stdout.splitlines()[0])
    return json.loads(kept.read_text())["accuracy"]


def record(path: Path, results: dict[str, Any], base: Path, note: str) -> dict[str, Any]:
    """Merge ``results``' finished runs into the record at ``path`` (written atomically, so an
    interrupted write leaves the old record whole) and return the whole record."""
    kept = json.loads(path.read_text()) if path.is_file() else {"runs": {}}
    for label, result in results.items():
        if result.get("finished"):
            kept["runs"][label] = {**result, "base": base.name, "note": note,
                                   "recorded": time.strftime("%Y-%m-%d")}  # fmt: skip
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(kept, indent=1) + "\n")
    partial.replace(path)
    return kept


def spread(values: list[float]) -> str:
    """``84.62 ± 0.31 %`` (the sample standard deviation), or the one value."""
    if not values:
        return "—"
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{mean * 100:.2f} %"
    sd = (sum((value - mean) ** 2 for value in values) / (len(values) - 1)) ** 0.5
    return f"{mean * 100:.2f} ± {sd * 100:.2f} %"


def seed_table(results: dict[str, Any], translate: int = 0) -> str:
    """Each variant's last-epoch validation accuracy (and with TTA) over its finished seeds (the
    runs still going are counted apart, not averaged in); with ``translate``, also its best
    models' accuracy with flip and ±translate-pixel TTA."""
    lines = [
        "| variant | seeds | epochs | last val acc | + TTA |"
        + (f" + flip & ±{translate} px TTA |" if translate else ""),
        "|---|---:|---:|---:|---:|" + ("---:|" if translate else ""),
    ]
    variants: dict[str, list[dict[str, Any]]] = {}
    for result in results.values():
        variants.setdefault(result["variant"], []).append(result)
    for name, every in variants.items():
        runs = [run for run in every if run.get("finished", True)]
        going = f" (+{len(every) - len(runs)} unfinished)" if len(runs) < len(every) else ""
        lasts = [run["history"][-1] for run in runs]
        accuracy = [row["val_accuracy"] for row in lasts if "val_accuracy" in row]
        tta = [row["val_accuracy_tta"] for row in lasts if "val_accuracy_tta" in row]
        epochs = "/".join(map(str, sorted({int(row["epoch"]) for row in lasts}))) or "—"
        line = f"| {name} | {len(lasts)}{going} | {epochs} | {spread(accuracy)} | {spread(tta)} |"
        if translate:
            shifted = [run.get(f"tta_translate_{translate}") for run in runs]
            line += f" {spread([value for value in shifted if value is not None])} |"
        lines.append(line)
    return "\n".join(lines)


def table(results: dict[str, Any]) -> str:
    lines = [
        "| variant | epochs | last val acc | + flip TTA | best val acc (epoch) | train acc | minutes |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, result in results.items():
        rows = result["history"]
        last = rows[-1]
        best = max(rows, key=lambda row: row.get("val_accuracy", 0.0))
        tta = last.get("val_accuracy_tta")
        lines.append(
            f"| {name} | {int(last['epoch'])} | {last.get('val_accuracy', float('nan')):.2%} | "
            + ("—" if tta is None else f"{tta:.2%}")
            + f" | {best.get('val_accuracy', float('nan')):.2%} ({int(best['epoch'])}) | "
            f"{last.get('accuracy', float('nan')):.2%} | "
            f"{sum(row['seconds'] for row in rows) / 60:.1f} |"
        )
    return "\n".join(lines).replace("%", " %")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, default=BASE, help="the spec the variants edit")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "recipe-sweep")
    parser.add_argument("--only", action="append", choices=sorted(VARIANTS))
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time")
    parser.add_argument("--deadline", type=float, help="seconds after which no run goes on")
    parser.add_argument("--epochs", type=int, help="train every variant this many epochs")
    parser.add_argument("--precision", default="auto", choices=["auto", "mixed", "float32"])
    parser.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="passed to every layerkit train (e.g. train.validation_split=500)",
    )
    parser.add_argument(
        "--seeds",
        type=lambda text: [int(seed) for seed in text.split(",")],
        help="train each variant once per seed, e.g. 0,1,2 (runs in OUT/NAME/seed-S)",
    )
    parser.add_argument(
        "--translate",
        type=int,
        default=0,
        metavar="N",
        help="also evaluate each finished run with flip TTA over ±N-pixel shifts (layerkit "
        "evaluate --tta flip --tta-translate N) and add that column to the --seeds table",
    )
    parser.add_argument("--summary", type=Path, help="default OUT/summary.json")
    parser.add_argument(
        "--record",
        type=Path,
        help="merge the finished runs into this JSON file (kept across machines); with --report, "
        "print the tables from it instead of from OUT",
    )
    parser.add_argument("--note", default="", help="with --record: the machine, what ran beside")
    parser.add_argument("--list", action="store_true", help="print the variants and stop")
    parser.add_argument(
        "--report", action="store_true", help="train nothing: the tables of the runs in OUT"
    )
    args = parser.parse_args()
    names = args.only or list(VARIANTS)
    if args.list:
        for name in names:
            print(f"{name}: {json.dumps(VARIANTS[name]) if VARIANTS[name] else '(the base spec)'}")
        return 0

    base = yaml.safe_load(args.base.read_text())
    (args.out / "specs").mkdir(parents=True, exist_ok=True)
    queue = []
    seeds: list[int | None] = list(args.seeds) if args.seeds else [None]
    for name, seed in ((name, seed) for name in names for seed in seeds if not args.report):
        edits = dict(VARIANTS[name])
        if args.epochs:
            edits["train.epochs"] = args.epochs
        if seed is not None:
            edits["train.seed"] = seed
        label = run_name(name, seed)
        spec = args.out / "specs" / f"{label.replace('/', '-')}.yaml"
        document = edited(base, edits)
        spec.write_text(
            f"# {args.base.name} with {json.dumps(edits) if edits else 'no edits'}\n"
            + yaml.safe_dump(document, sort_keys=False)
        )
        run = args.out / label
        run.parent.mkdir(parents=True, exist_ok=True)
        if finished(run):
            print(f"{label}: already finished in {run}", flush=True)
        else:
            queue.append((label, command(spec, run, args)))

    started = time.monotonic()
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    running: dict[str, tuple[subprocess.Popen, Any, float]] = {}
    reported = started
    try:
        while queue or running:
            if running and time.monotonic() - reported > 60:
                reported = time.monotonic()
                done = ", ".join(f"{name} {len(read_history(args.out / name))}" for name in running)
                print(f"{reported - started:.0f} s, epochs done: {done}", flush=True)
            late = args.deadline is not None and time.monotonic() - started > args.deadline
            while queue and len(running) < args.jobs and not late:
                name, argv = queue.pop(0)
                log = (args.out / f"{name}.log").open("a")
                print(f"start {name}: {' '.join(argv)}", flush=True)
                running[name] = (
                    subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=environment),
                    log,
                    time.monotonic(),
                )
            if late:
                queue.clear()
                for name, (process, _, _) in running.items():
                    if process.poll() is None:
                        print(f"deadline: stopping {name}", flush=True)
                        process.terminate()
            for name, (process, log, since) in list(running.items()):
                code = process.poll()
                if code is not None:
                    log.close()
                    del running[name]
                    print(f"end {name}: exit {code} after {time.monotonic() - since:.0f} s",
                          flush=True)  # fmt: skip
            time.sleep(1)
    finally:
        for process, log, _ in running.values():
            process.terminate()
            log.close()

    if args.report and args.record:
        results = json.loads(args.record.read_text())["runs"]
        results = {
            label: run
            for label, run in results.items()
            if run["variant"] in names and (not args.seeds or run["seed"] in args.seeds)
        }
        print(table(results))
        print()
        print(seed_table(results, args.translate))
        return 0
    results = summarize(args.out, names, seeds)
    if args.translate:
        for label, result in results.items():
            result[f"tta_translate_{args.translate}"] = translate_tta(
                args.out / label, args.translate
            )
    summary = args.summary or args.out / "summary.json"
    summary.write_text(json.dumps(results, indent=1))
    if args.record:
        record(args.record, results, args.base, args.note)
    print(table(results))
    if args.seeds:
        print()
        print(seed_table(results, args.translate))
    print(f"summary: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
