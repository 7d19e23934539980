"""How ``layerkit runs`` shows its result: the runs ``layerkit.runs.listing`` found (a list of
:class:`~layerkit.runs.listing.RunInfo`) in; a rich table on a terminal, aligned plain text in a
pipe or with ``--plain``, or one JSON object with ``--json`` out, on stdout. A damaged run is a
row whose status is ``damaged``, its problem on a line under the table.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..runs.listing import DEFAULT_ROOT, RunInfo, duration_text, list_runs, root_problem
from ..safe_text import safe_text
from .errors import UserError

HEADER = ("run", "spec", "status", "epochs", "best", "last val_accuracy", "started", "time")
RIGHT = {"epochs", "last val_accuracy", "time"}
NO_WRAP = {"status", "epochs", "last val_accuracy", "time"}
STATUS_STYLE = {"running": "cyan", "finished": "green", "reached target": "green",
                "stopped early": "green", "interrupted": "yellow", "pruned": "yellow",
                "failed": "red", "damaged": "red"}  # fmt: skip


def run_cells(run: RunInfo) -> list[str]:
    """One run's row, as text."""
    spec = run.spec or "?"
    if run.variant:
        spec += f" ({run.variant})"
    epochs = f"{run.epochs}/{run.planned}" if run.planned is not None else str(run.epochs)
    best = ""
    if run.monitor and run.best is not None:
        best = f"{run.monitor} {run.best:.4f} (epoch {run.best_epoch})"
    last = f"{run.last_val_accuracy:.4f}" if run.last_val_accuracy is not None else ""
    started = (run.started or "").replace("T", " ")[:16]
    cells = [
        str(run.path),
        spec,
        run.status,
        epochs,
        best,
        last,
        started,
        duration_text(run.seconds),
    ]
    return [safe_text(cell) for cell in cells]


def problems(runs: list[RunInfo]) -> list[str]:
    return [safe_text(f"{run.path}: {run.problem}") for run in runs if run.problem]


def render_plain(runs: list[RunInfo]) -> str:
    """The runs as aligned columns, one line per run, then each damaged run's problem."""
    lines = [list(HEADER)] + [run_cells(run) for run in runs]
    widths = [max(len(line[column]) for line in lines) for column in range(len(HEADER))]
    out = []
    for line in lines:
        cells = [cell.rjust(width) if name in RIGHT else cell.ljust(width)
                 for cell, width, name in zip(line, widths, HEADER, strict=True)]  # fmt: skip
        out.append("  ".join(cells).rstrip())
    return "\n".join(out + problems(runs)) + "\n"


def render_table(runs: list[RunInfo], width: int = 120) -> Any:
    """The runs as a rich table, each damaged run's problem under it. Where the columns do not
    fit ``width`` (the console's), none is left out: each run takes two lines, its path, status,
    epochs and time, then its spec, best metric, last val_accuracy and start under the path."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    rows = [run_cells(run) for run in runs]
    natural = [max(len(line[i]) for line in [list(HEADER), *rows]) + 2 for i in range(len(HEADER))]
    stacked = sum(natural) > width
    shown = ("run", "status", "epochs", "time") if stacked else HEADER
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for name in shown:  # paths and names wrap; a status or a number never does
        table.add_column(name, justify="right" if name in RIGHT else "left",
                         overflow="fold", no_wrap=name in NO_WRAP)  # fmt: skip
    for run, cells in zip(runs, rows, strict=True):
        by_name = dict(zip(HEADER, cells, strict=True))
        texts = {name: Text(cell) for name, cell in by_name.items()}
        texts["status"].stylize(STATUS_STYLE.get(run.status, ""))
        if stacked:
            details = [by_name["spec"], by_name["best"] and f"best {by_name['best']}",
                       by_name["last val_accuracy"] and f"last val_accuracy {by_name['last val_accuracy']}",
                       by_name["started"] and f"started {by_name['started']}"]  # fmt: skip
            under = Text(" · ".join(part for part in details if part), style="dim")
            texts["run"] = Text.assemble(texts["run"], "\n", under)
        table.add_row(*[texts[name] for name in shown])
    notes = [Text(line, style="red") for line in problems(runs)]
    return Group(table, *notes)


def render_json(root: Path, runs: list[RunInfo]) -> str:
    return json.dumps({"root": str(root), "runs": [run.as_json() for run in runs]}) + "\n"


def empty_line(root: Path) -> str:
    return safe_text(f"no runs in '{root}'; train one with: layerkit train SPEC")


def show_runs(folder: Path | None, plain: bool, as_json: bool) -> None:
    """``layerkit runs``: the runs in ``folder`` (./runs by default) on stdout; a folder that is
    not there is one ``error:`` line (exit 2)."""
    from .output import make_console

    root = folder if folder is not None else DEFAULT_ROOT
    problem = root_problem(root)
    if problem is not None and not (folder is None and not root.exists()):
        raise UserError(problem, as_json)
    runs = list_runs(root) if problem is None else []
    if as_json:
        click.echo(render_json(root, runs), nl=False)
    elif not runs:
        click.echo(empty_line(root))
    else:
        console = make_console(plain)
        if console.no_color:
            click.echo(render_plain(runs), nl=False)
        else:
            console.print(render_table(runs, console.width))
