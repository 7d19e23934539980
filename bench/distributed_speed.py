"""Data-parallel speed on one machine: `layerkit train` as one process against two processes of one
cluster on localhost (TF_CONFIG and --strategy multi-worker on TensorFlow; KERAS_DISTRIBUTION_*
and --strategy data-parallel on JAX), same spec, data, global batch and epochs, in alternating
turns so that the machine's other load falls on both alike.

    python bench/distributed_speed.py [--images 4000] [--epochs 2] [--rounds 2] [--engines tensorflow jax]

The data is every Nth image of the shared CIFAR-10 archive (../shared/datasets/cifar10), written
once to a small archive; the spec is specs/cifar.yaml (the reference CNN, batch 64), with a 10%
validation split and without its flip TTA. The figure per run is
the images/s of its last epoch (history.csv; the first pays for compiling), validation included.
On a 2-core machine two processes share the two cores and add the exchange of gradients, so the
expected ratio is below 1×: the point is that the path works and what it costs, not a speed-up.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARCHIVE = ROOT.parent / "shared" / "datasets" / "cifar10" / "train.tar.gz"
SPEC = ROOT / "specs" / "cifar.yaml"
STRATEGY = {"tensorflow": "multi-worker", "jax": "data-parallel"}


def subset(target: Path, images: int) -> Path:
    """Every Nth JPEG of the shared archive (all classes), ``images`` of them."""
    with tarfile.open(ARCHIVE) as archive:
        members = [m for m in archive.getmembers() if m.isfile() and m.name.endswith(".jpg")]
        step = max(1, len(members) // images)
        with tarfile.open(target, "w") as out:
            for member in members[::step][:images]:
                out.addfile(member, archive.extractfile(member))
    return target


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def cluster_env(engine: str, index: int, ports: list[int]) -> dict[str, str]:
    if engine == "tensorflow":
        workers = {"worker": [f"localhost:{port}" for port in ports]}
        return {
            "TF_CONFIG": json.dumps(
                {"cluster": workers, "task": {"type": "worker", "index": index}}
            )
        }
    return {"KERAS_DISTRIBUTION_JOB_ADDRESSES": f"localhost:{ports[0]}",
            "KERAS_DISTRIBUTION_NUM_PROCESSES": "2", "KERAS_DISTRIBUTION_PROCESS_ID": str(index)}  # fmt: skip


def train(engine: str, processes: int, data: Path, out: Path, epochs: int, validated: int) -> float:
    """One run, by one process or two; the images/s of its last epoch."""
    base = {**os.environ, "KERAS_BACKEND": engine, "TF_CPP_MIN_LOG_LEVEL": "3",
            "PYTHONPATH": str(ROOT), "LAYERKIT_CACHE": str(data.parent / "cache")}  # fmt: skip
    args = [
        sys.executable,
        "-m",
        "layerkit",
        "train",
        str(SPEC),
        "--data",
        str(data),
        "--out",
        str(out),
        "--epochs",
        str(epochs),
        "--plain",
        "--set",
        f"train.validation_split={validated}",
        "--set",
        "train.tta=null",
    ]  # fmt: skip (data-parallel does not measure TTA yet)
    if processes == 1:
        commands = [(args, base)]
    else:
        ports = [free_port(), free_port()]
        commands = [([*args, "--strategy", STRATEGY[engine]], {**base, **cluster_env(engine, i, ports)})
                    for i in range(processes)]  # fmt: skip
    running = [subprocess.Popen(a, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for a, e in commands]  # fmt: skip
    for process in running:
        _, err = process.communicate(timeout=3600)
        if process.returncode:
            raise SystemExit(f"{engine} × {processes} failed:\n{err[-3000:]}")
    with (out / "history.csv").open() as rows:
        return float(list(csv.DictReader(rows))[-1]["images_per_second"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--engines", nargs="+", default=["tensorflow", "jax"])
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="distributed-speed-"))
    try:
        data = subset(work / "cifar.tar", options.images)
        results: dict[str, dict[int, list[float]]] = {e: {1: [], 2: []} for e in options.engines}
        started = time.time()
        for turn in range(options.rounds):
            for engine in options.engines:
                for processes in (1, 2) if turn % 2 == 0 else (2, 1):  # alternate who goes first
                    out = work / f"{engine}-{processes}-{turn}"
                    speed = train(
                        engine, processes, data, out, options.epochs, options.images // 10
                    )
                    results[engine][processes].append(speed)
                    print(f"{engine:10} {processes} process{'es' * (processes > 1):2} {speed:7.0f} img/s",
                          flush=True)  # fmt: skip
        print(f"\n{options.images} images ({options.images // 10} validated), spec {SPEC.name}, "
              f"{options.epochs} epochs, last epoch's images/s, {options.rounds} rounds, "
              f"{time.time() - started:.0f} s, {os.cpu_count()} cores")  # fmt: skip
        for engine, speeds in results.items():
            one, two = statistics.median(speeds[1]), statistics.median(speeds[2])
            print(f"{engine:10} 1 process {one:6.0f} img/s   2 processes {two:6.0f} img/s   "
                  f"ratio {two / one:.2f}×")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
