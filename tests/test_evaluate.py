"""evaluate and predict on awkward inputs: runs that resized their images, data whose classes or
shapes are not the model's, checkpoints, plots that would overwrite files, models that do not take
image files. Every case is one `error:` line with exit 2, never a traceback; real CIFAR-10 images."""

from __future__ import annotations

import json
import shutil
import tarfile

import numpy as np
import pytest

from layerkit.cli import main

from .conftest import NO_NCHW, cifar_subset, nchw_convolutions_run

SPEC = """\
name: small
input: [28, 28, 3]
layers:
  - conv2d: {filters: 8, kernel_size: 3, padding: same, activation: relu}
  - global_average_pooling2d
  - dense: {units: 10, activation: softmax}
train:
  batch_size: 50
  epochs: 1
  validation_split: 60
"""


def run_cli(runner, *args):
    return runner.invoke(main, [str(arg) for arg in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A one-epoch run on 300 real 32x32 images resized to the spec's 28x28, and a folder copy of
    the images."""
    from click.testing import CliRunner

    root = tmp_path_factory.mktemp("evaluate")
    archive = cifar_subset(root / "c300.tar", 30)
    with tarfile.open(archive) as tar:
        tar.extractall(root / "folder", filter="data")
    (root / "small.yaml").write_text(SPEC)
    result = CliRunner().invoke(
        main,
        ["train", str(root / "small.yaml"), "--data", str(archive), "--resize", "--out",
         str(root / "run")],
        env={"LAYERKIT_CACHE": str(root / "cache")},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture(autouse=True)
def private_cache(workspace, monkeypatch):
    monkeypatch.setenv("LAYERKIT_CACHE", str(workspace / "cache"))


def test_a_run_is_evaluated_on_its_data_as_it_read_it(runner, workspace):
    """The run resized its images: evaluate reads its validation split the same way."""
    result = run_cli(runner, "evaluate", workspace / "run", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    best = json.loads((workspace / "run" / "metrics.json").read_text())["best"]
    assert report["n"] == 60 and report["accuracy"] == pytest.approx(best["val_accuracy"], abs=1e-6)


def test_data_with_other_class_names_is_refused(runner, workspace, tmp_path):
    renamed = tmp_path / "renamed"
    shutil.copytree(workspace / "folder" / "train", renamed)
    (renamed / "airplane").rename(renamed / "zeppelin")  # now sorts last: every label shifts
    result = run_cli(runner, "evaluate", workspace / "run", "--data", renamed, "--resize")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: the data's classes are not the model's (0: 'automobile' not 'airplane', "
        "1: 'bird' not 'automobile', "
    )
    assert "name the class folders as the model's: airplane, automobile, bird," in result.stderr
    same = run_cli(runner, "evaluate", workspace / "run", "--data", workspace / "folder" / "train",
                   "--resize", "--json")  # fmt: skip
    assert same.exit_code == 0 and json.loads(same.stdout)["n"] == 300


def test_plots_never_replace_a_file_and_other_data_leaves_the_runs_figure(runner, workspace):
    run = workspace / "run"
    assert run_cli(runner, "evaluate", run).exit_code == 0
    figure = (run / "confusion.png").read_bytes()
    mine = workspace / "mine.png"
    mine.write_text("a file of mine")
    kept = run_cli(runner, "evaluate", run, "--plot", mine)
    assert kept.exit_code == 2 and "'" + str(mine) + "' already exists; pass --force" in kept.stderr
    assert mine.read_text() == "a file of mine"
    nowhere = run_cli(runner, "evaluate", run, "--plot", workspace / "none" / "x.png")
    assert (
        nowhere.exit_code == 2 and f"folder '{workspace / 'none'}' does not exist" in nowhere.stderr
    )
    other = run_cli(runner, "evaluate", run, "--data", workspace / "folder" / "train", "--resize",
                    "--plot", mine, "--force")  # fmt: skip
    assert other.exit_code == 0, other.output
    assert mine.read_bytes().startswith(b"\x89PNG")
    assert (run / "confusion.png").read_bytes() == figure  # the run's own figure is its split's


def test_checkpoints_and_missing_paths_are_named(runner, workspace):
    checkpoint = next((workspace / "run" / "checkpoints").glob("*.keras"))
    result = run_cli(runner, "evaluate", checkpoint)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: '{checkpoint}' is a training checkpoint (the model inside its scaling and "
        f"augmentation wrapper); give the run directory '{workspace / 'run'}', or its "
        "model_best.keras or model_last.keras\n"
    )
    missing = run_cli(runner, "evaluate", workspace / "nope", "--json")
    assert missing.exit_code == 2
    assert json.loads(missing.stdout)["errors"][0]["message"] == (
        f"'{workspace / 'nope'}' does not exist; give a run directory or a .keras file"
    )
    assert run_cli(runner, "predict", workspace / "nope", workspace).exit_code == 2
    history = workspace / "run" / "history.csv"
    record = run_cli(runner, "evaluate", history)
    assert record.exit_code == 2
    assert record.stderr == (
        f"error: '{history}' is a record of the run '{workspace / 'run'}', not a model; give the "
        "run directory, or its model_best.keras or model_last.keras\n"
    )


def test_arrays_of_another_shape_or_none_at_all(runner, workspace, tmp_path):
    grey = tmp_path / "grey.npz"
    np.savez(grey, x_train=np.zeros((4, 28, 28), "uint8"), y_train=np.arange(4))
    result = run_cli(runner, "evaluate", workspace / "run", "--data", grey)
    assert result.exit_code == 2
    assert result.stderr == (
        "error: the data's samples are (28, 28), but the model's input is (28, 28, 3); give data "
        "of that shape\n"
    )
    empty = tmp_path / "empty.npz"
    np.savez(empty, x_train=np.zeros((4, 28, 28, 3), "uint8"), y_train=np.arange(4),
             x_test=np.zeros((0, 28, 28, 3), "uint8"), y_test=np.zeros(0, int))  # fmt: skip
    result = run_cli(runner, "evaluate", workspace / "run", "--data", empty)
    assert result.exit_code == 2
    assert result.stderr == f"error: '{empty}' holds no samples to evaluate on\n"


@pytest.mark.parametrize(
    ("model_input", "shown"), [("[3072]", "[3072]"), ("[null, null, 3]", "[None, None, 3]")]
)
def test_predict_refuses_models_that_do_not_take_image_files(runner, workspace, tmp_path,
                                                             model_input, shown):  # fmt: skip
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"name: other\ninput: {model_input}\nlayers:\n  - dense: {{units: 10}}\n")
    assert run_cli(runner, "build", spec, "--save", tmp_path / "m.keras").exit_code == 0
    image = next((workspace / "folder").rglob("*.jpg"))
    result = run_cli(runner, "predict", tmp_path / "m.keras", image, "--resize")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: image files need a model input of fixed size, (height, width) or (height, width, "
        f"channels) with 1, 3 or 4 channels; this input is {shown}: predict reads image files, "
        "so it cannot feed it\n"
    )


def test_a_run_in_the_previous_format_still_evaluates_and_resumes(runner, workspace, tmp_path):
    """A run written before its records had a version, without the keys added since, is read
    with the defaults it trained under: it evaluates as a current run does, and resumes."""
    from layerkit.runs.records import RUN_FORMAT

    current, old = tmp_path / "current", tmp_path / "old"
    for copy in (current, old):
        shutil.copytree(workspace / "run", copy, ignore=shutil.ignore_patterns("lock", "*.png"))

    def keep(name: str, keys: tuple[str, ...]) -> None:
        record = json.loads((old / name).read_text())
        (old / name).write_text(json.dumps({key: record[key] for key in keys if key in record}))

    keep("setup.json", ("source", "skip_bad_images", "resize", "augment", "precision"))
    keep("state.json", ("epoch", "checkpoint", "best", "monitor"))
    environment = json.loads((old / "environment.json").read_text())
    keep("environment.json", tuple(key for key in environment if key != "version"))
    assert "version" not in json.loads((old / "setup.json").read_text())
    evaluated = [run_cli(runner, "evaluate", run, "--json") for run in (current, old)]
    assert [result.exit_code for result in evaluated] == [0, 0]
    assert json.loads(evaluated[1].stdout) == json.loads(evaluated[0].stdout)
    assert json.loads(evaluated[1].stdout)["class_names"][0] == "airplane"
    resumed = run_cli(runner, "train", "--resume", old, "--epochs", "2", "--plain")
    assert resumed.exit_code == 0, resumed.output
    assert f"done: 2 epochs in {old}" in resumed.stdout
    state = json.loads((old / "state.json").read_text())
    assert (state["epoch"], state["version"], state["checkpoint"]) == (
        2, RUN_FORMAT, "epoch-0002.keras")  # fmt: skip
    assert "epochs: 2" in (old / "spec.yaml").read_text()


def test_a_run_is_evaluated_from_its_setup_not_from_its_spec(runner, workspace, tmp_path):
    """setup.json records the split and the input scaling when the run starts; evaluate reads
    them there, so a spec.yaml edited afterwards changes nothing."""
    run = tmp_path / "run"
    shutil.copytree(workspace / "run", run, ignore=shutil.ignore_patterns("lock", "*.png"))
    setup = json.loads((run / "setup.json").read_text())
    assert (setup["validation_split"], setup["seed"], setup["normalize"]) == (
        60, 0, {"scale": 1 / 255, "offset": 0.0, "mean": None, "std": None})  # fmt: skip
    edited = (run / "spec.yaml").read_text().replace("validation_split: 60", "validation_split: 90")
    (run / "spec.yaml").write_text(edited + "data:\n  normalize: {scale: 1.0}\n")
    evaluated = [run_cli(runner, "evaluate", path, "--json") for path in (workspace / "run", run)]
    assert [result.exit_code for result in evaluated] == [0, 0]
    assert json.loads(evaluated[1].stdout) == json.loads(evaluated[0].stdout)
    assert json.loads(evaluated[1].stdout)["n"] == 60


def test_evaluate_scales_samples_with_the_layers_training_puts_in_front():
    """One definition of input scaling: the numbers are the documented formula, and the
    training wrapper's scaling layers are the ones evaluate applies."""
    import keras

    from layerkit import build, load_spec, validate
    from layerkit.spec.settings import Normalize
    from layerkit.training.model import input_scaling, scale_inputs, training_model

    normalize = Normalize(scale=1 / 255, offset=0.1, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))
    x = np.random.default_rng(0).integers(0, 256, size=(5, 4, 4, 3)).astype("uint8")
    expected = (x.astype("float32") / 255 + 0.1 - np.array([0.5, 0.4, 0.3])) / np.array(
        [0.2, 0.25, 0.3]
    )
    np.testing.assert_allclose(scale_inputs(x, normalize, (4, 4, 3)), expected, rtol=1e-5)
    plan = validate(
        load_spec("name: t\ninput: [4, 4, 3]\nlayers:\n  - flatten\n  - dense: {units: 2}\n")
    )
    wrapper = training_model(build(plan), plan, normalize, augment=False)
    in_front = [layer for layer in wrapper.layers if layer.name in ("scale", "standardize")]
    assert [(type(a), a.get_config()) for a in in_front] == [
        (type(b), b.get_config()) for b in input_scaling(normalize, (4, 4, 3))
    ]
    assert isinstance(in_front[1], keras.layers.Normalization)


CHANNELS_FIRST = """\
name: cfirst
input: [3, 4, 4]
layers:
  - conv2d: {filters: 2, kernel_size: 3, padding: same, data_format: channels_first}
  - flatten
  - dense: {units: 2}
data:
  normalize: {scale: 0.00392156862745098, mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3]}
"""


def test_a_channels_first_model_is_standardized_per_channel_on_its_first_axis():
    """Samples of a channels_first model are [channels, height, width]: the spec's three means
    and stds are its three channels (not the last axis's four columns), in training, evaluate
    and the exported model's description alike."""
    from layerkit import build, load_spec, validate
    from layerkit.export.artifact import preprocessing
    from layerkit.training.evaluate import Trained, scaled
    from layerkit.training.model import training_model

    plan = validate(load_spec(CHANNELS_FIRST))
    model = build(plan)
    normalize = plan.spec.data.normalize
    x = np.random.default_rng(0).integers(0, 256, size=(5, 3, 4, 4)).astype("uint8")
    mean, std = np.array([0.5, 0.4, 0.3]), np.array([0.2, 0.25, 0.3])
    expected = (x / 255 - mean[:, None, None]) / std[:, None, None]
    trained = Trained(model, normalize, ("a", "b"))
    np.testing.assert_allclose(scaled(x, trained), expected, rtol=1e-5, atol=1e-5)
    described = preprocessing(trained, softmax_added=True, resize=False)
    assert described["input"]["layout"] == "NCHW (batch, channels, height, width)"
    assert described["input"]["channels"] == "RGB"
    assert described["resize"]["to"] == [4, 4]
    if not nchw_convolutions_run():
        pytest.skip(NO_NCHW)
    wrapper = training_model(model, plan, normalize, augment=False)
    np.testing.assert_allclose(wrapper.predict(x, verbose=0),
                               model.predict(expected.astype("float32"), verbose=0),
                               rtol=1e-4, atol=1e-5)  # fmt: skip


def test_a_channels_first_models_normalize_gives_a_value_per_channel(validate_text):
    """data.normalize's per-channel values are counted against the channels of a channels_first
    input (its first size), at their line."""
    assert validate_text(CHANNELS_FIRST).exit_code == 0
    columns = CHANNELS_FIRST.replace("mean: [0.5, 0.4, 0.3]", "mean: [0.5, 0.4, 0.3, 0.2]")
    assert validate_text(columns).errors == [
        "spec.yaml:8:49: error: data.normalize.mean: expected one value, or one per channel (3 "
        "for the input [3, 4, 4]), received 4"
    ]


def copied_run(workspace, tmp_path):
    """A copy of the workspace's run, to change without touching the other tests' run."""
    run = tmp_path / "run"
    shutil.copytree(workspace / "run", run)
    return run


def test_a_run_that_cannot_keep_its_figure_still_gives_its_results(runner, workspace, tmp_path):
    """The run's own confusion.png is written after the results are printed, and a run that
    cannot take it (read-only, someone else's; here a folder in its way) loses only the figure."""
    run = copied_run(workspace, tmp_path)
    (run / "confusion.png").unlink(missing_ok=True)
    (run / "confusion.png").mkdir()
    result = run_cli(runner, "evaluate", run, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n"] == 60
    assert result.stderr.startswith(f"warning: the run's figure {run / 'confusion.png'} was not")
    assert (run / "confusion.png").is_dir()


def test_the_runs_figure_is_its_own_models(runner, workspace, tmp_path):
    """Evaluating the run's model_last.keras (not the model the run stands for once it has a
    best) leaves the run's confusion.png alone; the best model's file writes it."""
    run = copied_run(workspace, tmp_path)
    (run / "confusion.png").write_bytes(b"the best model's figure")
    last = run_cli(runner, "evaluate", run / "model_last.keras")
    assert last.exit_code == 0, last.output
    assert (run / "confusion.png").read_bytes() == b"the best model's figure"
    best = run_cli(runner, "evaluate", run / "model_best.keras")
    assert best.exit_code == 0, best.output
    assert (run / "confusion.png").read_bytes().startswith(b"\x89PNG")


def test_plot_is_a_png(runner, workspace, tmp_path):
    result = run_cli(runner, "evaluate", workspace / "run", "--plot", tmp_path / "matrix.pdf")
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: --plot: '{tmp_path / 'matrix.pdf'}' does not end in .png; the figure is written "
        f"as a PNG. Use --plot {tmp_path / 'matrix.png'}.\n"
    )
    assert not (tmp_path / "matrix.pdf").exists()


def test_a_run_whose_data_moved_says_so_and_how_to_go_on(runner, workspace, tmp_path):
    run = copied_run(workspace, tmp_path)
    setup = json.loads((run / "setup.json").read_text())
    gone = tmp_path / "moved" / "c300.tar"
    (run / "setup.json").write_text(json.dumps({**setup, "source": str(gone)}))
    result = run_cli(runner, "evaluate", run)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: the data this run trained on, '{gone}', is not there any more; give its new "
        "place, or other data with the run's classes, as --data\n"
    )
    moved = run_cli(runner, "evaluate", run, "--data", workspace / "c300.tar", "--json")
    assert moved.exit_code == 0 and json.loads(moved.stdout)["n"] == 300


def test_predict_skips_what_an_operating_system_adds_to_a_folder(runner, workspace, tmp_path):
    """A folder copied from a Mac holds ._ resource forks and __MACOSX: training skips them, and
    so does predict."""
    images = tmp_path / "images"
    picked = sorted((workspace / "folder" / "train" / "cat").glob("*.jpg"))[:2]
    (images / "__MACOSX").mkdir(parents=True)
    for image in picked:
        shutil.copy(image, images / image.name)
        (images / f"._{image.name}").write_bytes(b"\x00\x05\x16\x07 resource fork")
        (images / "__MACOSX" / image.name).write_bytes(b"not an image either")
    result = run_cli(runner, "predict", workspace / "run", images, "--resize", "--json")
    assert result.exit_code == 0, result.output
    files = [entry["file"] for entry in json.loads(result.stdout)["predictions"]]
    assert files == [str(images / image.name) for image in picked]


def test_training_on_images_scaled_twice_is_warned_of(runner, workspace, tmp_path):
    """Float images already within [0, 1], scaled by data.normalize's 1/255 once more, train a
    model that image files at predict time would feed 255 times more: train says so, and says
    nothing of the same pixels given as 0-255."""
    from PIL import Image

    files = sorted((workspace / "folder").rglob("*.jpg"))[::10]
    pixels = np.stack([np.asarray(Image.open(file).convert("RGB")) for file in files])
    labels = np.arange(len(files)) % 10
    spec = tmp_path / "tiny.yaml"
    spec.write_text("name: tiny\ninput: [32, 32, 3]\nlayers:\n  - flatten\n"
                    "  - dense: {units: 10, activation: softmax}\n"
                    "train: {epochs: 1, batch_size: 10, validation_split: 10}\n")  # fmt: skip
    warning = "warning: the training images are floats within [0, 1], and data.normalize scales"
    for name, x, warned in [("scaled", pixels / 255.0, True), ("pixels", pixels, False)]:
        np.savez(tmp_path / f"{name}.npz", x_train=x.astype("float32"), y_train=labels)
        result = run_cli(runner, "train", spec, "--data", tmp_path / f"{name}.npz", "--out",
                         tmp_path / name, "--plain")  # fmt: skip
        assert result.exit_code == 0, result.output
        assert (warning in result.stderr) is warned, result.stderr


def test_train_says_at_the_layer_when_channels_first_does_not_run_here(runner, tmp_path):
    """TensorFlow on a CPU has channels_first convolutions in some builds only: where it has none,
    train refuses the layer at its line, before a run directory is made; elsewhere it trains."""
    spec = tmp_path / "cfirst.yaml"
    spec.write_text(CHANNELS_FIRST + "train: {epochs: 1, batch_size: 4, validation_split: 4}\n")
    x = np.random.default_rng(0).integers(0, 256, size=(12, 3, 4, 4)).astype("uint8")
    np.savez(tmp_path / "cfirst.npz", x_train=x, y_train=np.arange(12) % 2)
    result = run_cli(runner, "train", spec, "--data", tmp_path / "cfirst.npz", "--out",
                     tmp_path / "run", "--plain")  # fmt: skip
    if nchw_convolutions_run():
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 2
    assert result.stderr == (
        f"{spec}:4:5: error: layers[0].conv2d: Conv2D has data_format: channels_first, which "
        "TensorFlow computes on a GPU but not on this CPU (its kernels here take channels_last "
        "only). Use channels_last (the default: drop data_format, input [height, width, "
        "channels]), or train on a GPU, or under KERAS_BACKEND=jax.\n"
    )
    assert not (tmp_path / "run").exists()


def test_a_keras_file_outside_its_run_says_the_scaling_it_assumes(runner, workspace, tmp_path):
    """Nothing beside a bare .keras file says how its inputs were scaled: evaluate and predict
    feed it x * 1/255 and say so on stderr (stdout stays the result); its run does not need to."""
    alone = tmp_path / "alone.keras"
    shutil.copyfile(workspace / "run" / "model_best.keras", alone)
    note = (
        f"note: '{alone}' is not in a run directory, so nothing says how its inputs were scaled "
        "in training: its pixels are scaled x * 1/255 (data.normalize's default); give its run "
        "directory to use the scaling it trained with\n"
    )
    folder = workspace / "folder"
    bare = run_cli(runner, "evaluate", alone, "--data", folder, "--resize", "--json")
    assert bare.exit_code == 0, bare.output
    assert bare.stderr == note
    from_run = run_cli(runner, "evaluate", workspace / "run", "--data", folder, "--json")
    assert from_run.exit_code == 0, from_run.output
    assert from_run.stderr == ""
    # the run trained with the default scaling, so the assumption holds: the same results
    assert json.loads(bare.stdout)["accuracy"] == json.loads(from_run.stdout)["accuracy"]

    image = next(folder.rglob("*.jpg"))
    predicted = run_cli(runner, "predict", alone, image, "--resize", "--json")
    assert predicted.exit_code == 0, predicted.output
    assert predicted.stderr == note
    assert json.loads(predicted.stdout)
    assert run_cli(runner, "predict", workspace / "run", image, "--json").stderr == ""
