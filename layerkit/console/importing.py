"""``layerkit import`` at the command line: a source (a printed summary, a ``.keras`` model or
``keras:NAME``) and the spec file to write in; the spec written — atomically, never over a file
without ``--force`` — only when it builds as imported (or with ``--partial``), and the report out:
what to check, then a closing line counting the rows inferred, assumed and left to fill in; or
one JSON object with ``--json``.

Gives the exit code: 0 written, 1 not written because the spec would not build (one ``error:``
line saying why and how to go on).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .errors import EXIT_MISMATCH, UserError
from .output import import_keras_quietly, say
from .targets import check_output_target, write_output

if TYPE_CHECKING:
    from ..importer import ImportReport
    from ..importer.build_check import BuildCheck


def run_import(source: str, output: Path, input_shape: tuple[int | None, ...] | None, force: bool,
               unsafe: bool, partial: bool, as_json: bool) -> int:  # fmt: skip
    """Import ``source``, check that the spec builds, write it (or refuse), report; the exit code."""
    from_model = source.startswith("keras:") or source.endswith(".keras")
    if not from_model and not Path(source).is_file():
        raise UserError(
            f"'{source}' is not a file; give a printed summary (.txt), a .keras model or "
            "keras:NAME (e.g. keras:ResNet50)",
            as_json,
        )
    if output.suffix.lower() not in (".yaml", ".yml"):
        raise UserError(f"--output: '{output}' should end in .yaml; import writes a spec", as_json)
    read = None if source.startswith("keras:") else Path(source)
    check_output_target(output, force, "--output", as_json, source=read)
    from ..importer import import_model, import_summary
    from ..importer.build_check import check_buildable

    if from_model:
        import_keras_quietly()
        report = import_model(source, safe_mode=not unsafe)
    else:  # a printout that cannot be read is said before TensorFlow loads
        report = import_summary(Path(source), input_shape)
        import_keras_quietly()  # the check builds the model
    check = check_buildable(report)
    written = check.problem is None or partial
    if written:
        try:
            write_output(output, report.text, force, as_json=as_json)
        except OSError as error:  # a full disk, a folder that takes no files
            raise UserError(
                f"--output: cannot write '{output}': {error.strerror or error}; "
                "any file there is left as it was",
                as_json,
            ) from None
    if as_json:
        click.echo(json.dumps(import_json(report, check, output, written)))
    elif written:
        report_import(report, check, output)
    else:
        say(f"error: {refusal(report, check, output)}", err=True)
    return 0 if written else EXIT_MISMATCH


def refusal(report: ImportReport, check: BuildCheck, output: Path) -> str:
    """The one line that says why nothing was written, and how to go on."""
    if report.not_imported:
        rows = "that row" if len(report.not_imported) == 1 else "those rows"
        then = f"with {rows} marked NOT IMPORTED for you to fill in"
    else:
        then = "and fix it by hand (layerkit build names the problem at its line); please report it"
    return (
        f"{output} not written: the imported spec would not build: {check.problem}. "
        f"Rerun with --partial to write it anyway, {then}"
    )


def report_import(report: ImportReport, check: BuildCheck, output: Path) -> None:
    """What ``import`` wrote, what in it needs a person's check, and the closing count."""
    say(f"wrote {output}: {report.layers} layers; check it with: layerkit build {output}", err=True)
    if report.placeholders:
        say(
            f"placeholders to check (not in the summary): {'; '.join(report.placeholders)}",
            err=True,
        )
    for note in report.notes:
        say(f"check: {note}", err=True)
    for entry in report.not_imported:
        say(f"not imported (marked in the spec): {entry}", err=True)
    if check.problem is not None and not report.not_imported:
        say(f"written with --partial: {check.problem}", err=True)
    say(closing_line(report, check))


def closing_line(report: ImportReport, check: BuildCheck) -> str:
    """``25 rows: 12 inferred, 13 assumed (not in the summary), 0 to fill in; it builds ✓``."""
    counts = report.counts
    if report.from_model:
        found = f"{counts['inferred']:,} read from the model"
        assumed = f"{counts['assumed']:,} assumed"
    else:
        found = f"{counts['inferred']:,} inferred"
        assumed = f"{counts['assumed']:,} assumed (not in the summary)"
    if check.problem is not None:
        verdict = "written with --partial: it does not build yet"
    elif check.built:
        verdict = "it builds, every row and total as expected ✓"
    else:
        verdict = "it validates (too large to build here: layerkit build --allow-large)"
    rows = f"{report.layers:,} row{'' if report.layers == 1 else 's'}"
    return f"{rows}: {found}, {assumed}, {counts['to_fill_in']:,} to fill in; {verdict}"


def import_json(report: ImportReport, check: BuildCheck, output: Path, written: bool) -> dict:
    """``--json``: the counts, the output path, whether it was written and builds, and the notes."""
    return {
        "ok": check.problem is None,
        "output": str(output),
        "written": written,
        "built": check.built and check.problem is None,
        "problem": check.problem,
        "layers": report.layers,
        "rows": report.counts,
        "placeholders": report.placeholders,
        "notes": report.notes,
        "not_imported": report.not_imported,
    }
