"""One error path for every command: a command's work in, and whatever goes wrong out as one line
and an exit code, never a traceback.

Layerkit's own errors become their ``error: …`` lines (see ``console.errors``). A failure no
command foresaw — a ``ValueError`` from deep inside Keras, numpy, PIL or zipfile, an ``OSError``,
a ``RecursionError``, a ``MemoryError`` — becomes::

    error: evaluate failed on broken.keras: ValueError: <its message, on one line>; …what to do

with exit code 2 (with ``--json``, the same JSON error object as any user error). ``layerkit
--debug COMMAND`` (or ``LAYERKIT_DEBUG=1``) lets the traceback through instead. Ctrl-C prints one
``interrupted`` line and exits 130. click's own usage errors (a missing argument, an unknown
option or command) keep click's message and exit code 2, on one line with the same ``error: ``
prefix, the usage after it (:class:`UsageFailure`); any other click error gets the prefix too.

The group in ``cli.py`` is a :class:`LayerkitGroup`, so every command it declares gets this.
"""

from __future__ import annotations

import os
from typing import Any

import click

from ..errors import one_line, shortened
from .errors import SpecFailure, UserError, user_errors

EXIT_INTERRUPTED = 130
MESSAGE_LIMIT = 300  # characters of the exception's own message kept in the one line
SUBJECT_LIMIT = 120  # characters of the path or name it failed on
DEBUG_VARIABLE = "LAYERKIT_DEBUG"


def debugging(ctx: click.Context) -> bool:
    """--debug on the group, or LAYERKIT_DEBUG set to anything but '', '0', 'false' or 'no'."""
    if ctx.find_root().params.get("debug"):
        return True
    return os.environ.get(DEBUG_VARIABLE, "").strip().lower() not in ("", "0", "false", "no")


def subject(ctx: click.Context) -> str:
    """What the command was working on, for the error line: its first argument given (a spec,
    a model or run, a source, a name), else the run it resumes or the file it writes."""
    values = [ctx.params.get(param.name) for param in ctx.command.params
              if isinstance(param, click.Argument) and param.name]  # fmt: skip
    values += [ctx.params.get(name) for name in ("resume", "output")]
    for value in values:
        if isinstance(value, tuple):
            value = value[0] if value else None
        if value not in (None, ""):
            return shortened(str(value), SUBJECT_LIMIT)
    return "its input"


def unforeseen(command: str, what: str, error: BaseException) -> str:
    """The one line for a failure no command foresaw: what failed, on what, and what to do."""
    return (
        f"{command} failed on {what}: {one_line(error, MESSAGE_LIMIT)}; check that it is the file you meant, "
        f"whole and readable, or rerun with 'layerkit --debug {command} …' for the traceback "
        "and report it"
    )


class GuardedCommand(click.Command):
    """A command whose every failure leaves as one line and exit code (see the module)."""

    def invoke(self, ctx: click.Context) -> Any:
        as_json = bool(ctx.params.get("as_json"))
        try:
            with user_errors(as_json):
                return super().invoke(ctx)
        except UserError as error:  # raised by a command itself: --json decides where it goes
            error.as_json = error.as_json or as_json
            raise
        except (click.ClickException, click.exceptions.Exit, click.Abort, BrokenPipeError):
            raise  # already said, or click's own way (a closed pipe: click quiets it)
        except KeyboardInterrupt:
            click.echo(f"interrupted: {ctx.info_name} stopped before it finished", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
        except Exception as error:  # the point of this class: nothing unforeseen leaks out
            if debugging(ctx):
                raise
            text = unforeseen(ctx.info_name or "layerkit", subject(ctx), error)
            raise UserError(text, as_json) from None


class UsageFailure(click.UsageError):
    """click's usage error as one ``error: …`` line, with the usage and where help is after
    it: ``error: Missing argument 'SPEC'. (usage: layerkit build [OPTIONS] SPEC; more:
    layerkit build --help)``."""

    def __init__(self, error: click.UsageError) -> None:
        super().__init__(error.format_message(), error.ctx)
        self.exit_code = error.exit_code

    def show(self, file: Any = None) -> None:
        text = f"error: {' '.join(self.format_message().split())}"  # click's choices: lines
        if self.ctx is not None:
            usage = " ".join(self.ctx.get_usage().split()).removeprefix("Usage: ")
            text += f" (usage: {usage}; more: {self.ctx.command_path} --help)"
        click.echo(text, err=True, color=self.ctx.color if self.ctx else None)


def prefixed(error: click.ClickException, as_json: bool = False) -> click.ClickException:
    """``error`` as one that shows itself with the ``error: `` prefix (layerkit's own already do;
    click's usage errors become a :class:`UsageFailure`, any other a :class:`UserError` with
    the same exit code); with ``as_json`` (the command line asked for --json), as the JSON object
    every error gives then, on stdout."""
    if isinstance(error, UserError):
        error.as_json = error.as_json or as_json
    if isinstance(
        error, UserError | SpecFailure | UsageFailure | click.exceptions.NoArgsIsHelpError
    ):
        return error
    if isinstance(error, click.UsageError) and not as_json:
        return UsageFailure(error)
    failure = UserError(" ".join(error.format_message().split()), as_json)
    failure.exit_code = error.exit_code
    return failure


JSON_ASKED = "layerkit.json_asked"  # ctx.meta: the command line holds --json


class LayerkitGroup(click.Group):
    """The ``layerkit`` group: every command declared on it is a :class:`GuardedCommand`, and
    every error, click's own included, is shown with one prefix, ``error: ``."""

    command_class = GuardedCommand

    def make_context(
        self, info_name: str | None, args: list[str], *rest: Any, **kwargs: Any
    ) -> click.Context:
        try:
            ctx = super().make_context(info_name, list(args), *rest, **kwargs)
        except click.ClickException as error:
            raise prefixed(error) from None
        ctx.meta[JSON_ASKED] = "--json" in args
        return ctx

    def invoke(self, ctx: click.Context) -> Any:
        # a command's options are read inside this call: a mistake in them (an unknown run for
        # --resume) is said as JSON when the command line asks for --json
        as_json = ctx.meta.get(JSON_ASKED, False)
        try:
            return super().invoke(ctx)
        except click.ClickException as error:
            raise prefixed(error, as_json) from None
