"""The options several commands share (``--set``, ``--variant``, ``--plugin``, ``--json``,
``--force``, ``--plain``, ``--allow-large``, ``--unsafe``, ``-o/--output``; ``build``'s
``--all-variants``, ``train``'s and ``evaluate``'s own) and the parameter types that turn
command-line text into values: an output file's path, and ``import``'s ``--input H,W,C`` shape.

Each decorator is written once here so every command that takes the option spells and explains
it the same way.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from ..safe_text import safe_text
from .errors import UserError

# a file a command writes: never a folder (whether it may replace a file is checked by
# console.targets, which knows --force)
OUTPUT_FILE = click.Path(dir_okay=False, path_type=Path)

Shape = tuple[int | None, ...]


def complete_files(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion for an argument kept as text that usually names a file (a SPEC,
    ``diff``'s sides, ``import``'s SOURCE, which may also be ``keras:NAME``): the shell offers
    files, as it does for a ``click.Path``."""
    return [click.shell_completion.CompletionItem(incomplete, type="file")]


class RunPath(click.Path):
    """A run directory (or, with ``file_okay``, a model file), where ``latest`` and
    ``FOLDER/latest`` name the most recently started run (``layerkit.runs.listing``), said on
    stderr as ``latest → runs/NAME/TIMESTAMP``; a real folder named ``latest`` wins."""

    def __init__(self, file_okay: bool = True) -> None:
        super().__init__(file_okay=file_okay, exists=not file_okay, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from ..runs.listing import resolve_latest
        from ..runs.records import RunError

        try:
            value = resolve_latest(Path(value), _note)
        except RunError as error:
            raise UserError(str(error)) from None
        return super().convert(value, param, ctx)


def _note(text: str) -> None:
    click.echo(safe_text(text), err=True)


class InputShape(click.ParamType):
    """``32,32,3`` → ``(32, 32, 3)``; ``None`` (or ``null``) for a free size. Anything else,
    or a size under 1, is refused with the option's one-line error (exit code 2)."""

    name = "H,W,C"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        text = str(value)
        try:
            shape: Shape = tuple(
                None if size.strip() in ("None", "null") else int(size) for size in text.split(",")
            )
        except ValueError:
            shape = ()
        if not shape or any(size is not None and size < 1 for size in shape):
            raise UserError(
                f"--input: '{text}' is not sizes like 32,32,3, each 1 or more (None for a free "
                "size)"
            )
        return shape


class ModelName(click.ParamType):
    """A model's name for ``new``: letters, digits, '_', '-' and '.', starting with a letter."""

    name = "NAME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]*", value):
            raise click.BadParameter(
                f"'{safe_text(value)}' is not a model name: use letters, digits, '_', '-' and '.', starting "
                "with a letter.",
                param_hint="NAME",
            )
        return value


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object instead of text (for scripts)."
)
force_option = click.option("--force", is_flag=True, help="Replace an existing file.")


def output_option(help: str, required: bool = False):
    return click.option("-o", "--output", required=required, type=OUTPUT_FILE, help=help)


unsafe_option = click.option(
    "--unsafe",
    is_flag=True,
    help="Load .keras files without Keras's safe mode (only for files you trust).",
)
allow_large_option = click.option(
    "--allow-large",
    is_flag=True,
    help="Build even a model of over a billion parameters (refused by default, before building).",
)
plugin_option = click.option(
    "--plugin",
    "plugins",
    multiple=True,
    metavar="MODULE",
    help="Import this Python module first, to register custom layers (repeatable).",
)
set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Change one value of the spec before it is read, e.g. --set vars.width=0.5 "
    "(repeatable; the key must exist and the value keep its type).",
)
variant_option = click.option(
    "--variant",
    metavar="NAME",
    help="Read the spec as its variant NAME: the variant's vars and expect: replace the spec's, "
    "and the model is named <name>_NAME (--set applies after it).",
)
all_variants_option = click.option(
    "--all-variants",
    is_flag=True,
    help="Build every variant of the spec in turn: one checked line each (--json: one object, "
    "its variants a list); exit 1 if any differs.",
)
plain_option = click.option(
    "--plain",
    is_flag=True,
    help="Plain text without colour or box characters, even on a terminal.",
)


def _each(*decorators):
    """One decorator applying several, in the order written (the first is the outermost)."""

    def apply(function):
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


# train's own options: the data, how long and how to train, and the run directory
train_options = _each(
    click.option(
        "--data",
        metavar="PATH",
        help="Training data: a built-in name (cifar10, mnist, …), "
        "a folder or .tar/.tar.gz/.zip of class folders, or an .npz; overrides data: in the spec.",
    ),
    click.option(
        "--epochs", type=click.IntRange(min=1), help="Number of epochs (the last epoch's number)."
    ),
    click.option("--batch-size", type=click.IntRange(min=1), help="Images per training step."),
    click.option(
        "--augment/--no-augment",
        default=None,
        help="Use the spec's augment: layers while training (default: when the spec has them).",
    ),
    click.option(
        "--out",
        type=click.Path(file_okay=False, path_type=Path),
        help="Run directory to create (default runs/<spec name>/<timestamp>); must be new or empty.",
    ),
    click.option(
        "--resume",
        type=RunPath(file_okay=False),
        help="Continue the run in this directory from its last finished epoch (latest: the most "
        "recently started run under ./runs; runs/NAME/latest: the newest of spec NAME).",
    ),
    click.option(
        "--skip-bad-images", is_flag=True, help="Leave out unreadable images (they are counted)."
    ),
    click.option(
        "--resize", is_flag=True, help="Resize images whose size differs from the spec's input."
    ),
    click.option(
        "--precision",
        type=click.Choice(["auto", "mixed", "float32"]),
        help="auto (the default): mixed float16 on a GPU, float32 on the CPU; mixed: mixed float16 "
        "on either. Chosen when a run starts; its resumes keep it.",
    ),
    click.option(
        "--strategy",
        type=click.Choice(["mirrored", "multi-worker", "data-parallel"]),
        help="Train data-parallel: 'mirrored' over this machine's GPUs, 'multi-worker' over the "
        "machines in TF_CONFIG (TensorFlow backend); 'data-parallel' over every device, and the "
        "processes in KERAS_DISTRIBUTION_* (JAX backend).",
    ),
    click.option(
        "--cpu-replicas",
        type=click.IntRange(min=2),
        help="Split the CPU into N devices (to try --strategy mirrored or data-parallel without "
        "GPUs).",
    ),
)


# evaluate's own options: the data, test-time augmentation, the confusion plot, and the images
evaluate_options = _each(
    click.option(
        "--data",
        metavar="PATH",
        help="Data to evaluate on (its test split where it has one); "
        "default: the run's own validation split.",
    ),
    click.option(
        "--tta", type=click.Choice(["flip"]), help="Average predictions over horizontal flips."
    ),
    click.option(
        "--tta-translate",
        type=click.IntRange(min=0),
        default=0,
        metavar="PIXELS",
        help="With --tta flip, also average over each image shifted this many pixels both ways "
        "along the diagonal (as train.tta_translate).",
    ),
    click.option(
        "--plot",
        type=OUTPUT_FILE,
        help="Write the confusion matrix as a PNG (a run evaluated on its own validation split "
        "also gets confusion.png, confusion_tta.png or confusion_tta_translate2.png).",
    ),
    force_option,
    click.option("--resize", is_flag=True, help="Resize images of another size than the model's."),
    click.option("--skip-bad-images", is_flag=True, help="Leave out unreadable images (counted)."),
)
