"""The long hostile-spec run (issue 15): a battery of specs built to make reading them costly.

Each spec (expression bombs, includes that include each other many times, a megabyte of unknown
layer names, alias bombs, deep nesting, numbers and text YAML cannot hold, unsafe names …) goes
through ``python -m layerkit validate`` (one through ``build``) in a subprocess of its own, with
a wall-clock timeout and an address-space cap. For each it measures the seconds taken and the
child's peak memory (``ru_maxrss``), and prints a markdown table: input, outcome, seconds, peak
MB. An outcome is the first line the command printed, ``TIMEOUT``, or ``TRACEBACK``.
Usage, from the project root:

    python bench/hostile_specs.py [--timeout 30] [--memory-gb 4] [--only SUBSTRING]

Figures go in docs/reliability.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
Writer = Callable[[Path], str]  # writes a case's files into a folder; gives the spec's file name


def _spec(text: str) -> Writer:
    def write(folder: Path) -> str:
        (folder / "net.yaml").write_text(text, encoding="utf-8")
        return "net.yaml"

    return write


def _dense(units: str) -> Writer:
    return _spec(f"input: [4]\nlayers:\n  - dense: {{units: {units}}}\n")


def _include_bomb(folder: Path) -> str:
    for name, target in (("a.yaml", "b.yaml"), ("b.yaml", "c.yaml")):
        (folder / name).write_text("include:\n" + f"  - {target}\n" * 1000)
    (folder / "c.yaml").write_text("vars: {}\n" + "#" * 12_000 + "\n")
    (folder / "net.yaml").write_text("include: a.yaml\ninput: [4]\nlayers: [flatten]\n")
    return "net.yaml"


def _many_includes(folder: Path) -> str:
    (folder / "small.yaml").write_text("description: small\n")
    (folder / "net.yaml").write_text(
        "include:\n" + "  - small.yaml\n" * 2000 + "input: [4]\nlayers: [flatten]\n"
    )
    return "net.yaml"


def _secret(folder: Path) -> str:
    (folder / "secret.txt").write_text("API_KEY=sk-very-secret-value-12345\n")
    (folder / "net.yaml").write_text("include: secret.txt\ninput: [4]\nlayers: [flatten]\n")
    return "net.yaml"


def _unknown_layers(count: int) -> Writer:
    names = "".join(f"  - nolayer{index:06d}\n" for index in range(count))
    return _spec("input: [4]\nlayers:\n" + names)


def _alias_bomb() -> Writer:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    return _spec("\n".join(lines) + "\ninput: [4]\nlayers: [flatten]\n")


def _with_vars(var_count: int, layer_count: int) -> Writer:
    variables = "".join(f"  v{index}: {index}\n" for index in range(var_count))
    layers = '  - dense: {units: "${v1 + 1}"}\n' * layer_count
    return _spec(f"vars:\n{variables}input: [4]\nlayers:\n{layers}")


def _block_uses(var_count: int, uses: int) -> Writer:
    variables = "".join(f"  v{index}: {index}\n" for index in range(var_count))
    block = 'blocks:\n  unit:\n    params: [n]\n    layers:\n      - dense: {units: "${n}"}\n'
    layers = "  - unit: {n: 2}\n" * uses
    return _spec(f"vars:\n{variables}{block}input: [4]\nlayers:\n{layers}")


def _large_var(size: int, uses: int) -> Writer:
    values = ", ".join(["1"] * size)
    return _spec(
        f"vars: {{big: [{values}]}}\ninput: [4]\nlayers:\n"
        f'  - repeat: {uses}\n    layers:\n      - dense: {{units: "${{min(big) + 1}}"}}\n'
    )


def _shared(count: int) -> Writer:
    shared = "  - shared: {layer: first}\n" * count
    return _spec(f"input: [4]\nlayers:\n  - dense: {{units: 4, id: first}}\n{shared}")


def _bad_refs(count: int) -> Writer:
    items = "".join(
        f"  - dense: {{units: 2, id: layer{index}, inputs: [nosuch]}}\n" for index in range(count)
    )
    return _spec("input: [4]\nlayers:\n" + items)


def _fan_out(folder: Path) -> str:
    lines = ["blocks:", "  b0:", "    layers: [nosuch]"]
    for level in range(1, 31):
        lines += [f"  b{level}:", f"    layers: [b{level - 1}, b{level - 1}]"]
    (folder / "net.yaml").write_text("\n".join([*lines, "input: [4]", "layers: [b30]", ""]))
    return "net.yaml"


def _nested_repeats(leaf: str) -> Writer:
    repeats = "".join(
        f"{'  ' * (2 * depth + 1)}- repeat: 1000\n{'  ' * (2 * depth + 2)}layers:\n"
        for depth in range(3)
    )
    return _spec(f"input: [4]\nlayers:\n{repeats}{'  ' * 7}- {leaf}\n")


def _repeated_expression(folder: Path) -> str:
    values = ", ".join(["1"] * 9000)
    (folder / "net.yaml").write_text(
        f"vars: {{big: [{values}]}}\ninput: [4]\nlayers:\n  - repeat: 1000\n    layers:\n"
        '      - repeat: 100\n        layers:\n          - dense: {units: "${str(big)}"}\n'
    )
    return "net.yaml"


def _pipe(folder: Path) -> str:
    os.mkfifo(folder / "pipe.yaml")
    (folder / "net.yaml").write_text("include: pipe.yaml\ninput: [4]\nlayers: [flatten]\n")
    return "net.yaml"


CASES: list[tuple[str, Writer, str]] = [
    ("`${[[[1]*9999]*9999]*9999}`", _dense('"${[[[1]*9999]*9999]*9999}"'), "validate"),
    ("`${str([[[1]*9999]*9999]*9999)}`", _dense('"${str([[[1]*9999]*9999]*9999)}"'), "validate"),
    ("`${9999 * [[1] * 9999]}`", _dense('"${9999 * [[1] * 9999]}"'), "validate"),
    ("`${round(123456789, -10**9)}`", _dense('"${round(123456789, -10**9)}"'), "validate"),
    ("`${10**10**6}`", _dense('"${10**10**6}"'), "validate"),
    ("`${'%0999999999d' % 1}`", _dense("\"${'%0999999999d' % 1}\""), "validate"),
    ("500-digit number in `${...}`", _dense('"${' + "9" * 500 + '}"'), "validate"),
    ("`${make_divisible(10, 0)}`", _dense('"${make_divisible(10, 0)}"'), "validate"),
    (
        "text of 200,000 `${s}` (s: 10 chars)",
        _spec(
            "vars: {s: abcdefghij}\ninput: [4]\nlayers:\n"
            f'  - dense: {{units: 2, name: "{"${s}" * 200_000}"}}\n'
        ),
        "validate",
    ),
    ("3 files each including the next 1,000 times", _include_bomb, "validate"),
    ("2,000 includes of one small file", _many_includes, "validate"),
    ("include of a secret .txt file", _secret, "validate"),
    ('include path with NUL (`"a\\0b.yaml"`)', _spec('include: "a\\0b.yaml"\ninput: [4]\nlayers: [flatten]\n'), "validate"),
    ("include path of 5,000 characters", _spec(f"include: {'x' * 5000}.yaml\ninput: [4]\nlayers: [flatten]\n"), "validate"),
    ("90,000 unknown layer names (1 MB)", _unknown_layers(90_000), "validate"),
    ("20,000 layers with an `inputs:` to nothing", _bad_refs(20_000), "validate"),
    ("5,000 `shared:` uses of one layer", _shared(5_000), "validate"),
    ("10,000 vars, 9,000 layers using one", _with_vars(10_000, 9_000), "validate"),
    ("10,000 vars, 9,000 uses of a block", _block_uses(10_000, 9_000), "validate"),
    ("9,000-element var read 1,000 times", _large_var(9_000, 1000), "validate"),
    ("blocks using the one below twice, 30 deep, over an unknown layer", _fan_out, "validate"),
    ("3 nested `repeat: 1000` of an unknown layer", _nested_repeats("nosuch"), "validate"),
    ("`${str(big)}` (9,000 elements) in 100,000 repeat passes", _repeated_expression, "validate"),
    ("include of a named pipe", _pipe, "validate"),
    ("YAML alias bomb (9 levels of 9)", _alias_bomb(), "validate"),
    ("10,000 nested `[`", _spec("input: [4]\nlayers: " + "[" * 10_000 + "]" * 10_000 + "\n"), "validate"),
    ("`!!int abc`", _dense("!!int abc"), "validate"),
    ("`<<: !!tag x`", _spec("input: [4]\nlayers:\n  - dense:\n      <<: !!tag x\n"), "validate"),
    ("integer of 5,000 digits", _dense("9" * 5000), "validate"),
    ("lone surrogate `\"\\ud800\"`", _spec('name: "\\ud800"\ninput: [4]\nlayers: [flatten]\n'), "validate"),
    ("`name: ../../x`", _spec("name: ../../x\ninput: [4]\nlayers: [flatten]\n"), "validate"),
    ("`units:` of 4,000 digits, `build`", _dense("9" * 4000), "build"),
    ("`units: 3000000000`", _dense("3000000000"), "validate"),
    ("spec of 3 MB", _spec("#" * 3_000_000 + "\n"), "validate"),
]  # fmt: skip


def run_case(
    folder: Path, writer: Writer, command: str, timeout: float, memory: int
) -> tuple[str, float, float]:
    """(outcome, seconds, peak MB) of one case, run in a subprocess."""
    spec = writer(folder)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    with open(folder / "stderr.txt", "wb") as stderr:
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", "layerkit", command, spec],
            cwd=folder,
            env=env,
            stdout=stderr,
            stderr=stderr,
            preexec_fn=limit,
        )
        timed_out = False
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - started > timeout:
                process.kill()
                _, status, usage = os.wait4(process.pid, 0)
                timed_out = True
                break
            time.sleep(0.01)
        seconds = time.monotonic() - started
    output = (folder / "stderr.txt").read_text(errors="replace")
    peak = usage.ru_maxrss / 1024  # kilobytes on Linux
    if timed_out:
        return f"TIMEOUT after {timeout:.0f} s", seconds, peak
    if "Traceback" in output:
        return f"TRACEBACK: {output.strip().splitlines()[-1][:100]}", seconds, peak
    first = output.strip().splitlines()[0] if output.strip() else f"exit {status >> 8}"
    return _shorten(first), seconds, peak


def _shorten(line: str, most: int = 150) -> str:
    line = line.replace("|", "\\|")
    return line if len(line) <= most else line[: most - 3] + "..."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per case")
    parser.add_argument("--memory-gb", type=float, default=4.0, help="address-space cap")
    parser.add_argument("--only", default="", help="run the cases whose name holds this")
    options = parser.parse_args()
    memory = int(options.memory_gb * 1024**3)
    print("| input | command | outcome | seconds | peak MB |")
    print("|---|---|---|---:|---:|")
    for name, writer, command in CASES:
        if options.only not in name:
            continue
        with tempfile.TemporaryDirectory() as folder:
            outcome, seconds, peak = run_case(
                Path(folder), writer, command, options.timeout, memory
            )
        print(f"| {name} | {command} | {outcome} | {seconds:.2f} | {peak:.0f} |", flush=True)


if __name__ == "__main__":
    main()
