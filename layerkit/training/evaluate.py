"""Evaluating and predicting with a trained model: a run directory or a ``.keras`` file.

A run directory brings everything needed: its best model, its spec (input scaling, class names),
its data and validation split. A bare ``.keras`` file needs ``--data``, and is fed pixels scaled
by 1/255 unless a spec says otherwise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np

from ..data.dataset import DataError, Dataset, Notify, check_samples, image_size
from ..data.images import image_files, read_image_files
from ..data.load import BUILTIN, load_dataset, split
from ..errors import LayerkitError, listed
from ..keras_archive import keras_file_problem, load_failure, load_fix
from ..model import extra_layers  # noqa: F401  (registers its layers, so .keras files using them load)
from ..runs.directory import RunDir
from ..runs.listing import resolve_latest
from ..spec.settings import Normalize
from .model import channel_axis, scale_inputs
from .recipe import as_probabilities, flips, model_output, tta_probabilities


class EvaluateError(LayerkitError):
    """A model or run that cannot be evaluated as asked."""


@dataclass(frozen=True)
class Trained:
    """A trained model and what is needed to feed it."""

    model: keras.Model
    normalize: Normalize
    class_names: tuple[str, ...] | None
    run: RunDir | None = None
    source: str | None = None  # the run's data
    validation: float | int = 0.1
    seed: int = 0
    skip_bad: bool = False  # how the run read its data
    resize: bool = False
    path: Path | None = None  # the model file loaded


def open_trained(
    model_or_run: Path, safe_mode: bool = True, notify: Notify | None = None
) -> Trained:
    """Load a run directory's best model (or its last, before any best) or a ``.keras`` file.

    A ``.keras`` file inside a run directory brings the run's class names and input scaling.
    ``latest`` and ``FOLDER/latest`` name the most recently started run (said to ``notify``).
    """
    model_or_run = resolve_latest(model_or_run, notify)
    if not model_or_run.exists():
        raise EvaluateError(
            f"'{model_or_run}' does not exist; give a run directory or a .keras file"
        )
    path = None
    if (
        model_or_run.parent.name == "checkpoints"
        and (model_or_run.parents[1] / "state.json").is_file()
    ):
        raise EvaluateError(
            f"'{model_or_run}' is a training checkpoint (the model inside its scaling and "
            f"augmentation wrapper); give the run directory '{model_or_run.parents[1]}', or its "
            "model_best.keras or model_last.keras"
        )
    if model_or_run.is_file() and (model_or_run.parent / "state.json").is_file():
        if model_or_run.suffix != ".keras":
            raise EvaluateError(
                f"'{model_or_run}' is a record of the run '{model_or_run.parent}', not a model; "
                "give the run directory, or its model_best.keras or model_last.keras"
            )
        path, model_or_run = model_or_run, model_or_run.parent
    if model_or_run.is_dir():
        run = RunDir.open(model_or_run)
        path = path or _run_model(run)
        setup = run.read_setup()
        if setup.seed is None:  # a run of format 1: its setup lacks the split and the scaling
            spec = run.read_spec()
            setup = replace(setup, validation_split=spec.train.validation_split,
                            seed=spec.train.seed, normalize=asdict(spec.data.normalize))  # fmt: skip
        environment = run.read_environment()
        model = _load(path, safe_mode)
        return Trained(
            model, setup.input_scaling(), environment.class_names or None, run, setup.source,
            setup.validation_split, setup.seed, bool(setup.skip_bad_images), bool(setup.resize),
            path,
        )  # fmt: skip
    if model_or_run.suffix != ".keras" or not model_or_run.is_file():
        raise EvaluateError(
            f"'{model_or_run}' is neither a run directory nor a .keras model file; give a run "
            "(layerkit runs lists them; latest is the newest) or a .keras file"
        )
    return Trained(_load(model_or_run, safe_mode), Normalize(), None, path=model_or_run)


def scaling_note(trained: Trained) -> str | None:
    """What a ``.keras`` file outside a run is assumed to take, for the user to check: nothing
    records how it was trained to take its inputs."""
    if trained.run is not None:
        return None
    return (
        f"note: '{trained.path}' is not in a run directory, so nothing says how its inputs were "
        "scaled in training: its pixels are scaled x * 1/255 (data.normalize's default); give "
        "its run directory to use the scaling it trained with"
    )


def _run_model(run: RunDir) -> Path:
    """The model a run directory stands for: its best, or its last before any best."""
    return run.best_model if run.best_model.is_file() else run.last_model


def run_figure(trained: Trained, data: str | None, tta: str | None, translate: int) -> Path | None:
    """Where an evaluation is kept as the run's own confusion matrix: only that of the run's own
    model (:func:`_run_model`; not, say, its ``model_last.keras`` once it has a best) on its own
    validation split."""
    run = trained.run
    if run is None or data is not None or trained.path is None:
        return None
    if trained.path.resolve() != _run_model(run).resolve():
        return None
    return run.path / confusion_name(tta, translate)


def _load(path: Path, safe_mode: bool) -> keras.Model:
    problem = keras_file_problem(path)
    if problem is not None:
        raise EvaluateError(f"cannot load model '{path}': {problem}; save the model again")
    try:
        return keras.saving.load_model(path, safe_mode=safe_mode)
    except Exception as error:  # Keras raises many kinds for a file it cannot rebuild
        fix = load_fix(path) or (
            "check that it is a model saved by Keras 3 whose layers are Keras's or layerkit's"
        )
        raise EvaluateError(f"cannot load model '{path}': {load_failure(error)}; {fix}") from None


def scaled(x: np.ndarray, trained: Trained) -> np.ndarray:
    """Samples prepared as training prepared them, by the same layers (see :func:`input_scaling`)."""
    model = trained.model
    return scale_inputs(x, trained.normalize, tuple(model.inputs[0].shape[1:]), channel_axis(model))


def predict_probabilities(trained: Trained, x: np.ndarray, tta: str | None, batch_size: int = 256,
                          translate: int = 0) -> np.ndarray:  # fmt: skip
    """Class probabilities for ``x``: a model whose last layer has no softmax (or sigmoid) outputs
    logits, which are softmaxed; with ``tta="flip"`` the average of each image's and its mirror
    image's probabilities, and with ``translate`` also of its shifted views, as ``train.tta`` and
    ``tta_translate`` average them (:func:`~layerkit.training.recipe.tta_probabilities`)."""
    inputs = scaled(x, trained)
    ends = model_output(trained.model)

    def predict(images: np.ndarray) -> np.ndarray:
        return trained.model.predict(images, batch_size=batch_size, verbose=0)

    if tta != "flip":
        return as_probabilities(predict(inputs), ends)
    return tta_probabilities(predict, inputs, ends, translate)


def evaluation_data(
    trained: Trained,
    data: str | None,
    *,
    skip_bad: bool = False,
    resize: bool = False,
    notify: Notify | None = None,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], str]:
    """(x, y, class names, description): --data, else the run's own validation split. Images are
    read as the run read them (skipping bad ones, resizing) or as asked; loading the data tells
    ``notify`` what it has to say (see :func:`load_dataset`)."""
    shape = tuple(trained.model.inputs[0].shape[1:])
    options = {
        "skip_bad": skip_bad or trained.skip_bad,
        "resize": resize or trained.resize,
        "notify": notify,
    }
    if data is not None:
        dataset = load_dataset(data, shape, **options)
        x, y = (
            (dataset.x_test, dataset.y_test)
            if dataset.x_test is not None
            else (dataset.x, dataset.y)
        )
        description = data
    elif trained.run is None or trained.source is None:
        raise EvaluateError("a .keras model needs --data to be evaluated on")
    else:
        dataset = _run_data(trained.source, shape, options)
        _, validation = split(dataset, trained.validation, trained.seed)
        if not len(validation):
            raise EvaluateError("the run held out no validation data; give --data")
        x, y = dataset.x[validation], dataset.y[validation]
        description = f"{trained.source} (validation split)"
    if not len(y):
        raise DataError(f"'{description}' holds no samples to evaluate on")
    check_samples(x, shape, "the model's input")
    return x, y, _names(trained, dataset), description


def _run_data(source: str, shape: tuple, options: dict[str, Any]) -> Dataset:
    """The data a run trained on, read again; gone from where the run found it, it is said so."""
    if not Path(source).expanduser().exists() and source not in BUILTIN:
        raise EvaluateError(
            f"the data this run trained on, '{source}', is not there any more; give its new "
            "place, or other data with the run's classes, as --data"
        )
    return load_dataset(source, shape, **options)


def _numbered(names: tuple[str, ...]) -> bool:
    """Names made up from class numbers (an .npz without class_names)."""
    return names == tuple(str(index) for index in range(len(names)))


def _names(trained: Trained, dataset: Dataset) -> tuple[str, ...]:
    """The class names to report; the data's must be the model's, or the rows would be
    mislabelled (labels are positions in each side's sorted list of classes)."""
    model, data = trained.class_names, dataset.class_names
    if not model or _numbered(data):
        return model or data
    if len(model) != len(data):
        raise DataError(
            f"the model was trained on {len(model)} classes, the data has {len(data)}; evaluate "
            f"on data with the model's classes ({listed(model)})"
        )
    if not _numbered(model) and model != data:
        differ = [f"{index}: '{theirs}' not '{ours}'" for index, (ours, theirs)
                  in enumerate(zip(model, data, strict=True)) if ours != theirs]  # fmt: skip
        raise DataError(
            f"the data's classes are not the model's ({listed(differ)}); name the class "
            f"folders as the model's: {listed(model)}"
        )
    return data if _numbered(model) else model


def evaluate(trained: Trained, data: str | None, tta: str | None, *, skip_bad: bool = False,
             resize: bool = False, notify: Notify | None = None,
             translate: int = 0) -> dict[str, Any]:  # fmt: skip
    """Loss, accuracy, top-5 accuracy, per-class accuracy and the confusion matrix; with
    ``translate`` (``--tta-translate``) flip TTA also averages over shifted views."""
    shape = tuple(trained.model.inputs[0].shape[1:])
    if tta == "flip" and not flips(shape):
        raise EvaluateError(
            f"--tta flip mirrors images, but this model's input is {shape}, not (height, width) "
            "or (height, width, channels); evaluate without --tta"
        )
    if tta == "flip":
        _check_channels_last(trained.model)
    _check_translate(shape, tta, translate)
    x, y, names, description = evaluation_data(
        trained, data, skip_bad=skip_bad, resize=resize, notify=notify
    )
    _check_translate(x.shape[1:], tta, translate)  # a model of any image size: the data's
    outputs = trained.model.outputs[0].shape[-1]
    if len(y) and int(y.max()) >= outputs:
        raise DataError(f"labels go up to {int(y.max())}, but the model has {outputs} outputs")
    if len(names) < outputs:  # the data has none of the last classes: the model still predicts them
        names = (*names, *map(str, range(len(names), outputs)))
    probabilities = predict_probabilities(trained, x, tta, translate=translate)
    predicted = probabilities.argmax(axis=1)
    clipped = np.clip(probabilities[np.arange(len(y)), y], 1e-7, 1.0)
    top5 = np.argsort(-probabilities, axis=1)[:, :5]
    confusion = np.zeros((len(names), len(names)), dtype=np.int64)
    np.add.at(confusion, (y, predicted), 1)
    per_class = {
        name: float(confusion[index, index] / confusion[index].sum())
        if confusion[index].sum()
        else None
        for index, name in enumerate(names)
    }
    return {
        "data": description,
        "n": len(y),
        "tta": tta,
        **({"tta_translate": translate} if translate else {}),
        "loss": float(-np.log(clipped).mean()),
        "accuracy": float((predicted == y).mean()),
        "top5_accuracy": float((top5 == y[:, None]).any(axis=1).mean()),
        "per_class": per_class,
        "class_names": list(names),
        "confusion": confusion.tolist(),
    }


def _check_channels_last(model: keras.Model) -> None:
    """Flip TTA mirrors and shifts the width and height of channels_last images: a model with
    channels_first layers takes its images another way round."""
    for layer in model._flatten_layers(include_self=False):
        if getattr(layer, "data_format", None) == "channels_first":
            raise EvaluateError(
                f"--tta flip mirrors and shifts channels_last images, but layer '{layer.name}' "
                "has data_format channels_first; evaluate without --tta"
            )


def _check_translate(shape: tuple, tta: str | None, translate: int) -> None:
    """``--tta-translate`` shifts the views of flip TTA by fewer pixels than the images have."""
    if not translate:
        return
    if tta != "flip":
        raise EvaluateError("--tta-translate shifts the views flip TTA averages; add --tta flip")
    sizes = [size for size in shape[:2] if size is not None] if flips(shape) else []
    if sizes and translate >= min(sizes):
        raise EvaluateError(
            f"--tta-translate {translate} shifts images by at least their size "
            f"({shape[0]}x{shape[1]}); give fewer pixels, such as 2"
        )


def confusion_name(tta: str | None, translate: int = 0) -> str:
    """The file a run's own confusion matrix is written to, one per kind of evaluation:
    ``confusion.png``, ``confusion_tta.png`` (flip TTA) or ``confusion_tta_translate2.png``."""
    if not tta:
        return "confusion.png"
    return f"confusion_tta_translate{translate}.png" if translate else "confusion_tta.png"


def plot_confusion(path: Path, result: dict[str, Any], replace: bool = True) -> None:
    """The confusion matrix as a PNG at ``path``, written atomically; with ``replace=False`` an
    existing file is never replaced (FileExistsError)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..files import atomic_output

    names = result["class_names"]
    matrix = np.array(result["confusion"])
    size = max(4.0, 0.5 * len(names) + 2)
    figure, axis = plt.subplots(figsize=(size, size))
    axis.imshow(matrix, cmap="Blues")
    axis.set_xticks(range(len(names)), names, rotation=60, ha="right")
    axis.set_yticks(range(len(names)), names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(f"accuracy {result['accuracy']:.4f} on {result['n']} images")
    if len(names) <= 20:
        for (row, column), count in np.ndenumerate(matrix):
            axis.text(column, row, str(count), ha="center", va="center", fontsize=7,
                      color="white" if count > matrix.max() / 2 else "black")  # fmt: skip
    try:
        figure.tight_layout()
        with atomic_output(path, replace) as temporary:
            figure.savefig(temporary, dpi=90, format="png")
    finally:
        plt.close(figure)


def predict(trained: Trained, paths: list[Path], top: int, resize: bool) -> list[dict[str, Any]]:
    """Top-k classes with probabilities for each image file."""
    height, width, channels = image_size(
        tuple(trained.model.inputs[0].shape[1:]), "predict reads image files, so it cannot feed it"
    )
    files = image_files(paths)
    probabilities = predict_probabilities(
        trained, read_image_files(files, (height, width, channels), resize), None
    )
    names = trained.class_names or tuple(str(i) for i in range(probabilities.shape[1]))
    results = []
    for file, row in zip(files, probabilities, strict=True):
        best = np.argsort(-row)[:top]
        results.append(
            {
                "file": str(file),
                "top": [{"class": names[i], "probability": float(row[i])} for i in best],
            }
        )
    return results
