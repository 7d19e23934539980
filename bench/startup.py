"""Start-up benchmark: how fast the commands that must not import TensorFlow answer.

Runs each command several times in fresh processes, alternating them so machine noise hits all
alike, and prints a Markdown table of median wall times with ratios against a baseline measured in
the same run (a bare ``python -c pass``). Usage, from the project root:

    python bench/startup.py [--repeats 15]

The target (issue "Core"): ``layerkit --help`` and ``layerkit validate`` answer in well under half
a second, without importing TensorFlow; issue 16: ``validate`` under 0.3 s on the largest spec.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERKIT = shutil.which("layerkit") or "layerkit"
COMMANDS = {
    "baseline: python -c pass": [sys.executable, "-c", "pass"],
    "layerkit --help": [LAYERKIT, "--help"],
    "layerkit validate specs/cifar.yaml": [LAYERKIT, "validate", "specs/cifar.yaml"],
    # the largest specs (issue 16: validate stays under 0.3 s on them)
    "layerkit validate specs/efficientnet.yaml --variant b3": [
        LAYERKIT,
        "validate",
        "specs/efficientnet.yaml",
        "--variant",
        "b3",
    ],
    "layerkit validate specs/densenet121.yaml": [LAYERKIT, "validate", "specs/densenet121.yaml"],
    "layerkit validate specs/convnext_tiny.yaml": [
        LAYERKIT,
        "validate",
        "specs/convnext_tiny.yaml",
    ],
    "layerkit validate specs/mobilenet_v3_small.yaml": [
        LAYERKIT,
        "validate",
        "specs/mobilenet_v3_small.yaml",
    ],
    "for scale: python -c 'import tensorflow'": [sys.executable, "-c", "import tensorflow"],
    "layerkit build specs/cifar.yaml": [LAYERKIT, "build", "specs/cifar.yaml"],
}
SLOW = {"for scale: python -c 'import tensorflow'", "layerkit build specs/cifar.yaml"}


def time_once(command: list[str]) -> float:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="runs per fast command")
    parser.add_argument("--slow-repeats", type=int, default=3, help="runs per TensorFlow command")
    args = parser.parse_args()
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for command in COMMANDS.values():
        time_once(command)  # warm the file cache
    for round_index in range(args.repeats):
        for name, command in COMMANDS.items():
            if name in SLOW and round_index >= args.slow_repeats:
                continue
            samples[name].append(time_once(command))
    baseline = statistics.median(samples["baseline: python -c pass"])
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"repeats: {args.repeats} (TensorFlow commands: {args.slow_repeats})\n")
    print("| command | median wall time | min | × baseline |")
    print("|---|---:|---:|---:|")
    for name, times in samples.items():
        median = statistics.median(times)
        print(
            f"| `{name}` | {median * 1000:.0f} ms | {min(times) * 1000:.0f} ms | {median / baseline:.1f} |"
        )


if __name__ == "__main__":
    main()
