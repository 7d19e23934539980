"""How layerkit's own errors leave the command line: an error (a spec problem, a missing file, a
refused option) in; one ``error: …`` line per problem on stderr, made safe for a terminal
(``console.safe_text``), or one JSON object on stdout with ``--json``; and exit code 2 out,
never a traceback.

Exit codes: 0 everything matches; 1 the model does not match what the spec expects; 2 the spec
(or a command-line argument) is invalid.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from ..errors import LayerkitError, SpecError, SpecErrors, not_shown
from ..safe_text import safe_text

EXIT_MISMATCH = 1
EXIT_INVALID = 2


class SpecFailure(click.ClickException):
    """Spec errors, printed one per line as ``file:line:col: error: …`` with exit code 2."""

    exit_code = EXIT_INVALID

    def __init__(self, errors: list[SpecError], as_json: bool, hidden: int = 0) -> None:
        self.errors = errors
        self.as_json = as_json
        self.hidden = hidden  # problems found past those in ``errors``, only counted
        super().__init__(errors[0].format())

    def show(self, file: Any = None) -> None:
        if self.as_json:
            report = {"ok": False, "errors": [_error_dict(e) for e in self.errors]}
            if self.hidden:
                report["not_shown"] = self.hidden
            click.echo(json.dumps(report))
            return
        for error in self.errors:
            click.echo(safe_text(error.format()), err=True)
        if self.hidden:
            click.echo(f"error: {not_shown(self.hidden)}", err=True)
        total = len(self.errors) + self.hidden
        if total > 1:
            click.echo(f"{total:,} problems found.", err=True)


def _error_dict(error: SpecError) -> dict[str, Any]:
    location = error.location
    return {
        "file": location.file if location else None,
        "line": location.line if location else None,
        "column": location.column if location else None,
        "path": error.path,
        "message": error.message,
        "fix": error.fix,
    }


class UserError(click.ClickException):
    """Any other layerkit error the user can act on: one line, exit code 2 (with --json, the
    object spec errors give, on stdout)."""

    exit_code = EXIT_INVALID

    def __init__(self, message: str, as_json: bool = False) -> None:
        super().__init__(message)
        self.as_json = as_json

    def show(self, file: Any = None) -> None:
        text, stream = self.rendered()
        click.echo(text, err=stream == "stderr")

    def rendered(self) -> tuple[str, str]:
        """The error as it is shown, and where: the JSON object on stdout with --json, else the
        ``error:`` line on stderr."""
        if self.as_json:
            error = dict.fromkeys(("file", "line", "column", "path", "fix"))
            return json.dumps(
                {"ok": False, "errors": [{**error, "message": self.message}]}
            ), "stdout"
        return f"error: {safe_text(self.message)}", "stderr"


@contextmanager
def user_errors(as_json: bool = False) -> Iterator[None]:
    """Turn layerkit's own errors into exit code 2 with one line each, never a traceback."""
    try:
        yield
    except SpecErrors as errors:
        raise SpecFailure(errors.errors, as_json, errors.hidden) from None
    except SpecError as error:
        raise SpecFailure([error], as_json) from None
    except LayerkitError as error:
        raise UserError(str(error), as_json) from None
