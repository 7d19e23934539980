"""The ``layerkit`` command line: parses options, calls the pipeline stages, maps errors to exit codes.

Exit codes: 0 everything matches; 1 the model does not match what the spec expects; 2 the spec (or a
command-line argument) is invalid. TensorFlow is imported only by commands that build a model.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import __version__
from .errors import LayerkitError, SpecError, SpecErrors
from .files import atomic_output, write_text_atomically

if TYPE_CHECKING:
    from rich.console import Console

EXIT_MISMATCH = 1
EXIT_INVALID = 2


class SpecFailure(click.ClickException):
    """Spec errors, printed one per line as ``file:line:col: error: …`` with exit code 2."""

    exit_code = EXIT_INVALID

    def __init__(self, errors: list[SpecError], as_json: bool) -> None:
        self.errors = errors
        self.as_json = as_json
        super().__init__(errors[0].format())

    def show(self, file: Any = None) -> None:
        if self.as_json:
            click.echo(json.dumps({"ok": False, "errors": [_error_dict(e) for e in self.errors]}))
            return
        for error in self.errors:
            click.echo(error.format(), err=True)
        if len(self.errors) > 1:
            click.echo(f"{len(self.errors)} problems found.", err=True)


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
        if self.as_json:
            error = dict.fromkeys(("file", "line", "column", "path", "fix"))
            click.echo(json.dumps({"ok": False, "errors": [{**error, "message": self.message}]}))
            return
        click.echo(f"error: {self.message}", err=True)


@contextmanager
def user_errors(as_json: bool = False) -> Iterator[None]:
    """Turn layerkit's own errors into exit code 2 with one line each, never a traceback."""
    try:
        yield
    except SpecErrors as errors:
        raise SpecFailure(errors.errors, as_json) from None
    except SpecError as error:
        raise SpecFailure([error], as_json) from None
    except LayerkitError as error:
        raise UserError(str(error), as_json) from None


def make_console(plain: bool) -> Console:
    from rich.console import Console

    from .model.render import theme

    console = Console(theme=theme(), highlight=False)
    if plain or not console.is_terminal:
        # a pipe or a file has no width to fit: keep lines whole rather than wrap at 80
        console = Console(
            theme=theme(), highlight=False, color_system=None, no_color=True, width=200
        )
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


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object instead of text (for scripts)."
)
force_option = click.option("--force", is_flag=True, help="Replace an existing file.")


def output_option(help: str, required: bool = False):
    return click.option(
        "-o",
        "--output",
        required=required,
        type=click.Path(dir_okay=False, path_type=Path),
        help=help,
    )


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
plain_option = click.option(
    "--plain",
    is_flag=True,
    help="Plain text without colour or box characters, even on a terminal.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="layerkit")
def main() -> None:
    """Declarative Keras model specs: build, check and summarize them.

    \b
    layerkit build specs/cifar.yaml       compile, check against expect:, print the summary
    layerkit validate specs/cifar.yaml    check a spec without building it (no TensorFlow)
    """


@main.command()
@click.argument("spec", metavar="SPEC")
@set_option
@plugin_option
@allow_large_option
@plain_option
@json_option
@click.option(
    "--save",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the built, untrained model to this .keras file.",
)
@force_option
def build(
    spec: str,
    overrides: tuple[str, ...],
    plugins: tuple[str, ...],
    allow_large: bool,
    plain: bool,
    as_json: bool,
    save: Path | None,
    force: bool,
) -> None:
    """Compile SPEC into a Keras model and print its summary, checked against the spec's expect:.

    Exits 0 when every expectation matches, 1 when any does not (the last line names the rows),
    2 when the spec is invalid.
    """
    if save is not None:
        _check_save_target(save, force, as_json)
    with user_errors(as_json):
        from .catalog.plugins import load_plugins
        from .spec.loader import load_spec
        from .spec.validation import validate

        load_plugins(plugins)
        plan = validate(load_spec(Path(spec), overrides))
        import_keras_quietly()
        from .model.compiler import build as build_model
        from .model.report import summarize

        model = build_model(plan, allow_large=allow_large)
        summary = summarize(model, plan)
    if save is not None:
        _save_model(model, save)
    _print_summary(summary, plain, as_json)
    if save is not None and not as_json:
        click.echo(f"saved the untrained model to {save}", err=True)
    sys.exit(0 if summary.ok else EXIT_MISMATCH)


def _print_summary(summary: Any, plain: bool, as_json: bool) -> None:
    from .model.render import render_json, render_plain, render_table

    if as_json:
        click.echo(render_json(summary), nl=False)
        return
    console = make_console(plain)
    if console.no_color:
        click.echo(render_plain(summary), nl=False)
    else:
        console.print(render_table(summary, console.width))


def _check_save_target(path: Path, force: bool, as_json: bool = False) -> None:
    if path.suffix != ".keras":
        raise UserError(
            f"--save: '{path}' does not end in .keras; Keras saves models as .keras files. "
            f"Use --save {path.with_suffix('.keras')}.",
            as_json,
        )
    _check_output_target(path, force, "--save", as_json)


def _save_model(model: Any, path: Path) -> None:
    """Save atomically: a failure never leaves a half-written file where a good one was."""
    with atomic_output(path) as temporary:
        model.save(temporary)


@main.command()
@click.argument("spec", metavar="SPEC")
@set_option
@plugin_option
@json_option
def validate(
    spec: str, overrides: tuple[str, ...], plugins: tuple[str, ...], as_json: bool
) -> None:
    """Check SPEC without building it: structure, layer names and arguments, and the train:,
    data: and augment: settings (optimizer, schedule, loss, metric and target names and their
    arguments).

    Fast: does not import TensorFlow. Shapes and values only Keras can judge are checked by
    'layerkit build'; whether the data exists, by 'layerkit train' before it starts.
    """
    with user_errors(as_json):
        from .catalog.plugins import load_plugins
        from .spec.loader import load_spec
        from .spec.validation import validate as validate_spec

        load_plugins(plugins)
        plan = validate_spec(load_spec(Path(spec), overrides))
    if as_json:
        click.echo(json.dumps({"ok": True, "file": plan.spec.file, "layers": len(plan.layers)}))
    else:
        click.echo(f"✓ {plan.spec.file}: valid spec '{plan.spec.name}' ({len(plan.layers)} layers)")


@main.command()
@output_option("Write the schema to this file instead of printing it.")
@force_option
def schema(output: Path | None, force: bool) -> None:
    """Print the JSON Schema of the spec format, for editors (yaml-language-server) and checkers.

    Derived from the same layer catalog 'layerkit validate' uses; does not import TensorFlow.
    """
    from .spec.schema import spec_schema

    text = json.dumps(spec_schema(), indent=1) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    _check_output_target(output, force, "--output")
    write_text_atomically(output, text)
    click.echo(f"wrote {output}", err=True)


def _check_output_target(
    path: Path, force: bool, option: str, as_json: bool = False, source: Path | None = None
) -> None:
    """An output file may replace an existing one only with --force, and never a folder or the
    command's own input."""
    problem = None
    if path.is_dir():
        problem = f"'{path}' is a folder; give the path of a file to write"
    elif source is not None and path.resolve() == source.resolve():
        problem = f"'{path}' is the file being read; write to another path"
    elif (path.exists() or path.is_symlink()) and not force:
        problem = f"'{path}' already exists; pass --force to replace it, or choose another path."
    elif not path.parent.is_dir():
        problem = f"folder '{path.parent}' does not exist; create it first."
    if problem:
        raise UserError(f"{option}: {problem}", as_json)


@main.command()
@click.argument("name")
@output_option("Where to write the spec; NAME.yaml in the current folder by default.")
@force_option
def new(name: str, output: Path | None, force: bool) -> None:
    """Write a commented starter spec for a model called NAME."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]*", name):
        raise click.BadParameter(
            f"'{name}' is not a model name: use letters, digits, '_', '-' and '.', starting with "
            "a letter.",
            param_hint="NAME",
        )
    output = output or Path(f"{name}.yaml")
    _check_output_target(output, force, "--output")
    template = (Path(__file__).with_name("starter.yaml")).read_text(encoding="utf-8")
    write_text_atomically(
        output, template.replace("__NAME__", name).replace("__FILE__", str(output))
    )
    click.echo(f"wrote {output}; check it with: layerkit build {output}")


@main.command()
@click.argument("spec", metavar="SPEC")
@output_option(
    "The drawing to write: FILE.svg (built in), or FILE.png (needs layerkit[graph]).", required=True
)
@set_option
@plugin_option
@force_option
def graph(
    spec: str, output: Path, overrides: tuple[str, ...], plugins: tuple[str, ...], force: bool
) -> None:
    """Draw SPEC's architecture: one box per layer, an arrow for every input."""
    suffix = output.suffix.lower()
    if suffix not in (".svg", ".png"):
        raise UserError(f"--output: '{output}' must end in .svg or .png")
    _check_output_target(output, force, "--output")
    with user_errors():
        from .catalog.plugins import load_plugins
        from .model.compiler import layer_names
        from .model.diagram import render_svg
        from .spec.loader import load_spec
        from .spec.validation import validate

        load_plugins(plugins)
        plan = validate(load_spec(Path(spec), overrides))
        svg = render_svg(plan, layer_names(plan))
    if suffix == ".svg":
        write_text_atomically(output, svg)
    else:
        _draw_png(svg, output)
    click.echo(f"wrote {output} ({len(plan.layers)} layers)")


def _draw_png(svg: str, output: Path) -> None:
    """PNG by rasterizing the SVG with cairosvg, an optional dependency (``layerkit[graph]``)."""
    try:
        import cairosvg
    except (ImportError, OSError):  # OSError: the package is there but the cairo library is not
        raise click.ClickException(
            "drawing a PNG needs the cairosvg package and the cairo library "
            "(pip install 'layerkit[graph]'); or write an SVG, which needs nothing: "
            f"-o {output.with_suffix('.svg')}"
        ) from None
    with atomic_output(output) as temporary:
        cairosvg.svg2png(bytestring=svg.encode("utf-8"), write_to=str(temporary))


@main.command()
@click.argument("spec", metavar="SPEC", required=False)
@click.option(
    "--data",
    metavar="PATH",
    help="Training data: a built-in name (cifar10, mnist, …), "
    "a folder or .tar/.tar.gz/.zip of class folders, or an .npz; overrides data: in the spec.",
)
@click.option(
    "--epochs", type=click.IntRange(min=1), help="Number of epochs (the last epoch's number)."
)
@click.option("--batch-size", type=click.IntRange(min=1), help="Images per training step.")
@click.option(
    "--augment/--no-augment",
    default=None,
    help="Use the spec's augment: layers while training (default: when the spec has them).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run directory to create (default runs/<spec name>/<timestamp>); must be new or empty.",
)
@click.option(
    "--resume",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Continue the run in this directory from its last finished epoch.",
)
@click.option(
    "--skip-bad-images", is_flag=True, help="Leave out unreadable images (they are counted)."
)
@click.option(
    "--resize", is_flag=True, help="Resize images whose size differs from the spec's input."
)
@click.option(
    "--precision",
    type=click.Choice(["auto", "mixed", "float32"]),
    help="auto (the default): mixed float16 on a GPU, float32 on the CPU; mixed: mixed float16 "
    "on either. Chosen when a run starts; its resumes keep it.",
)
@click.option(
    "--strategy",
    type=click.Choice(["mirrored", "multi-worker"]),
    help="Train data-parallel: 'mirrored' over this machine's GPUs, 'multi-worker' over the "
    "machines in TF_CONFIG (TensorFlow backend).",
)
@click.option(
    "--cpu-replicas",
    type=click.IntRange(min=2),
    help="Split the CPU into N logical devices (to try --strategy mirrored without GPUs).",
)
@set_option
@plugin_option
@allow_large_option
@plain_option
@click.option(
    "--json", "as_json", is_flag=True,
    help="Print JSON Lines (a start, each epoch, the end) instead of text (for scripts).",
)  # fmt: skip
def train(spec: str | None, data: str | None, epochs: int | None, batch_size: int | None,
          augment: bool | None, out: Path | None, resume: Path | None, skip_bad_images: bool,
          resize: bool, precision: str | None, strategy: str | None, cpu_replicas: int | None,
          overrides: tuple[str, ...], plugins: tuple[str, ...], allow_large: bool,
          plain: bool, as_json: bool) -> None:  # fmt: skip
    """Train SPEC's model on data, writing a run directory; or --resume a run.

    Ctrl-C stops after the epoch in progress is abandoned: the run keeps every finished epoch and
    resumes with --resume RUN_DIR.
    """
    console = make_console(plain or as_json)
    output = "json" if as_json else "plain" if console.no_color else "live"
    with user_errors(as_json):
        from .catalog.plugins import load_plugins
        from .training.start import TrainOptions

        if plugins:  # a plugin may import Keras itself: keep TensorFlow's start-up notes away
            import_keras_quietly()
        load_plugins(plugins)
        options = TrainOptions(data, epochs, batch_size, augment, out, resume, skip_bad_images,
                               resize, overrides, precision, strategy, allow_large)  # fmt: skip
        new = None if resume else prepare_run(spec, options, console, output)
        import_keras_quietly()
        from .training import loop
        from .training.runtime import split_cpu

        if cpu_replicas:
            split_cpu(cpu_replicas)
        if new is None:
            result = loop.resume(resume, options, console, output, notify=warn)
        else:
            result = loop.train(new, console, output, notify=warn)
    best = result.best_metrics
    if as_json:
        end = {"event": "end", "status": result.status, "epochs_done": result.epochs_done,
               "run": str(result.run.path), "best_epoch": result.best_epoch, "best": best,
               "reason": result.reason}  # fmt: skip
        click.echo(json.dumps(end))
    summary = ", ".join(
        f"{key} {value:.4f}" for key, value in best.items() if key.startswith("val_")
    )
    if result.status == "interrupted":
        click.echo(
            f"stopped after {result.epochs_done} epochs; continue with: layerkit train --resume {result.run.path}",
            err=True,
        )
        sys.exit(130)
    if result.status == "failed":
        kept = (
            f"the last good epoch ({result.epochs_done}) is kept in {result.run.path}"
            if result.epochs_done
            else f"no epoch finished, so {result.run.path} holds no checkpoint"
        )
        click.echo(f"error: training stopped: {result.reason}; {kept}", err=True)
        sys.exit(1)
    if as_json:
        return
    if result.status == "reached target":
        click.echo(f"stopped early: {result.reason}")
    click.echo(
        f"done: {result.epochs_done} epochs in {result.run.path}"
        + (f"; best {summary} (epoch {result.best_epoch})" if summary else "")
    )


def warn(text: str) -> None:
    """What a stage has to say besides its result (a warning, a download's start and end): a
    line on stderr."""
    click.echo(text, err=True)


def prepare_run(spec_path: str | None, options: Any, console: Console, output: str) -> Any:
    """The spec read once and checked with every setting, and its data found — a built-in
    dataset missing from Keras's cache downloaded now — before TensorFlow loads and before the
    run directory exists, so being offline is said at once, at the spec's data.source line."""
    from .spec.loader import load_spec
    from .training.start import prepare

    if spec_path is None:
        raise UserError("give a SPEC to train, or --resume RUN_DIR")
    spec = load_spec(Path(spec_path), options.overrides)
    with download_progress(console, enabled=output == "live") as progress:
        return prepare(spec, options, progress, notify=warn)


@contextmanager
def download_progress(console: Console, enabled: bool) -> Iterator[Any]:
    """A progress bar for a dataset download on a terminal; None elsewhere (the download then
    says where it starts and ends through :func:`warn`, on stderr)."""
    if not enabled:
        yield None
        return
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
                tasks[url] = bar.add_task(f"downloading {url.rsplit('/', 1)[-1]}", total=total)
            bar.update(tasks[url], completed=done)

        yield advance


@main.command()
@click.argument("model_or_run", metavar="MODEL_OR_RUN", type=click.Path(path_type=Path))
@click.option(
    "--data",
    metavar="PATH",
    help="Data to evaluate on (its test split where it has one); "
    "default: the run's own validation split.",
)
@click.option(
    "--tta", type=click.Choice(["flip"]), help="Average predictions over horizontal flips."
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the confusion matrix as a PNG (a run evaluated on its own validation split also "
    "gets confusion.png, or confusion_tta.png).",
)
@force_option
@click.option("--resize", is_flag=True, help="Resize images of another size than the model's.")
@click.option("--skip-bad-images", is_flag=True, help="Leave out unreadable images (counted).")
@unsafe_option
@json_option
@plain_option
def evaluate(model_or_run: Path, data: str | None, tta: str | None, plot: Path | None,
             force: bool, resize: bool, skip_bad_images: bool, unsafe: bool, as_json: bool,
             plain: bool) -> None:  # fmt: skip
    """Loss, accuracy, top-5 accuracy, per-class accuracy and the confusion matrix of a trained
    model (a run directory, or a .keras file with --data)."""
    if plot is not None:
        _check_output_target(plot, force, "--plot", as_json)
    with user_errors(as_json):
        import_keras_quietly()
        from .training.evaluate import evaluate as evaluate_model
        from .training.evaluate import open_trained, plot_confusion

        trained = open_trained(model_or_run, safe_mode=not unsafe)
        result = evaluate_model(
            trained, data, tta, skip_bad=skip_bad_images, resize=resize, notify=warn
        )
        targets = [plot] if plot else []
        if trained.run is not None and data is None:  # the run's own figure, of its own split
            targets.append(trained.run.path / ("confusion_tta.png" if tta else "confusion.png"))
        for target in targets:
            plot_confusion(target, result)
    if as_json:
        click.echo(json.dumps(result))
        return
    from .model.render import render_evaluation

    console = make_console(plain)
    console.print(render_evaluation(result, console.no_color))


@main.command()
@click.argument("model_or_run", metavar="MODEL_OR_RUN", type=click.Path(path_type=Path))
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Classes to show per image.",
)
@click.option("--resize", is_flag=True, help="Resize images to the model's input size.")
@unsafe_option
@json_option
@plain_option
def predict(model_or_run: Path, images: tuple[Path, ...], top: int, resize: bool, unsafe: bool,
            as_json: bool, plain: bool) -> None:  # fmt: skip
    """The most likely classes, with probabilities, for each image (files or folders)."""
    with user_errors(as_json):
        import_keras_quietly()
        from .training.evaluate import open_trained
        from .training.evaluate import predict as predict_images

        results = predict_images(
            open_trained(model_or_run, safe_mode=not unsafe), list(images), top, resize
        )
    if as_json:
        click.echo(json.dumps(results))
        return
    from .model.render import render_predictions

    console = make_console(plain)
    console.print(render_predictions(results, console.no_color))


@main.command(name="import")
@click.argument("source", metavar="SOURCE")
@output_option("The spec to write.", required=True)
@click.option(
    "--input",
    "input_shape",
    metavar="H,W,C",
    help="The model's input shape (None for a free size), where the summary does not show it.",
)
@force_option
@unsafe_option
def import_(source: str, output: Path, input_shape: str | None, force: bool, unsafe: bool) -> None:
    """Write a spec from SOURCE: a printed Keras summary (Keras 2 or Keras 3 layout, Sequential
    or functional), a saved .keras model, or keras:NAME for a keras.applications model. The spec's
    expect: holds every row and the totals, so 'layerkit build' checks the reconstruction."""
    from_model = source.startswith("keras:") or source.endswith(".keras")
    if not from_model and not Path(source).is_file():
        raise UserError(
            f"'{source}' is not a file; give a printed summary (.txt), a .keras model or "
            "keras:NAME (e.g. keras:ResNet50)"
        )
    if output.suffix.lower() not in (".yaml", ".yml"):
        raise UserError(f"--output: '{output}' should end in .yaml; import writes a spec")
    read = None if source.startswith("keras:") else Path(source)
    _check_output_target(output, force, "--output", source=read)
    shape = None
    if input_shape:
        try:
            shape = tuple(
                None if size.strip() in ("None", "null") else int(size)
                for size in input_shape.split(",")
            )
        except ValueError:
            shape = ()
        if not shape or any(size is not None and size < 1 for size in shape):
            raise UserError(
                f"--input: '{input_shape}' is not sizes like 32,32,3, each 1 or more (None for "
                "a free size)"
            )
    with user_errors():
        if from_model:
            import_keras_quietly()
            from .importer import import_model

            report = import_model(source, safe_mode=not unsafe)
        else:
            from .importer import import_summary

            report = import_summary(Path(source), shape)
    write_text_atomically(output, report.text)
    click.echo(f"wrote {output}: {report.layers} layers; check it with: layerkit build {output}")
    if report.placeholders:
        click.echo(f"placeholders to check (not in the summary): {'; '.join(report.placeholders)}")
    for note in report.notes:
        click.echo(f"check: {note}")
    for entry in report.not_imported:
        click.echo(f"not imported (marked in the spec): {entry}", err=True)
