"""What ``layerkit tune`` shows: a line per trial as it ends, then every trial and the best values.

Takes the :class:`~layerkit.tuning.study.TuneResult` (and each
:class:`~layerkit.tuning.study.TrialRecord` as it ends); gives the trial lines (messages, on
stderr), and on stdout the table of trials sorted by the metric — rich on a terminal, plain text
otherwise, or one JSON object with ``--json`` — and the best values as a line of ``--set``
options to paste back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..safe_text import safe_lines, safe_text
from ..tuning.search_space import format_value
from ..tuning.study import TrialRecord, TuneResult, best_line, format_value_metric
from .output import make_console, warn


def _params(trial: TrialRecord) -> str:
    return " ".join(f"{name}={format_value(value)}" for name, value in trial.params.items())


def trial_line(trial: TrialRecord, metric: str) -> str:
    """``trial 3 finished: val_accuracy 0.4120 width=48 … (runs/…/trial-003)``."""
    epochs = f" after {trial.epochs} epoch{'s' * (trial.epochs != 1)}" if trial.epochs else ""
    shown = f"{metric} {format_value_metric(trial.value)}"
    return f"trial {trial.number} {trial.status}{epochs}: {shown}  {_params(trial)}  ({trial.run})"


def report_trial(trial: TrialRecord, metric: str) -> None:
    warn(trial_line(trial, metric))


def _rows(result: TuneResult) -> tuple[list[str], list[list[str]]]:
    names = list(dict.fromkeys(name for trial in result.trials for name in trial.params))
    header = ["trial", "status", result.metric, *names, "epochs", "run"]
    rows = [
        [
            str(trial.number),
            trial.status,
            format_value_metric(trial.value),
            *(format_value(trial.params[name]) if name in trial.params else "-" for name in names),
            str(trial.epochs or "-"),
            Path(trial.run).name if trial.run else "-",
        ]
        for trial in result.ranked
    ]
    return header, rows


def render_plain(result: TuneResult) -> str:
    header, rows = _rows(result)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in [header, *rows]]  # fmt: skip
    return "\n".join(lines) + "\n"


def _table_width(result: TuneResult) -> int:
    """The columns the table needs to show every value whole: each column's widest value (or
    its header, folded to 8 characters at most), three more for its padding and rule, and the
    closing rule."""
    header, rows = _rows(result)
    widths = [
        max(min(len(name), 8), *(len(row[index]) for row in rows))
        for index, name in enumerate(header)
    ]
    return sum(width + 3 for width in widths) + 1


def _render_table(result: TuneResult) -> Any:
    from rich.table import Table

    header, rows = _rows(result)
    table = Table(title=f"{result.spec}: {len(result.trials)} trials, by {result.metric}")
    for index, name in enumerate(header):
        widest = max((len(row[index]) for row in rows), default=1)
        table.add_column(  # values whole (a narrow terminal folds the long headers instead)
            name, justify="right" if index in (0, 2) else "left", overflow="fold",
            min_width=widest,
        )  # fmt: skip
    for row in rows:
        table.add_row(*(safe_text(cell) for cell in row))
    return table


def as_json(result: TuneResult) -> dict[str, Any]:
    best = result.best
    return {
        "study": str(result.out / "study.db"),
        "out": str(result.out),
        "spec": result.spec,
        "metric": result.metric,
        "direction": result.direction,
        "new_trials": result.new,
        "interrupted": result.interrupted,
        "trials": [
            {
                "number": trial.number,
                "status": trial.status,
                "value": trial.value,
                "params": trial.params,
                "set": list(trial.overrides),
                "epochs": trial.epochs,
                "run": trial.run,
            }
            for trial in result.ranked
        ],
        "best": None
        if best is None
        else {
            "number": best.number,
            "value": best.value,
            "params": best.params,
            "set": list(best.overrides),
        },
    }


def print_tune(result: TuneResult, plain: bool, json_output: bool) -> None:
    """The trials, best first, and the best values as ``--set`` options (stdout)."""
    if json_output:
        click.echo(json.dumps(as_json(result)))
        return
    console = make_console(plain)
    if console.no_color or console.width < _table_width(result):
        # plain lines on a terminal too narrow for the table: it would fold or cut the values
        click.echo(safe_lines(render_plain(result)), nl=False)
    else:
        console.print(_render_table(result))
    line = best_line(result)
    click.echo(safe_text(line) if line else f"no trial finished with a {result.metric} value")
    if result.interrupted:
        warn(f"interrupted: run the same command (with --out {result.out}) to continue")
