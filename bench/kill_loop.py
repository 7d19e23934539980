"""The long crash test: SIGKILL a training run at random moments many times, resuming each time.

Usage, from the project root (needs ../shared, like the tests):

    python bench/kill_loop.py [--kills 25] [--seed 7]

Prints the counts recorded in docs/reliability.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_crash import EPOCHS, kill_loop  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=25)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        stats = kill_loop(Path(folder), args.kills, args.seed)
    print(f"{stats['kills']} kills ({stats['during_a_write']} during a file write, "
          f"{stats['between_writes']} between an epoch's model and its state.json), "
          f"{stats['epochs_lost']} finished epochs lost, history {stats['history_rows']} rows for "
          f"{stats['epochs']} of {EPOCHS} epochs, {time.perf_counter() - started:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
