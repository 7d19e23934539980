"""How results reach the terminal: a stage's result in (a Summary, each variant's Summary, a
validated Plan, an evaluation, predictions, a training result), text on stdout out — a rich table
on a terminal, plain text in a pipe or with ``--plain``, one JSON object with ``--json`` — and
what a stage has to say besides (warnings, download progress) on stderr.

Also keeps TensorFlow's start-up notes off the terminal when a command imports Keras.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from ..safe_text import safe_lines, safe_text

if TYPE_CHECKING:
    from rich.console import Console


def make_console(plain: bool, stderr: bool = False) -> Console:
    """A console on stdout (results), or on stderr (``stderr``: progress and messages): rich on
    a terminal, plain and 200 columns wide in a pipe or with ``plain``."""
    from rich.console import Console

    from ..model.render import theme

    console = Console(theme=theme(), highlight=False, stderr=stderr)
    if plain or not console.is_terminal:
        # a pipe or a file has no width to fit: keep lines whole rather than wrap at 80
        console = Console(theme=theme(), highlight=False, color_system=None, no_color=True,
                          width=200, stderr=stderr)  # fmt: skip
    return console


def import_keras_quietly() -> None:
    """Import Keras (and TensorFlow) with TensorFlow's C++ start-up notes kept off the terminal.

    TensorFlow writes "Could not find cuda drivers" and oneDNN notes straight to file descriptor 2
    before its log level applies; they are not for our users. Python errors still surface.
    """
    if "keras" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def say(text: str, err: bool = False) -> None:
    """One line for people, on stdout (or stderr), with anything from a spec or a file in it
    made safe for a terminal (see ``console.safe_text``)."""
    click.echo(safe_text(text), err=err)


def warn(text: str) -> None:
    """What a stage has to say besides its result (a warning, a download's start and end): a
    line on stderr, made safe for a terminal."""
    click.echo(safe_lines(text), err=True)


@contextmanager
def download_progress(console: Console, enabled: bool) -> Iterator[Any]:
    """A progress bar for a dataset download on a terminal; None elsewhere (the download then
    says where it starts and ends through :func:`warn`, on stderr)."""
    if not enabled:
        yield None
        return
    from rich.markup import escape
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn(), TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, console=console, transient=False) as bar:
        tasks: dict[str, Any] = {}

        def advance(url: str, done: int, total: int | None) -> None:
            if url not in tasks:
                name = escape(safe_text(url.rsplit("/", 1)[-1]))  # a description is markup
                tasks[url] = bar.add_task(f"downloading {name}", total=total)
            bar.update(tasks[url], completed=done)

        yield advance


def print_summary(summary: Any, plain: bool, as_json: bool) -> None:
    """``build``'s result: the checked summary as a table, plain text or JSON."""
    from ..model.render import render_json, render_plain, render_table

    if as_json:
        click.echo(render_json(summary), nl=False)
        return
    console = make_console(plain)
    if console.no_color:
        click.echo(render_plain(summary), nl=False)
    else:
        console.print(render_table(summary, console.width))


def print_variants(results: list[Any], spec: Any, plain: bool, as_json: bool) -> None:
    """``build --all-variants``' result: one checked line per variant of ``spec`` (see
    ``variant_table``)."""
    from .variant_table import render_json, render_plain, render_table

    if as_json:
        click.echo(render_json(results, spec.name), nl=False)
        return
    console = make_console(plain)
    if console.no_color:
        click.echo(render_plain(results, spec.name, spec.file), nl=False)
    else:
        console.print(render_table(results, spec.name, spec.file))


def print_validated(plan: Any, as_json: bool) -> None:
    """``validate``'s result: the spec is valid, with its name and number of layers."""
    if as_json:
        click.echo(json.dumps({"ok": True, "file": plan.spec.file, "layers": len(plan.layers)}))
    else:
        count = len(plan.layers)
        say(
            f"✓ {plan.spec.file}: valid spec '{plan.spec.name}' ({count} layer{'s' * (count != 1)})"
        )


def print_evaluation(result: dict, plain: bool, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result))
        return
    from ..model.render import render_evaluation

    console = make_console(plain)
    console.print(render_evaluation(result, console.no_color))


def print_predictions(results: list[dict], plain: bool, as_json: bool) -> None:
    """``predict``'s result: a table, or one JSON object ``{"predictions": [{"file": …, "top":
    [{"class": …, "probability": …}, …]}, …]}``."""
    if as_json:
        click.echo(json.dumps({"predictions": results}))
        return
    from ..model.render import render_predictions

    console = make_console(plain)
    console.print(render_predictions(results, console.no_color))


def report_training(result: Any, as_json: bool) -> int:
    """How a training run ended, on stdout (JSON: the ``end`` event) and stderr; gives the exit
    code: 0 done, 1 failed (the last good epoch kept), 130 interrupted."""
    from ..runs.rounding import float32_short

    best = result.best_metrics
    if as_json:
        end = {"event": "end", "status": result.status, "epochs_done": result.epochs_done,
               "run": str(result.run.path), "best_epoch": result.best_epoch,
               "best": float32_short(best), "reason": result.reason}  # fmt: skip
        click.echo(json.dumps(end))
    summary = ", ".join(
        f"{key} {value:.4f}" for key, value in best.items() if key.startswith("val_")
    )
    if result.status == "interrupted":
        say(
            f"stopped after {_epochs(result.epochs_done)}; continue with: layerkit train --resume {result.run.path}",
            err=True,
        )
        return 130
    if result.status == "failed":
        kept = (
            f"the last good epoch ({result.epochs_done}) is kept in {result.run.path}"
            if result.epochs_done
            else f"no epoch finished, so {result.run.path} holds no checkpoint"
        )
        say(f"error: training stopped: {result.reason}; {kept}", err=True)
        return 1
    if as_json:
        return 0
    if result.status in ("reached target", "stopped early"):  # train.target, train.early_stopping
        say(f"stopped early: {result.reason}")
    say(
        f"done: {_epochs(result.epochs_done)} in {result.run.path}"
        + (f"; best {summary} (epoch {result.best_epoch})" if summary else "")
    )
    return 0


def _epochs(count: int) -> str:
    """``1 epoch``, ``3 epochs``."""
    return f"{count} epoch" if count == 1 else f"{count} epochs"
