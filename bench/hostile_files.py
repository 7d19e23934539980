"""The long hostile-file run (issue 15): a battery of data, model and run-directory files built to
exhaust memory, hang, lie or silently mean something else, each run through the real CLI.

Every input is real bytes written into one temporary folder: archives holding 1.5 GiB of zeros
(1.6 MB on disk), members and headers that lie about their size, ``.npz`` files of the wrong kind,
NaN, FIFOs, 16-bit and bomb PNGs, PostScript named ``.png``, a damaged decoded-image cache,
``.keras`` files padded, garbled, truncated or a FIFO, and copies of a real 1-epoch run with one
file damaged each. Each goes through ``python -m layerkit`` (``train``, ``evaluate``, ``predict``,
``import``) in a subprocess of its own, started from a small launcher so the peak memory measured
is that command's own (a child forked from this process would report this process's peak), with
a wall-clock timeout and an address-space cap. It prints a markdown table: input, command,
outcome (exit code and the first line of stderr), seconds, peak MB; then a summary line.

A row is handled when it ends as expected: exit 2 with one ``error:`` line on stderr for an input
that cannot be used, exit 0 for a valid one; never a traceback or a timeout. Commands that load
TensorFlow pay its import (the ``import tensorflow`` row gives that cost). Usage, from the
project root:

    python bench/hostile_files.py [--timeout 60] [--memory-gb 4] [--only SUBSTRING]

Figures go in docs/reliability.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# the tests' builders of real hostile files, and their launcher that measures a child's own peak
# (Linux keeps a process's largest resident size across fork and exec: a command forked from this
# process would report this process's peak instead of its own)
from tests.conftest import cifar_files, cifar_subset  # noqa: E402
from tests.test_hostile_commands import keras_archive_naming_no_class  # noqa: E402
from tests.test_hostile_data import (  # noqa: E402
    CRC_ZEROS_1536_MIB,
    LAUNCHER,
    Entry,
    _bomb_png,
    _lying_npz,
    _padded_keras,
    huge_zeros,
    png,
    stored,
    tar_file,
    write_npz,
    write_zip,
    zeros_in_tar_gz,
)

TINY8 = """\
name: tiny8
input: [8, 8, CHANNELS]
layers:
  - conv2d: {filters: 4, kernel_size: 3, padding: same, activation: relu}
  - global_average_pooling2d
  - dense: {units: 2, activation: softmax}
train:
  optimizer: {adam: {learning_rate: 0.01}}
  batch_size: 4
  epochs: 1
  validation_split: 10
  monitor: loss
"""
TINY32 = TINY8.replace("tiny8", "tiny").replace("8, 8, CHANNELS", "32, 32, 3")
TINY32 = TINY32.replace("units: 2", "units: 10").replace("batch_size: 4", "batch_size: 16")


def small_images(per_class: int = 10) -> list[tuple[str, bytes]]:
    """Two classes (cat, dog) of 8x8 RGB PNGs."""
    rng = np.random.default_rng(0)
    return [(f"{name}/{index}.png", png(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)))
            for name in ("cat", "dog") for index in range(per_class)]  # fmt: skip


def image_folder(folder: Path, extra: list[tuple[str, bytes]] = ()) -> Path:
    for name, data in [*small_images(), *extra]:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def images_zip(path: Path, extra: Entry) -> Path:
    """The images and ``extra``: a 1.5 GiB stream of zeros, ZIP_DEFLATED (1.6 MB)."""
    return write_zip(path, [stored(name, data) for name, data in small_images()] + [extra])


def understated(name: str) -> Entry:
    huge = huge_zeros(name)
    return Entry(huge.name, huge.data, 100, huge.crc, huge.method)


def tar_gz_bomb(path: Path) -> None:
    images = b"".join(tar_file(name, data) for name, data in small_images())
    path.write_bytes(zeros_in_tar_gz("notes/big.bin", 1536, CRC_ZEROS_1536_MIB, images, b""))


def label_npz(path: Path) -> None:
    """20 samples, one labelled 2,000,000,000."""
    y = np.arange(20) % 2
    y[7] = 2 * 10**9
    write_npz(path, x_train=np.ones((20, 8, 8, 3), "float32"), y_train=y)


def nan_npz(path: Path) -> None:
    """20 samples, one value NaN, one +inf, one -inf."""
    x = np.ones((20, 8, 8, 3), "float32")
    x[4, 0, 0, 1], x[6, 1, 2, 0], x[6, 3, 3, 2] = np.nan, np.inf, -np.inf
    write_npz(path, x_train=x, y_train=np.arange(20) % 2)


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


# -- the cases -------------------------------------------------------------------------------------
# A builder writes its files into the shared folder (the command's working directory) and gives
# the command's arguments after the Python executable; paths relative to that folder.

Builder = Callable[[Path], list[str]]
BASE = "runs/base"  # the real 1-epoch run, trained by the case built by train_base


def train(data: str, spec: str = "tiny8.yaml") -> list[str]:
    out = "runs/" + "".join(c if c.isalnum() else "_" for c in data)
    return ["-m", "layerkit", "train", spec, "--data", data, "--epochs", "1", "--out", out]


def data_case(make: Callable[[Path], object], data: str, spec: str = "tiny8.yaml") -> Builder:
    def build(folder: Path) -> list[str]:
        make(folder / data)
        return train(data, spec)

    return build


def folder_with(extra: list[tuple[str, bytes]]) -> Callable[[Path], object]:
    return lambda path: image_folder(path, extra)


def folder_with_fifo(path: Path) -> None:
    image_folder(path)
    os.mkfifo(path / "cat" / "x.jpg")


def sixteen_bit(path: Path) -> None:
    """Two classes of 16-bit grey PNGs, levels 20,000 and 50,000 (+300 per image)."""
    for name, level in {"dark": 20_000, "light": 50_000}.items():
        (path / name).mkdir(parents=True)
        for index in range(10):
            values = np.full((8, 8), level + index * 300, dtype=np.uint16)
            Image.fromarray(values).save(path / name / f"{index}.png")


SIXTEEN_CHECK = (
    "from layerkit.data.load import load_dataset\n"
    "x = load_dataset('sixteen', (8, 8, 1)).x\n"
    "differ = x[0, 0, 0, 0] != x[10, 0, 0, 0]\n"
    "print('pixel levels dark', x[0, 0, 0, 0], 'light', x[10, 0, 0, 0], differ and 'differ')\n"
    "raise SystemExit(0 if differ else 1)\n"
)


def damaged_cache(damage: Callable[[Path], None]) -> Builder:
    """A folder decoded once (its cache entry written), then the entry damaged, then trained."""

    def build(folder: Path) -> list[str]:
        from layerkit.data.load import load_dataset

        name = f"cached_{damage.__name__}"
        image_folder(folder / name)
        before = set((folder / "cache").glob("*.npz"))
        load_dataset(str(folder / name), (8, 8, 3))
        (entry,) = set((folder / "cache").glob("*.npz")) - before
        damage(entry)
        return train(name)

    return build


def flipped_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF
    path.write_bytes(bytes(data))


def cut_short(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


def keras_case(make: Callable[[Path], object], name: str, command: str) -> Builder:
    def build(folder: Path) -> list[str]:
        if not (folder / name).exists():
            make(folder / name)
        args = {"evaluate": ["evaluate", name, "--data", "data.tar"],
                "predict": ["predict", name, "a.jpg"],
                "import": ["import", name, "-o", f"imported-{command}.yaml"]}[command]  # fmt: skip
        return ["-m", "layerkit", *args]

    return build


def truncated_model(path: Path) -> None:
    shutil.copy(Path(path).parent / BASE / "model_best.keras", path)
    truncate(path)


def train_base(folder: Path) -> list[str]:
    return ["-m", "layerkit", "train", "tiny.yaml", "--data", "data.tar", "--out", BASE]


def bomb_file(folder: Path) -> list[str]:
    (folder / "bomb.png").write_bytes(_bomb_png(100_000, 100_000))
    return ["-m", "layerkit", "predict", BASE, "bomb.png", "--resize"]


def fifo_in_predict_folder(folder: Path) -> list[str]:
    (folder / "to_predict").mkdir()
    shutil.copy(folder / "a.jpg", folder / "to_predict" / "a.jpg")
    os.mkfifo(folder / "to_predict" / "x.jpg")
    return ["-m", "layerkit", "predict", BASE, "to_predict"]


def damaged_run(slug: str, damage: Callable[[Path], object], command: str) -> Builder:
    """A copy of the real run with one file damaged, through ``train --resume`` or ``evaluate``."""

    def build(folder: Path) -> list[str]:
        run = f"runs/{slug}-{command}"
        shutil.copytree(folder / BASE, folder / run)
        damage(folder / run)
        if command == "resume":
            return ["-m", "layerkit", "train", "--resume", run, "--epochs", "2"]
        return ["-m", "layerkit", "evaluate", run]

    return build


RUN_DAMAGE: list[tuple[str, str, Callable[[Path], object]]] = [
    ("checkpoint truncated", "ckpt", lambda run: truncate(run / "checkpoints/epoch-0001.keras")),
    ("state.json empty", "state", lambda run: (run / "state.json").write_text("")),
    ("setup.json not JSON", "setup", lambda run: (run / "setup.json").write_text("source: x")),
    ("history.csv garbage", "history",
     lambda run: (run / "history.csv").write_bytes(b"%PDF-1.4\x00\x01\xff")),
    ("lock is a folder", "lock", lambda run: (run / "lock").mkdir()),
    ("spec.yaml missing", "spec", lambda run: (run / "spec.yaml").unlink()),
]  # fmt: skip
# where the damage leaves a valid input for that command: evaluate reads the best model and the
# records it needs (state, setup, environment), not the checkpoint, the history or spec.yaml, and
# takes no lock
VALID_FOR_EVALUATE = {"ckpt", "lock", "history", "spec"}

KERAS_FILES: list[tuple[str, Callable[[Path], object], str]] = [
    (".keras: config.json 1.5 GiB of spaces (1.6 MB)", _padded_keras, "padded.keras"),
    (".keras: config names no real class", keras_archive_naming_no_class, "garbage.keras"),
    (".keras: the real model cut in half", truncated_model, "truncated.keras"),
    ("FIFO named `model.keras`", os.mkfifo, "model.keras"),
]
ERROR, VALID = "2", "0"
CASES: list[tuple[str, Builder, str]] = [
    ("baseline: `import tensorflow`", lambda folder: ["-c", "import tensorflow"], VALID),
    ("baseline: `layerkit --version`", lambda folder: ["-m", "layerkit", "--version"], VALID),
    ("zip: images + 1.5 GiB zero member (1.6 MB deflated)",
     data_case(lambda p: images_zip(p, huge_zeros("notes/big.bin")), "big.zip"), VALID),
    ("zip: member declares 100 B, inflates to 1.5 GiB",
     data_case(lambda p: images_zip(p, understated("dog/liar.png")), "liar.zip"), ERROR),
    ("zip: image member declared 1.5 GiB (limit 64 MiB)",
     data_case(lambda p: images_zip(p, huge_zeros("dog/huge.png")), "huge.zip"), ERROR),
    (".tar.gz bomb: images + 1.5 GiB of zeros (1.6 MB)", data_case(tar_gz_bomb, "bomb.tar.gz"),
     ERROR),
    (".npz: one label 2×10⁹", data_case(label_npz, "label.npz"), ERROR),
    (".npz: header claims (10⁶, 10⁶) float64 = 8 TB", data_case(lambda p: _lying_npz(p, (10**6, 10**6)), "liar.npz"), ERROR),
    (".npz: object array", data_case(lambda p: write_npz(
        p, x_train=np.array([{"a": 1}, None], dtype=object), y_train=np.array([0, 1])),
        "object.npz"), ERROR),
    (".npz: 0-d x_train", data_case(lambda p: write_npz(
        p, x_train=np.array(3.0), y_train=np.array(1)), "zero_d.npz"), ERROR),
    (".npz: string x_train", data_case(lambda p: write_npz(
        p, x_train=np.array(["a", "b"]), y_train=np.array([0, 1])), "text.npz"), ERROR),
    (".npz: NaN and ±inf in x_train", data_case(nan_npz, "nan.npz"), ERROR),
    ("FIFO as `--data data.zip`", data_case(os.mkfifo, "data.zip"), ERROR),
    ("image folder with a FIFO named `cat/x.jpg`", data_case(folder_with_fifo, "fifo_folder"),
     VALID),
    ("16-bit grey PNGs (levels 20,000 / 50,000): levels",
     lambda folder: sixteen_bit(folder / "sixteen") or ["-c", SIXTEEN_CHECK], VALID),
    ("16-bit grey PNGs: train",
     lambda folder: train("sixteen", "tiny8_grey.yaml"), VALID),
    ("PNG header 100000×100000 in an image folder",
     data_case(folder_with([("dog/bomb.png", _bomb_png(100_000, 100_000))]), "bomb_folder"), ERROR),
    ("PostScript named `cat/vector.png`", data_case(folder_with(
        [("cat/vector.png", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nshowpage\n")]),
        "ps_folder"), ERROR),
    ("decoded-image cache: one byte flipped", damaged_cache(flipped_byte), VALID),
    ("decoded-image cache: cut to 100 bytes", damaged_cache(cut_short), VALID),
    ("real run: tiny spec, 50 CIFAR-10 images, 1 epoch", train_base, VALID),
    *[(label, keras_case(make, name, command), ERROR)
      for label, make, name in KERAS_FILES for command in ("evaluate", "predict", "import")],
    ("predict: PNG header 100000×100000", bomb_file, ERROR),
    ("predict: folder with an image and a FIFO `x.jpg`", fifo_in_predict_folder, VALID),
    *[(f"run: {name}", damaged_run(slug, damage, command),
       VALID if command == "evaluate" and slug in VALID_FOR_EVALUATE else ERROR)
      for name, slug, damage in RUN_DAMAGE for command in ("resume", "evaluate")],
]  # fmt: skip


def prepare(folder: Path) -> None:
    """What the cases share: the tiny specs, real CIFAR-10 images and one to predict."""
    (folder / "tiny8.yaml").write_text(TINY8.replace("CHANNELS", "3"))
    (folder / "tiny8_grey.yaml").write_text(TINY8.replace("CHANNELS", "1"))
    (folder / "tiny.yaml").write_text(TINY32)
    cifar_subset(folder / "data.tar", 5)
    (folder / "a.jpg").write_bytes(cifar_files(1)[0][1])


# -- running one case ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    code: int | None  # None: timed out
    stdout: str
    stderr: str
    seconds: float
    peak_mb: float

    def handled(self, expect: str) -> bool:
        if self.code is None or "Traceback" in self.stderr:
            return False
        if expect == VALID:
            return self.code == 0
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return self.code == 2 and len(lines) == 1 and lines[0].startswith("error:")


def run_case(folder: Path, args: list[str], timeout: float, memory: int) -> Result:
    """Run ``python ARGS`` in ``folder`` from the launcher; killed (its whole group) past
    ``timeout``; its address space capped at ``memory`` bytes."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3",
           "LAYERKIT_CACHE": str(folder / "cache")}  # fmt: skip
    peak_file = folder / ".peak"
    peak_file.unlink(missing_ok=True)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        child = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(peak_file), sys.executable,
                                  *args], stdout=out, stderr=err, cwd=folder, env=env,
                                 preexec_fn=limit, start_new_session=True)  # fmt: skip
        try:
            code: int | None = child.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            code = None
        seconds = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = (stream.read().decode(errors="replace") for stream in (out, err))
    peak = int(peak_file.read_text()) / 1024 if peak_file.exists() else float("nan")
    return Result(code, stdout, stderr, seconds, peak)


def outcome(result: Result, expect: str, folder: Path, most: int = 140) -> str:
    def short(line: str) -> str:
        line = line.replace(str(folder) + "/", "").replace(str(folder), ".").replace("|", "\\|")
        return line if len(line) <= most else line[: most - 3] + "..."

    lines = [line for line in result.stderr.splitlines() if line.strip()]
    if result.code is None:
        text = "TIMEOUT"
    elif "Traceback" in result.stderr:
        text = f"exit {result.code}: TRACEBACK: {short(lines[-1])}"
    elif lines:
        more = f" (+{len(lines) - 1} more stderr lines)" if len(lines) > 1 else ""
        text = f"exit {result.code}: {short(lines[0])}{more}"
    else:
        printed = [line.strip() for line in result.stdout.splitlines() if line.strip()]
        done = [line for line in printed if line.startswith("done:")]  # train
        scores = [line for line in printed if "accuracy" in line]  # evaluate
        shown = (done or scores or printed[-1:] or [""])[0]  # predict: its last image
        text = f"exit {result.code}" + (f": {short(shown)}" if shown else "")
    return text if result.handled(expect) else f"**UNEXPECTED (want exit {expect})** {text}"


def command_text(args: list[str]) -> str:
    if args[:2] == ["-m", "layerkit"]:
        return "`layerkit " + " ".join(args[2:]) + "`"
    return "python check" if args[0] == "-c" and "layerkit" in args[1] else "`python -c ...`"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per case")
    parser.add_argument("--memory-gb", type=float, default=4.0, help="address-space cap")
    parser.add_argument("--only", default="", help="run the cases whose name holds this")
    options = parser.parse_args()
    memory = int(options.memory_gb * 1024**3)
    results: list[tuple[str, Result, str]] = []
    print("| input | command | outcome | seconds | peak MB |")
    print("|---|---|---|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="hostile-files-") as name:
        folder = Path(name)
        os.environ["LAYERKIT_CACHE"] = str(folder / "cache")  # the builders' own loads too
        prepare(folder)
        selected = [case for case in CASES if options.only in case[0]]
        if any(needs_base(case) for case, _, _ in selected):  # the real run goes first
            selected = [case for case in CASES if case[1] is train_base or case in selected]
        for case, build, expect in selected:
            if needs_base(case) and not (folder / BASE / "state.json").exists():
                print(f"| {case} | | skipped: the real run was not trained | | |", flush=True)
                continue
            args = build(folder)
            result = run_case(folder, args, options.timeout, memory)
            results.append((case, result, expect))
            print(f"| {case} | {command_text(args)} | {outcome(result, expect, folder)} | "
                  f"{result.seconds:.2f} | {result.peak_mb:.0f} |", flush=True)  # fmt: skip
    print()
    print(summary(results, options.timeout))


def needs_base(case: str) -> bool:
    """Whether a case uses the real run (its model or a copy of its folder)."""
    return case.startswith(("run:", "predict:")) or "real model" in case


def summary(results: list[tuple[str, Result, str]], timeout: float) -> str:
    rows = [(case, result) for case, result, _ in results if not case.startswith("baseline")]
    handled = sum(result.handled(expect) for case, result, expect in results
                  if not case.startswith("baseline"))  # fmt: skip
    slowest = max(rows, key=lambda row: row[1].seconds, default=("-", None))
    largest = max(rows, key=lambda row: row[1].peak_mb, default=("-", None))
    tracebacks = [case for case, result in rows if "Traceback" in result.stderr]
    timeouts = [case for case, result in rows if result.code is None]
    over_10 = [case for case, result in rows if result.seconds > 10]
    over_gb = [case for case, result in rows if result.peak_mb > 1024]
    parts = [f"{len(rows)} inputs, {handled} handled as expected (exit 2 with one `error:` line, "
             "or exit 0 where the input is valid)"]  # fmt: skip
    if slowest[1] is not None:
        parts.append(f"max {slowest[1].seconds:.1f} s ({slowest[0]})")
        parts.append(f"max peak {largest[1].peak_mb:.0f} MB ({largest[0]})")
    for label, cases in [("tracebacks", tracebacks), (f"timeouts ({timeout:.0f} s)", timeouts),
                         ("over 10 s", over_10), ("over 1 GB", over_gb)]:  # fmt: skip
        parts.append(f"{label}: {len(cases)}" + (f" ({'; '.join(cases)})" if cases else ""))
    for case, result, _ in results:
        if case == "baseline: `import tensorflow`":
            parts.append(f"TensorFlow's import alone: {result.seconds:.1f} s, "
                         f"{result.peak_mb:.0f} MB")  # fmt: skip
    return "Summary: " + "; ".join(parts) + "."


if __name__ == "__main__":
    main()
