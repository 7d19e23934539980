"""What a diff's argument names, read into a :class:`~.records.Side`: a spec (``.yaml``, built
into its Keras model, ``--set``/``--variant`` applied), a printed ``model.summary()`` (any other
file, parsed without building anything), a ``.keras`` model, ``keras:NAME`` (a
keras.applications model, built without weights) or a run directory (its spec.yaml built, or,
without one, its model_best.keras; ``latest`` and ``FOLDER/latest`` name the newest run).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import LayerkitError, SpecError
from .records import Side, model_side, summary_side

ACCEPTED = (
    "give a spec (.yaml), a printed model.summary() (.txt), a .keras model, keras:NAME "
    "(e.g. keras:ResNet50) or a run directory"
)


class DiffSourceError(LayerkitError):
    """A side of the diff that does not exist or cannot be read."""


def kind_of(source: str) -> str:
    """spec, summary, model, keras or run: what ``source`` is taken for.

    Raises:
        DiffSourceError: it is neither keras:NAME nor an existing file or directory.
    """
    if source.startswith("keras:"):
        return "keras"
    path = Path(source)
    try:
        is_dir, is_file = path.is_dir(), path.is_file()
    except (OSError, ValueError):  # a name too long, a NUL in it
        is_dir = is_file = False
    if is_dir:
        return "run"
    if not is_file:
        raise DiffSourceError(f"'{source}' does not exist; {ACCEPTED}")
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return "spec"
    if suffix == ".keras":
        return "model"
    return "summary"


def resolve_latest_run(source: str, notify: Callable[[str], None] | None = None) -> str:
    """``latest`` (the newest run under ./runs) or ``FOLDER/latest`` (the newest under FOLDER):
    the run's path, said to ``notify``; any other source (a real folder named latest too) as
    given.

    Raises:
        RunError: there is no run to take.
    """
    from ..runs.listing import LATEST, resolve_latest

    if source.startswith("keras:") or Path(source).name != LATEST:
        return source
    return str(resolve_latest(Path(source), notify))


def needs_keras(sources: Sequence[str]) -> bool:
    """Whether reading these sides builds or loads a model (a printout needs no TensorFlow)."""
    return any(kind_of(source) != "summary" for source in sources)


def read_side(
    source: str,
    overrides: Sequence[str] = (),
    variant: str | None = None,
    safe_mode: bool = True,
    allow_large: bool = False,
) -> Side:
    """One side of the diff (see the module).

    Raises:
        DiffSourceError: the source does not exist or is no kind the diff reads.
        SpecError, SpecErrors: a spec or a printout that cannot be read, at its line.
        LayerkitError: a model that cannot be loaded.
    """
    kind = kind_of(source)
    if kind == "summary":
        return _read_summary(Path(source))
    if kind == "spec":
        return _spec_side(Path(source), overrides, variant, source, "spec", allow_large)
    if kind == "run":
        return _run_side(Path(source), safe_mode, allow_large)
    from ..importer.from_model import load_model

    model = load_model(source, safe_mode)
    how = "keras.applications model" if kind == "keras" else "saved model"
    return model_side(model, source, kind, how)


def _read_summary(path: Path) -> Side:
    from ..importer.summary import parse_summary

    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DiffSourceError(
            f"'{path}' is not UTF-8 text, so not a printed model.summary(); {ACCEPTED}"
        ) from None
    except OSError as error:
        raise DiffSourceError(f"cannot read '{path}': {error.strerror or error}") from None
    return summary_side(parse_summary(text, str(path)), str(path))


def _spec_side(path: Path, overrides: Sequence[str], variant: str | None, source: str,
               kind: str, allow_large: bool) -> Side:  # fmt: skip
    from ..model.compiler import build
    from ..spec.loader import load_spec
    from ..spec.validation import validate

    plan = validate(load_spec(path, overrides, variant))
    how = "spec, built" if kind == "spec" else "run's spec.yaml, built"
    return model_side(build(plan, allow_large=allow_large), source, kind, how)


def _run_side(path: Path, safe_mode: bool, allow_large: bool) -> Side:
    """A run directory: the spec it trained (its spec.yaml), else its best model."""
    spec = path / "spec.yaml"
    if spec.is_file():
        try:
            return _spec_side(spec, (), None, str(path), "run", allow_large)
        except SpecError as error:
            raise DiffSourceError(
                f"the run '{path}' has a spec.yaml that cannot be read: {error.message}"
            ) from None
    best = path / "model_best.keras"
    if best.is_file():
        from ..importer.from_model import load_model

        return model_side(load_model(str(best), safe_mode), str(path), "run", "run's best model")
    raise DiffSourceError(
        f"'{path}' is a directory but not a layerkit run (no spec.yaml or model_best.keras); "
        f"{ACCEPTED}"
    )
