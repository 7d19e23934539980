"""The loss matches the output: a model whose last layer has no softmax (or sigmoid) outputs
logits, and training uses the cross-entropy's from_logits form and says so; evaluate, predict and
flip TTA softmax logits before using them as probabilities; a loss that cannot take logits is
refused at its line; `layerkit import` says what a last layer without activation means."""

from __future__ import annotations

import io
import json
import math
import os
import re

import keras
import numpy as np
import pytest
from rich.console import Console

from layerkit import build, load_spec
from layerkit.cli import main
from layerkit.errors import SpecError
from layerkit.training.recipe import ModelOutput, as_probabilities, make_loss, model_output

from .conftest import EXAMPLES, ROOT, cifar_subset

DOCS = (ROOT / "docs" / "training.md").read_text(encoding="utf-8")


def documented(after: str, fence: str) -> str:
    """The body of the first ``fence`` block after the text ``after`` in docs/training.md."""
    start = DOCS.index(after)
    body = DOCS.index(f"```{fence}\n", start) + len(f"```{fence}\n")
    return DOCS[body : DOCS.index("```", body)]


# the network of docs/training.md's "The loss and the last layer": a last dense without softmax
LOGITS_NET = documented("## The loss and the last layer", "yaml")
SOFTMAX_NET = LOGITS_NET.replace(
    "  - dense: {units: 10}               # no softmax: the outputs are logits\n",
    "  - dense: {units: 10, activation: softmax}\n",
)


def run_cli(runner, *args):
    return runner.invoke(main, list(args), catch_exceptions=False)


# -- what the last layer gives ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("last", "activation", "logits"),
    [
        ("- dense: {units: 10, activation: softmax}", "softmax", False),
        ("- dense: {units: 10, activation: sigmoid}", "sigmoid", False),
        ("- dense: {units: 10}", None, True),
        ("- dense: {units: 10, activation: linear}", None, True),
        ("- dense: {units: 10, activation: relu}", "relu", True),
        ("- dense: {units: 10, activation: log_softmax}", "log_softmax", True),
        ("- dense: {units: 10}\n  - softmax", "softmax", False),
        ("- dense: {units: 10}\n  - activation: {activation: softmax}", "softmax", False),
        ("- dense: {units: 10}\n  - activation: {activation: tanh}", "tanh", True),
        ("- dense: {units: 10}\n  - relu", "relu", True),
        ("- dense: {units: 10}\n  - batch_normalization", None, True),
    ],
)
def test_the_last_layer_says_whether_the_model_outputs_logits(last, activation, logits):
    model = build(load_spec(f"name: net\ninput: [8]\nlayers:\n  - dense: {{units: 4}}\n  {last}\n"))
    output = model_output(model)
    assert (output.activation, output.logits) == (activation, logits)
    # the spec's model inside the training wrapper (scaling, augmentation) is looked into
    wrapper = keras.Sequential([keras.Input((8,)), keras.layers.Rescaling(0.5), model])
    assert model_output(wrapper) == output


def test_the_reason_reads_as_the_start_line_says_it():
    assert ModelOutput(None, "dense").reason == "the last layer has no softmax"
    assert ModelOutput("relu", "dense").reason == "the last layer ends in relu, not softmax"
    assert ModelOutput("softmax", "dense").reason == "the last layer ends in softmax"


def test_logits_become_probabilities_and_probabilities_stay():
    logits = np.array(
        [[2.0, 1.0, -1.0], [1000.0, 0.0, 0.0]], "float32"
    )  # the second would overflow
    softmaxed = as_probabilities(logits, ModelOutput(None, "dense"))
    expected = np.exp(logits[0]) / np.exp(logits[0]).sum()
    np.testing.assert_allclose(softmaxed[0], expected, rtol=1e-6)
    np.testing.assert_allclose(softmaxed[1], [1.0, 0.0, 0.0])
    probabilities = np.array([[0.7, 0.2, 0.1]], "float32")
    assert as_probabilities(probabilities, ModelOutput("softmax", "d")) is probabilities


# -- the loss made for it --------------------------------------------------------------------------

LOGITS = ModelOutput(None, "dense")
SOFTMAX = ModelOutput("softmax", "dense")


def loss_for(train: str, output: ModelOutput):
    spec = load_spec(f"{SOFTMAX_NET}train:\n{train}")
    return make_loss(spec.train, output)


def test_a_cross_entropy_takes_logits_where_the_model_outputs_them():
    assert loss_for("  label_smoothing: 0.1\n", LOGITS).get_config()["from_logits"] is True
    assert loss_for("  label_smoothing: 0.1\n", SOFTMAX).get_config()["from_logits"] is False
    assert loss_for("  loss: crossentropy\n", LOGITS).from_logits is True
    assert loss_for("  loss: categorical_focal_crossentropy\n", LOGITS).from_logits is True
    assert loss_for("  loss: binary_crossentropy\n", LOGITS).from_logits is True
    # the hinge losses are defined on raw scores: they take a last layer without softmax as it is
    assert type(loss_for("  loss: categorical_hinge\n", LOGITS)).__name__ == "CategoricalHinge"
    assert make_loss(load_spec(SOFTMAX_NET).train, LOGITS).from_logits is True  # the default loss


@pytest.mark.parametrize(
    ("train", "output", "message"),
    [
        (
            "  loss: mean_squared_error\n",
            LOGITS,
            "<string>:10:9: error: train.loss: loss mean_squared_error needs probabilities, but "
            "the model outputs logits: the last layer has no softmax (layer dense). Add "
            "activation: softmax to the last layer, or use categorical_crossentropy, which then "
            "takes the logits as they are.",
        ),
        (
            "  loss: {categorical_crossentropy: {from_logits: false}}\n",
            LOGITS,
            "<string>:10:10: error: train.loss: loss categorical_crossentropy has from_logits: "
            "false, but the model's outputs are logits: the last layer has no softmax (layer "
            "dense). Remove from_logits: layerkit sets it from the model's last layer.",
        ),
        (
            "  loss: {categorical_crossentropy: {from_logits: true}}\n",
            SOFTMAX,
            "<string>:10:10: error: train.loss: loss categorical_crossentropy has from_logits: "
            "true, but the model's outputs are probabilities: the last layer ends in softmax "
            "(layer dense). Remove from_logits: layerkit sets it from the model's last layer.",
        ),
    ],
)
def test_a_loss_that_does_not_fit_the_output_is_refused_at_its_line(train, output, message):
    with pytest.raises(SpecError) as caught:
        loss_for(train, output)
    assert caught.value.format() == message


def test_a_loss_that_cannot_take_logits_is_refused_before_any_data_loads(runner, tmp_path,
                                                                         monkeypatch):  # fmt: skip
    """The message docs/training.md shows, for the spec it shows; the data named is not even an
    archive (reading it would fail), and no run directory is left."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "logits.yaml").write_text(LOGITS_NET + "train:\n  loss: mean_squared_error\n")
    (tmp_path / "broken.tar").write_text("not an archive")
    result = run_cli(runner, "train", "logits.yaml", "--data", "broken.tar", "--out", "run")
    assert result.exit_code == 2
    assert result.stderr == documented("with `train: {loss: mean_squared_error}` added", "text")
    assert not (tmp_path / "run").exists()


# -- training on logits, on real images ------------------------------------------------------------


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("logits")
    cifar_subset(root / "cifar600.tar", 60)
    (root / "logits.yaml").write_text(LOGITS_NET + "train:\n  tta: flip\n")
    (root / "softmax.yaml").write_text(SOFTMAX_NET + "train:\n  tta: flip\n")
    return root


@pytest.fixture(autouse=True)
def in_workspace(request, monkeypatch):
    if "workspace" in request.fixturenames:
        root = request.getfixturevalue("workspace")
        monkeypatch.chdir(root)
        monkeypatch.setenv("LAYERKIT_CACHE", str(root / "cache"))


@pytest.fixture(scope="module")
def logits_run(workspace):
    """The documented network trained two epochs on the 600 sample images, and its twin with a
    softmax on its last layer."""
    from click.testing import CliRunner

    results = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workspace)
        patch.setenv("LAYERKIT_CACHE", str(workspace / "cache"))
        for name in ("logits", "softmax"):
            arguments = ["train", f"{name}.yaml", "--data", "cifar600.tar", "--epochs", "2"]
            results[name] = CliRunner().invoke(main, [*arguments, "--out", f"{name}_run"])
    for result in results.values():
        assert result.exit_code == 0, result.output
    return results


def start_line(result) -> str:
    """A run's start line: the first of its progress, on stderr."""
    return next(line for line in result.stderr.splitlines() if line.startswith("training "))


def history(run):
    lines = (run / "history.csv").read_text().splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, map(float, line.split(",")), strict=True)) for line in lines[1:]]
    return [{k: v for k, v in row.items() if k not in ("seconds", "images_per_second")}
            for row in rows]  # fmt: skip


@pytest.mark.slow
def test_a_model_without_softmax_trains_on_logits_and_says_so(logits_run, workspace):
    start = start_line(logits_run["logits"])
    shown = documented("two-epoch run on the 600 sample images", "text").strip()
    assert start == shown.replace("CPU (2 cores)", f"CPU ({os.cpu_count()} cores)")
    assert "from logits" not in start_line(logits_run["softmax"])
    setup = json.loads((workspace / "logits_run" / "setup.json").read_text())
    assert (setup["loss"], setup["from_logits"]) == (
        "categorical_crossentropy (from logits: the last layer has no softmax)", True)  # fmt: skip
    setup = json.loads((workspace / "softmax_run" / "setup.json").read_text())
    assert (setup["loss"], setup["from_logits"]) == ("categorical_crossentropy", False)


@pytest.mark.slow
def test_logits_train_as_the_same_network_with_softmax_does(logits_run, workspace):
    """Same seed, same weights: the softmax inside the loss or in the last layer is the same
    computation, so the two runs agree to rounding; the first loss is about ln 10 (10 classes),
    not the ~7 a plain cross-entropy on logits gave."""
    logits, softmax = history(workspace / "logits_run"), history(workspace / "softmax_run")
    assert abs(logits[0]["loss"] - math.log(10)) < 0.15, logits[0]
    assert logits[-1]["loss"] < logits[0]["loss"]
    for row, twin in zip(logits, softmax, strict=True):
        assert row == pytest.approx(twin, rel=1e-3, abs=1e-3)


@pytest.mark.slow
def test_evaluate_and_predict_give_probabilities_for_a_logits_model(logits_run, workspace, runner):
    run = workspace / "logits_run"
    best = json.loads((run / "metrics.json").read_text())["best"]
    plain = json.loads(run_cli(runner, "evaluate", str(run), "--json").stdout)
    assert plain["accuracy"] == pytest.approx(best["val_accuracy"], abs=1e-6)
    assert plain["loss"] == pytest.approx(best["val_loss"], rel=1e-3)  # -log of a probability
    flipped = json.loads(run_cli(runner, "evaluate", str(run), "--json", "--tta", "flip").stdout)
    assert flipped["accuracy"] == pytest.approx(best["val_accuracy_tta"], abs=1e-6)

    images = workspace / "images"
    images.mkdir(exist_ok=True)
    import tarfile

    with tarfile.open(workspace / "cifar600.tar") as archive:
        for member in [m for m in archive.getmembers() if m.isfile()][::150]:
            (images / member.name.replace("/", "_")).write_bytes(archive.extractfile(member).read())
    result = run_cli(runner, "predict", str(run), str(images), "--json", "--top", "10")
    assert result.exit_code == 0, result.output
    predictions = json.loads(result.stdout)["predictions"]
    assert len(predictions) == 4
    for prediction in predictions:
        probabilities = [top["probability"] for top in prediction["top"]]
        assert all(0 < p < 1 for p in probabilities)
        assert sum(probabilities) == pytest.approx(1, abs=1e-5)
    model = keras.saving.load_model(run / "model_best.keras")
    assert model_output(model).logits  # the saved model still ends in logits, as the spec says


@pytest.mark.slow
def test_a_resumed_run_says_what_it_trains_with(logits_run, workspace):
    from layerkit.training.loop import resume
    from layerkit.training.start import TrainOptions

    console = Console(file=io.StringIO(), width=200)
    resume(workspace / "logits_run", TrainOptions(epochs=3), console, output="json")
    start = json.loads(console.file.getvalue().splitlines()[0])
    assert (start["first_epoch"], start["from_logits"], start["loss"]) == (
        3, True, "categorical_crossentropy (from logits: the last layer has no softmax)")  # fmt: skip


@pytest.mark.slow
def test_a_run_that_trained_cross_entropy_on_logits_is_not_resumed_silently(workspace,
                                                                             monkeypatch):  # fmt: skip
    """A run begun before the loss followed the last layer (simulated: the loss made as it was)."""
    import layerkit.training.trainer as training
    from layerkit.errors import TrainError
    from layerkit.spec.loader import load_spec
    from layerkit.training import recipe
    from layerkit.training.loop import resume, train
    from layerkit.training.start import TrainOptions, prepare

    monkeypatch.setattr(
        training, "make_loss", lambda settings, ends=None: recipe.make_loss(settings)
    )
    console = Console(file=io.StringIO(), width=200)
    options = TrainOptions(data="cifar600.tar", epochs=1, out=workspace / "old_run")
    train(prepare(load_spec(workspace / "logits.yaml"), options), console)
    assert ", loss:" not in console.file.getvalue()  # what such a run said: nothing
    monkeypatch.setattr(training, "make_loss", recipe.make_loss)
    with pytest.raises(TrainError) as caught:
        resume(workspace / "old_run", TrainOptions(epochs=2), console)
    assert str(caught.value) == (
        "this run trains categorical_crossentropy on logits (the last layer has no softmax): it "
        "began before layerkit matched the loss to the last layer; train it anew"
    )
    assert json.loads((workspace / "old_run" / "state.json").read_text())["epoch"] == 1


# -- layerkit import -------------------------------------------------------------------------------

NOTE = (
    "the last layer has no activation in the summary: layerkit train will treat its outputs as "
    "logits; add activation: softmax if the model had one"
)


@pytest.mark.slow
def test_an_imported_summary_says_its_last_layer_gives_logits_and_trains_on_them(workspace,
                                                                                 runner):  # fmt: skip
    """The published CIFAR summary (no activations shown): the import notes what the last layer
    means, and training the imported spec gives a sane first loss: 2.85 here, where the plain
    cross-entropy on its logits gave 6.98 (measured before the loss followed the last layer)."""
    result = run_cli(runner, "import", str(EXAMPLES / "cifar_summary.txt"), "-o", "imported.yaml")
    assert result.exit_code == 0, result.output
    assert f"check: dense_8: {NOTE}\n" in result.stderr
    text = (workspace / "imported.yaml").read_text()
    assert f"  - dense: {{units: 10}}  # not in the summary: activation; {NOTE}\n" in text
    assert text.count(NOTE) == 1  # the other dense layers are not last
    trained = run_cli(runner, "train", "imported.yaml", "--data", "cifar600.tar", "--epochs", "1",
                      "--batch-size", "50", "--out", "imported_run")  # fmt: skip
    assert trained.exit_code == 0, trained.output
    assert start_line(trained).endswith(
        ", loss: categorical_crossentropy (from logits: the last layer has no softmax) → "
        "imported_run"
    )
    (row,) = history(workspace / "imported_run")
    assert row["loss"] < 4.0, row


def test_an_activation_placeholder_at_the_end_is_noted_too(tmp_path):
    from layerkit.importer import import_summary

    printout = (EXAMPLES / "cifar_summary.txt").read_text(encoding="utf-8")
    rule = "_" * 65
    last = re.search(r"dense_8 \(Dense\) +\(None, 10\) +1010 *\n", printout)
    activation = "activation_1 (Activation)    (None, 10)                0         \n"
    (tmp_path / "summary.txt").write_text(
        printout[: last.end()] + rule + "\n" + activation + printout[last.end() :]
    )
    report = import_summary(tmp_path / "summary.txt")
    assert report.notes[-1] == (
        "activation_1: the last layer's activation is not in the summary (relu is a placeholder): "
        "layerkit train will treat its outputs as logits; add activation: softmax if the model "
        "had one"
    )
    assert NOTE not in report.text  # dense_8 is not the last layer any more
