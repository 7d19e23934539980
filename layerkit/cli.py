"""The ``layerkit`` command line: the click group and its commands, each thin — parse the options,
call the pipeline stages, hand the result to ``layerkit.console`` to report.

Exit codes: 0 everything matches; 1 the model does not match what the spec expects; 2 the spec (or a
command-line argument) is invalid. TensorFlow is imported only by commands that build a model.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .console.errors import EXIT_MISMATCH, UserError
from .console.guard import LayerkitGroup
from .console.options import (
    OUTPUT_FILE,
    InputShape,
    ModelName,
    all_variants_option,
    allow_large_option,
    complete_files,
    evaluate_options,
    force_option,
    json_option,
    output_option,
    plain_option,
    plugin_option,
    set_option,
    train_options,
    unsafe_option,
    variant_option,
)
from .console.output import (
    download_progress,
    import_keras_quietly,
    make_console,
    print_evaluation,
    print_predictions,
    print_summary,
    print_validated,
    print_variants,
    report_training,
    say,
    warn,
)
from .console.targets import (
    check_output_target,
    check_plot_target,
    check_save_target,
    draw_png,
    kept_if_taken,
    save_model,
    write_output,
)
from .version import __version__

if TYPE_CHECKING:
    from rich.console import Console


@click.group(cls=LayerkitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="layerkit")
@click.option(
    "--debug",
    is_flag=True,
    help="Show the traceback of a failure layerkit did not foresee, instead of one line "
    "(also LAYERKIT_DEBUG=1).",
)
def main(debug: bool) -> None:
    """Declarative Keras model specs: build, check and summarize them.

    \b
    layerkit build specs/cifar.yaml       compile, check against expect:, print the summary
    layerkit validate specs/cifar.yaml    check a spec without building it (no TensorFlow)
    """


@main.command()
@click.argument("spec", metavar="SPEC", shell_complete=complete_files)
@set_option
@variant_option
@all_variants_option
@plugin_option
@allow_large_option
@plain_option
@json_option
@click.option(
    "--save",
    type=OUTPUT_FILE,
    help="Also write the built, untrained model to this .keras file.",
)
@force_option
def build(spec: str, overrides: tuple[str, ...], variant: str | None, all_variants: bool,
          plugins: tuple[str, ...], allow_large: bool, plain: bool, as_json: bool,
          save: Path | None, force: bool) -> None:  # fmt: skip
    """Compile SPEC into a Keras model and print its summary, checked against the spec's expect:.

    Exits 0 when every expectation matches, 1 when any does not (the last line names the rows),
    2 when the spec is invalid.
    """
    if all_variants:
        build_variants(spec, overrides, variant, plugins, allow_large, plain, as_json, save)
    if save is not None:
        check_save_target(save, force, as_json)
    from .catalog.plugins import load_plugins
    from .spec.loader import load_spec
    from .spec.validation import validate

    load_plugins(plugins)
    plan = validate(load_spec(Path(spec), overrides, variant))
    import_keras_quietly()
    from .model.compiler import build as build_model
    from .model.report import summarize

    model = build_model(plan, allow_large=allow_large)
    summary = summarize(model, plan)
    if save is not None:
        save_model(model, save, force, as_json)
    print_summary(summary, plain, as_json)
    if save is not None and not as_json:
        say(f"saved the untrained model to {save}", err=True)
    sys.exit(0 if summary.ok else EXIT_MISMATCH)


def build_variants(spec_path: str, overrides: tuple[str, ...], variant: str | None,
                   plugins: tuple[str, ...], allow_large: bool, plain: bool, as_json: bool,
                   save: Path | None) -> None:  # fmt: skip
    """``build --all-variants``: one checked line per variant; exit 0 when every one matches."""
    if variant is not None or save is not None:
        option = "--variant" if variant is not None else "--save"
        raise UserError(
            f"--all-variants builds every variant, so it takes no {option}; build one variant "
            f"with --variant NAME{' --save PATH' if save is not None else ''} instead",
            as_json,
        )
    from .catalog.plugins import load_plugins

    load_plugins(plugins)
    import_keras_quietly()
    from .model.variant_builds import build_variants as build_each

    spec, results = build_each(Path(spec_path), overrides, allow_large)
    print_variants(results, spec, plain, as_json)
    sys.exit(0 if all(result.summary.ok for result in results) else EXIT_MISMATCH)


@main.command()
@click.argument("spec", metavar="SPEC", shell_complete=complete_files)
@set_option
@variant_option
@plugin_option
@json_option
def validate(
    spec: str,
    overrides: tuple[str, ...],
    variant: str | None,
    plugins: tuple[str, ...],
    as_json: bool,
) -> None:
    """Check SPEC without building it: structure, layer names and arguments, and the train:,
    data: and augment: settings (optimizer, schedule, loss, metric and target names and their
    arguments).

    Fast: does not import TensorFlow. Shapes and values only Keras can judge are checked by
    'layerkit build'; whether the data exists, by 'layerkit train' before it starts.
    """
    from .catalog.plugins import load_plugins
    from .spec.loader import load_spec
    from .spec.validation import validate as validate_spec

    load_plugins(plugins)
    plan = validate_spec(load_spec(Path(spec), overrides, variant))
    print_validated(plan, as_json)


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
    check_output_target(output, force, "--output")
    write_output(output, text, force)
    say(f"wrote {output}", err=True)


@main.command()
@click.argument("name", type=ModelName())
@output_option("Where to write the spec; NAME.yaml in the current folder by default.")
@force_option
def new(name: str, output: Path | None, force: bool) -> None:
    """Write a commented starter spec for a model called NAME."""
    output = output or Path(f"{name}.yaml")
    check_output_target(output, force, "--output")
    template = (Path(__file__).with_name("starter.yaml")).read_text(encoding="utf-8")
    write_output(output, template.replace("__NAME__", name).replace("__FILE__", str(output)), force)
    say(f"wrote {output}; check it with: layerkit build {output}", err=True)


@main.command()
@click.argument("spec", metavar="SPEC", shell_complete=complete_files)
@output_option(
    "The drawing to write: FILE.svg (built in), or FILE.png (needs layerkit[graph]).", required=True
)
@set_option
@variant_option
@plugin_option
@force_option
def graph(spec: str, output: Path, overrides: tuple[str, ...], variant: str | None,
          plugins: tuple[str, ...], force: bool) -> None:  # fmt: skip
    """Draw SPEC's architecture: one box per layer, an arrow for every input."""
    suffix = output.suffix.lower()
    if suffix not in (".svg", ".png"):
        raise UserError(f"--output: '{output}' must end in .svg or .png")
    check_output_target(output, force, "--output")
    from .catalog.plugins import load_plugins
    from .model.compiler import layer_names
    from .model.diagram import render_svg
    from .spec.loader import load_spec
    from .spec.validation import validate

    load_plugins(plugins)
    plan = validate(load_spec(Path(spec), overrides, variant))
    svg = render_svg(plan, layer_names(plan))
    if suffix == ".svg":
        write_output(output, svg, force)
    else:
        draw_png(svg, output, force)
    count = len(plan.layers)
    say(f"wrote {output} ({count} layer{'s' * (count != 1)})", err=True)


@main.command()
@click.argument("spec", metavar="SPEC", required=False, shell_complete=complete_files)
@train_options
@set_option
@variant_option
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
          overrides: tuple[str, ...], variant: str | None, plugins: tuple[str, ...],
          allow_large: bool, plain: bool, as_json: bool) -> None:  # fmt: skip
    """Train SPEC's model on data, writing a run directory; or --resume a run.

    Ctrl-C stops after the epoch in progress is abandoned: the run keeps every finished epoch and
    resumes with --resume RUN_DIR.
    """
    console = make_console(plain or as_json, stderr=not as_json)  # progress: stderr; JSON: stdout
    output = "json" if as_json else "plain" if console.no_color else "live"
    from .training.start import TrainOptions

    use_plugins(plugins)
    options = TrainOptions(data, epochs, batch_size, augment, out, resume, skip_bad_images,
                           resize, overrides, precision, strategy, allow_large, variant)  # fmt: skip
    if spec is not None and resume is not None:
        raise UserError(f"give a SPEC to train or --resume RUN_DIR, not both (received {spec})")
    new = None if resume else prepare_run(spec, options, console, output)
    import_keras_quietly()
    from .training import loop
    from .training.distributed import resume_strategy, start_strategy

    start_strategy(resume_strategy(resume) if new is None else options.strategy, cpu_replicas,
                   say=lambda error: UserError(str(error), as_json).rendered(),
                   resumed=new is None)  # fmt: skip
    if new is None:
        result = loop.resume(resume, options, console, output, notify=warn)
    else:
        result = loop.train(new, console, output, notify=warn)
    code = report_training(result, as_json)
    if code:
        sys.exit(code)


def prepare_run(spec_path: str | None, options: Any, console: Console, output: str) -> Any:
    """The spec read once and checked with every setting, and its data found — a built-in
    dataset missing from Keras's cache downloaded now — before TensorFlow loads and before the
    run directory exists, so being offline is said at once, at the spec's data.source line."""
    from .spec.loader import load_spec
    from .training.start import prepare

    if spec_path is None:
        raise UserError("give a SPEC to train, or --resume RUN_DIR")
    spec = load_spec(Path(spec_path), options.overrides, options.variant)
    with download_progress(console, enabled=output == "live") as progress:
        return prepare(spec, options, progress, notify=warn)


def use_plugins(plugins: tuple[str, ...]) -> None:
    """The installed entry-point plugins and each ``--plugin`` module imported, so the layers
    they register are known to the spec, and to Keras loading a model that uses them."""
    from .catalog.plugins import load_plugins

    if plugins:  # a plugin may import Keras itself: keep TensorFlow's start-up notes away
        import_keras_quietly()
    load_plugins(plugins)


@main.command()
@click.argument("model_or_run", metavar="MODEL_OR_RUN", type=click.Path(path_type=Path))
@evaluate_options
@plugin_option
@unsafe_option
@json_option
@plain_option
def evaluate(model_or_run: Path, data: str | None, tta: str | None, tta_translate: int,
             plot: Path | None, force: bool, resize: bool, skip_bad_images: bool,
             plugins: tuple[str, ...], unsafe: bool, as_json: bool,
             plain: bool) -> None:  # fmt: skip
    """Loss, accuracy, top-5 accuracy, per-class accuracy and the confusion matrix of a trained
    model (a run directory, or a .keras file with --data)."""
    if plot is not None:
        check_plot_target(plot, force, as_json, model_or_run)
    import_keras_quietly()
    use_plugins(plugins)
    from .training.evaluate import evaluate as evaluate_model
    from .training.evaluate import open_trained, plot_confusion, run_figure, scaling_note

    trained = open_trained(model_or_run, safe_mode=not unsafe, notify=warn)
    result = evaluate_model(trained, data, tta, skip_bad=skip_bad_images, resize=resize,
                            notify=warn, translate=tta_translate)  # fmt: skip
    if plot is not None:
        with kept_if_taken(plot, "--plot", as_json):
            plot_confusion(plot, result, replace=force)
    print_evaluation(result, plain, as_json)
    if note := scaling_note(trained):
        warn(note)
    own = run_figure(trained, data, tta, tta_translate)
    if own is not None:  # the run's own figure is the run's to replace; the results stand without
        try:
            plot_confusion(own, result)
        except OSError as error:
            warn(f"warning: the run's figure {own} was not written ({error.strerror or error})")


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
@plugin_option
@unsafe_option
@json_option
@plain_option
def predict(model_or_run: Path, images: tuple[Path, ...], top: int, resize: bool,
            plugins: tuple[str, ...], unsafe: bool, as_json: bool,
            plain: bool) -> None:  # fmt: skip
    """The most likely classes, with probabilities, for each image (files or folders)."""
    import_keras_quietly()
    use_plugins(plugins)
    from .training.evaluate import open_trained, scaling_note
    from .training.evaluate import predict as predict_images

    trained = open_trained(model_or_run, safe_mode=not unsafe, notify=warn)
    results = predict_images(trained, list(images), top, resize)
    print_predictions(results, plain, as_json)
    if note := scaling_note(trained):
        warn(note)


@main.command(name="import")
@click.argument("source", metavar="SOURCE", shell_complete=complete_files)
@output_option("The spec to write.", required=True)
@click.option(
    "--input",
    "input_shape",
    type=InputShape(),
    metavar="H,W,C",
    help="The model's input shape (None for a free size), where the summary does not show it.",
)
@click.option(
    "--partial",
    is_flag=True,
    help="Write the spec even when it would not build (rows marked NOT IMPORTED to fill in).",
)
@force_option
@plugin_option
@unsafe_option
@json_option
def import_(source: str, output: Path, input_shape: tuple[int | None, ...] | None, partial: bool,
            force: bool, plugins: tuple[str, ...], unsafe: bool,
            as_json: bool) -> None:  # fmt: skip
    """Write a spec from SOURCE: a printed Keras summary (Keras 2 or Keras 3 layout, Sequential
    or functional), a saved .keras model, or keras:NAME for a keras.applications model. The spec's
    expect: holds every row and the totals; it is built before it is written, and not written
    (exit 1) when it would not build, unless --partial."""
    from .console.importing import run_import

    use_plugins(plugins)
    sys.exit(run_import(source, output, input_shape, force, unsafe, partial, as_json))


@main.command()
@click.argument("model_or_run", metavar="RUN_OR_MODEL", type=click.Path(path_type=Path))
@click.option(
    "--format", "format_", required=True, type=click.Choice(["savedmodel", "onnx", "tflite"]),
    help="savedmodel (a TensorFlow SavedModel folder), onnx or tflite (LiteRT).",
)  # fmt: skip
@click.option(
    "-o", "--output", type=click.Path(path_type=Path),
    help="Where to write it; default RUN/export/model.onnx (savedmodel/, model.tflite), or "
    "beside a .keras file.",
)  # fmt: skip
@force_option
@click.option(
    "--model", "which", type=click.Choice(["best", "last"]), default="best", show_default=True,
    help="A run's model_best.keras or model_last.keras.",
)  # fmt: skip
@click.option(
    "--data", metavar="PATH",
    help="Images to check the export on (files, a folder, or a dataset); default: the run's "
    "validation split.",
)  # fmt: skip
@click.option(
    "--images", type=click.IntRange(min=1), default=64, show_default=True,
    help="At most this many images for the check.",
)  # fmt: skip
@click.option("--resize", is_flag=True, help="Resize check images of another size.")
@click.option(
    "--no-check", is_flag=True,
    help="Do not run the exported model against the Keras model.",
)  # fmt: skip
@plugin_option
@unsafe_option
@json_option
def export(model_or_run: Path, format_: str, output: Path | None, force: bool, which: str,
           data: str | None, images: int, resize: bool, no_check: bool,
           plugins: tuple[str, ...], unsafe: bool, as_json: bool) -> None:  # fmt: skip
    """Export a trained model (a run directory or a .keras file) to a SavedModel, ONNX or TFLite,
    taking raw pixels (float32, 0-255) with the training's input scaling built in, and write
    its description beside it (model.onnx.preprocessing.json).

    Then runs the exported model in its own runtime on real images and compares it with the Keras
    model: exit 0 when every top-1 class agrees and the probabilities are within the format's
    tolerance, 1 when not (the file is kept). Needs pip install 'layerkit[export]' for ONNX and
    TFLite.
    """
    from .console.exporting import ExportRequest, run_export

    use_plugins(plugins)
    request = ExportRequest(model_or_run, format_, output, force, which, data, images, resize,
                            not no_check, unsafe, as_json)  # fmt: skip
    sys.exit(run_export(request))


@main.command()
@click.argument("a", metavar="A", shell_complete=complete_files)
@click.argument("b", metavar="B", shell_complete=complete_files)
@set_option
@variant_option
@click.option("--all", "show_all", is_flag=True, help="Show identical layers too, not folded.")
@plugin_option
@allow_large_option
@unsafe_option
@plain_option
@json_option
def diff(a: str, b: str, overrides: tuple[str, ...], variant: str | None, show_all: bool,
         plugins: tuple[str, ...], allow_large: bool, unsafe: bool, plain: bool,
         as_json: bool) -> None:  # fmt: skip
    """Show where the networks A and B differ, layer by layer.

    A and B are each a spec (.yaml), a printed model.summary() (.txt), a .keras model,
    keras:NAME (a keras.applications model) or a run directory. --set and --variant apply to
    every side that is a spec file. Layers are aligned as sequences, or by their wiring for
    graphs; names are shown, not compared. Exits 0 when identical, 1 when they differ, 2 when
    a side cannot be read.
    """
    from .console.diffing import DiffRequest, run_diff

    request = DiffRequest(a, b, overrides, variant, plugins, allow_large, unsafe, show_all,
                          plain, as_json)  # fmt: skip
    sys.exit(run_diff(request))


@main.command()
@click.argument("folder", metavar="[DIR]", required=False, type=click.Path(path_type=Path))
@json_option
@plain_option
def runs(folder: Path | None, as_json: bool, plain: bool) -> None:
    """List the training runs in DIR (./runs by default), oldest first: spec, status, epochs,
    best monitored metric, last val_accuracy, when each started and how long it trained.

    A damaged run is listed with its problem. Exit 0 (also when there are none); 2 when DIR
    does not exist. Does not import TensorFlow.
    """
    from .console.run_table import show_runs

    show_runs(folder, plain, as_json)


@main.command()
@click.argument("spec", metavar="SPEC", type=click.Path(path_type=Path))
@click.option(
    "--trials",
    type=click.IntRange(min=1),
    help="Trials in the study in all "
    "(search.trials, or 10); a study continued runs only the missing ones.",
)
@click.option("--data", help="Train every trial on this data instead of the spec's data.source.")
@click.option("--epochs", type=click.IntRange(min=1), help="Epochs of each trial's run.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="The tune's folder (runs/<name>/tune-<time> by default); an earlier tune's "
    "folder continues its study.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seeds Optuna's sampler, so a tune is reproducible.",
)
@click.option(
    "--resume",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Continue the tune in DIR (the same as --out DIR for a folder with a study).",
)
@variant_option
@plugin_option
@plain_option
@json_option
def tune(spec: Path, trials: int | None, data: str | None, epochs: int | None, out: Path | None,
         seed: int, resume: Path | None, variant: str | None, plugins: tuple[str, ...],
         plain: bool, as_json: bool) -> None:  # fmt: skip
    """Search SPEC's search: section with Optuna: each trial a normal run in OUT/trial-NNN.

    A trial whose metric falls behind the others' is pruned after an epoch. The study is stored
    in OUT/study.db: the same command again (with --out) continues it to --trials in all. Prints
    the trials best first and the best values as --set options.
    """
    from .console.tuning import print_tune, report_trial
    from .tuning.study import TuneOptions, import_optuna, read_search_spec

    if resume is not None:
        if out is not None:
            raise UserError("give --out DIR or --resume DIR, not both")
        if not resume.is_dir():
            raise UserError(f"'{resume}' does not exist: no tune to continue there")
        if not (resume / "study.db").is_file():
            raise UserError(f"'{resume}' holds no study.db: no tune to continue there")
        out = resume
    import_optuna()
    use_plugins(plugins)
    read_search_spec(spec, variant)  # its mistakes said before TensorFlow loads
    import_keras_quietly()
    from .tuning.study import tune as run_tune

    options = TuneOptions(trials, data, epochs, out, seed, variant)
    result = run_tune(spec, options, warn, report_trial)
    print_tune(result, plain, as_json)
    if result.interrupted:
        sys.exit(130)
