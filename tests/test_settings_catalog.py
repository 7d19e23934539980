"""The settings catalog, and every train:, data: and augment: mistake found by `layerkit validate`
(and so by `build` and `train`) before TensorFlow is loaded, at its line and column."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import jsonschema
import pytest

from layerkit.catalog.training import (
    CATALOG_PATH,
    EXCLUDED,
    SCHEDULES,
    SUPPLIED,
    default_catalog,
    generate_catalog,
    metric_name,
)
from layerkit.cli import main
from layerkit.errors import Location
from layerkit.spec.schema import spec_schema
from layerkit.spec.settings import Choice, DataSettings, TrainSettings
from layerkit.spec.settings_checks import check_settings

from .conftest import EXAMPLES, ROOT, SPECS

CATALOG = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
SECTIONS = {"optimizer": "optimizers", "loss": "losses"}
SHIPPED_CLASSES = [
    (kind, class_name)
    for kind, section in SECTIONS.items()
    for class_name in CATALOG[section]["classes"]
]
SHIPPED_SPECS = sorted([*SPECS.glob("*.yaml"), *EXAMPLES.glob("*.yaml")])


@pytest.fixture(scope="module")
def live_catalog():
    return generate_catalog()


# -- the catalog matches the installed Keras, and what recipe.py makes --------------------------


@pytest.mark.parametrize(
    ("kind", "class_name"), SHIPPED_CLASSES, ids=[n for _, n in SHIPPED_CLASSES]
)
def test_catalog_entry_matches_installed_keras(kind, class_name, live_catalog):
    """Each shipped entry still describes the installed Keras; regenerate with
    ``python -m layerkit.catalog.training`` when this fails."""
    section = SECTIONS[kind]
    assert class_name in live_catalog[section]["classes"], f"Keras no longer has {class_name}"
    shipped = CATALOG[section]["classes"][class_name]
    live = live_catalog[section]["classes"][class_name]
    assert [(a["name"], a["required"]) for a in shipped["args"]] == [
        (a["name"], a["required"]) for a in live["args"]
    ]
    if live_catalog["keras_version"] == CATALOG["keras_version"]:
        assert shipped == live


def test_catalog_lists_every_class_of_the_installed_keras(live_catalog):
    """A class a newer Keras adds is missing from the shipped catalog until it is regenerated."""
    if live_catalog["keras_version"] != CATALOG["keras_version"]:
        pytest.skip(f"catalog made with Keras {CATALOG['keras_version']}")
    assert live_catalog == CATALOG


def test_catalog_leaves_out_what_specs_cannot_name():
    for kind, excluded in EXCLUDED.items():
        for class_name in excluded:
            assert class_name not in CATALOG[SECTIONS[kind]]["classes"]
    assert {"LossScaleOptimizer", "MultiOptimizer"} <= set(EXCLUDED["optimizer"])


def test_every_name_validate_accepts_is_one_recipe_makes():
    """validate and train agree: each spelling the catalog accepts becomes that class."""
    from layerkit.training.optimizers import make_optimizer
    from layerkit.training.recipe import make_loss

    catalog, here = default_catalog(), Location("spec.yaml", 1, 1)
    for spelling in catalog.spellings("optimizer"):
        optimizer = make_optimizer(TrainSettings(optimizer=Choice(spelling, {}, here)), 1)
        assert type(optimizer).__name__ == catalog.resolve("optimizer", spelling).name
    for spelling in catalog.spellings("loss"):
        loss = make_loss(TrainSettings(loss=Choice(spelling, {}, here)))
        assert type(loss).__name__ == catalog.resolve("loss", spelling).name


def test_metric_names_are_the_ones_recipe_logs():
    from layerkit.training.recipe import make_metrics

    written = ("acc", "top_3", "Top5", "accuracy")
    made = make_metrics(TrainSettings(metrics=written))
    assert [metric.name for metric in made] == [metric_name(name) for name in written]
    assert [metric_name(name) for name in written] == ["accuracy", "top3", "top5", "accuracy"]


def test_schedules_are_the_ones_recipe_makes():
    from layerkit.training.optimizers import SCHEDULES as RECIPE_SCHEDULES
    from layerkit.training.optimizers import OneCycle

    assert tuple(SCHEDULES) == RECIPE_SCHEDULES
    parameters = inspect.signature(OneCycle).parameters
    assert set(parameters) == {*SCHEDULES["one_cycle"], *SUPPLIED["schedule"]}
    for name, arg in SCHEDULES["one_cycle"].items():
        if parameters[name].default is not inspect.Parameter.empty:
            assert arg.default == parameters[name].default, name


def test_supplied_arguments_are_real_keras_arguments():
    catalog = default_catalog()
    for class_name in catalog.names("optimizer"):
        assert set(SUPPLIED["optimizer"]) <= set(catalog.resolve("optimizer", class_name).args)
    assert "label_smoothing" in catalog.resolve("loss", "categorical_crossentropy").args


def test_settings_made_in_python_are_reported_without_a_file():
    """TrainSettings built in Python have no locations; their mistakes are still reported."""
    settings = TrainSettings(
        optimizer=Choice("adamm", {}, Location("<defaults>", 1, 1)), metrics=("acuracy",)
    )
    errors = check_settings(settings, DataSettings(), (32, 32, 3))
    assert [error.format() for error in errors] == [
        "<defaults>:1:1: error: train.optimizer: unknown optimizer 'adamm'. Did you mean 'adam'?",
        "<defaults>:1:1: error: train.metrics[0]: unknown metric 'acuracy'. Did you mean "
        "'accuracy'?",
    ]


# -- layerkit validate and layerkit build: exit 2, one located line per mistake -------------------

BASE = """\
name: tiny
input: [32, 32, 3]
layers:
  - flatten
  - dense: {units: 10, activation: softmax}
"""  # the section under test starts at line 6

MISTAKES = {
    "optimizer_name": (
        "train:\n  optimizer: adamm\n",
        "7:14: error: train.optimizer: unknown optimizer 'adamm'. Did you mean 'adam'?",
    ),
    "optimizer_argument": (
        "train:\n  optimizer: {adam: {learning_rat: 0.001}}\n",
        "7:22: error: train.optimizer.adam.learning_rat: unknown argument 'learning_rat' for "
        "optimizer Adam. Did you mean 'learning_rate'?",
    ),
    "optimizer_argument_type": (
        "train:\n  optimizer: {adam: {learning_rate: fast}}\n",
        "7:37: error: train.optimizer.adam.learning_rate: argument 'learning_rate' of optimizer "
        "Adam expects a number, received the text 'fast'. Write a number here.",
    ),
    "keras2_argument": (
        "train:\n  optimizer: {sgd: {lr: 0.1}}\n",
        "7:21: error: train.optimizer.sgd.lr: unknown argument 'lr' for optimizer SGD. Did you "
        "mean 'learning_rate'?",
    ),
    "exponent_read_as_text": (
        "train:\n  optimizer:\n    adamw:\n      weight_decay: 5e-4\n",
        "9:21: error: train.optimizer.adamw.weight_decay: argument 'weight_decay' of optimizer "
        "AdamW expects a number, received the text '5e-4'. Write it as 5.0e-4: YAML reads a "
        "number with an exponent as text unless it has a decimal point and a signed exponent.",
    ),
    "supplied_optimizer_argument": (
        "train:\n  optimizer: {sgd: {momentum: 0.9, use_ema: true}}\n",
        "7:36: error: train.optimizer.sgd.use_ema: 'use_ema' of optimizer SGD is set by layerkit "
        "from train.ema. Write e.g. 'ema: 0.99' under train: instead.",
    ),
    "excluded_optimizer": (
        "train:\n  optimizer: loss_scale_optimizer\n",
        "7:14: error: train.optimizer: unknown optimizer 'loss_scale_optimizer'. "
        "LossScaleOptimizer cannot be named in a spec: layerkit wraps the optimizer in it itself "
        "under mixed precision (--precision).",
    ),
    "loss_name": (
        "train:\n  loss: categorical_crossentropi\n",
        "7:9: error: train.loss: unknown loss 'categorical_crossentropi'. Did you mean "
        "'categorical_crossentropy'?",
    ),
    "loss_argument": (
        "train:\n  loss: {huber: {delt: 2.0}}\n",
        "7:18: error: train.loss.huber.delt: unknown argument 'delt' for loss Huber. Did you mean "
        "'delta'?",
    ),
    "loss_alias_argument": (
        "train:\n  loss: {sparse_categorical_crossentropy: {ignore_class: 0}}\n",
        "7:44: error: train.loss.sparse_categorical_crossentropy.ignore_class: unknown argument "
        "'ignore_class' for loss CategoricalCrossentropy (layerkit reads "
        "'sparse_categorical_crossentropy' as CategoricalCrossentropy: labels reach the loss "
        "one-hot). Loss CategoricalCrossentropy takes: from_logits, axis, reduction, name, dtype.",
    ),
    "supplied_loss_argument": (
        "train:\n  loss: {categorical_crossentropy: {label_smoothing: 0.1}}\n",
        "7:37: error: train.loss.categorical_crossentropy.label_smoothing: 'label_smoothing' of "
        "loss CategoricalCrossentropy is set by layerkit from train.label_smoothing. Write e.g. "
        "'label_smoothing: 0.1' under train: instead.",
    ),
    "label_smoothing_without_cross_entropy": (
        "train:\n  loss: mean_squared_error\n  label_smoothing: 0.1\n",
        "8:20: error: train.label_smoothing: label_smoothing applies to cross-entropy losses; loss "
        "MeanSquaredError takes none. Remove label_smoothing, or use categorical_crossentropy.",
    ),
    "metric": (
        "train:\n  metrics: [accuracy, top_5, acuracy]\n",
        "7:30: error: train.metrics[2]: unknown metric 'acuracy'. Did you mean 'accuracy'?",
    ),
    "metric_twice": (
        "train:\n  metrics: [acc, accuracy]\n",
        "7:18: error: train.metrics[1]: metric 'accuracy' is listed twice (first as 'acc'). List "
        "each metric once.",
    ),
    "target_metric": (
        "train:\n  metrics: [accuracy, top5]\n  target: {val_top_5: 0.9}\n",
        "8:12: error: train.target: train.target names 'val_top_5', which this run does not "
        "measure. Did you mean 'val_top5'?",
    ),
    "target_without_validation": (
        "train:\n  validation_split: 0\n  target: {val_accuracy: 0.9}\n",
        "8:12: error: train.target: train.target names 'val_accuracy', which this run does not "
        "measure (validation_split is 0: nothing is validated). Did you mean 'accuracy'?",
    ),
    "monitor": (
        "train:\n  monitor: val_acc\n",
        "7:12: error: train.monitor: train.monitor names 'val_acc', which this run does not "
        "measure. Did you mean 'val_accuracy'?",
    ),
    "default_monitor_not_measured": (
        "train:\n  metrics: [top5]\n",
        "7:12: error: train.metrics: the best model is the one with the highest val_accuracy (the "
        "default monitor), which these metrics do not measure. Add accuracy to the metrics, or set "
        "e.g. 'monitor: val_loss'.",
    ),
    "schedule": (
        "train:\n  schedule: cosin\n",
        "7:13: error: train.schedule: unknown schedule 'cosin'. Did you mean 'cosine'?",
    ),
    "schedule_argument": (
        "train:\n  schedule: {cosine: {warmup_epoch: 2}}\n",
        "7:23: error: train.schedule.cosine.warmup_epoch: unknown argument 'warmup_epoch' for "
        "schedule 'cosine'. Did you mean 'warmup_epochs'?",
    ),
    "schedule_argument_type": (
        "train:\n  schedule: {cosine: {warmup_epochs: two}}\n",
        "7:38: error: train.schedule.cosine.warmup_epochs: argument 'warmup_epochs' of schedule "
        "'cosine' expects a number, received the text 'two'. Write a number here.",
    ),
    "schedule_missing_argument": (
        "train:\n  schedule: {step: {boundaries: [5, 8]}}\n",
        "7:14: error: train.schedule: schedule 'step' needs argument 'values'. Add 'values: ...' "
        "to its arguments.",
    ),
    "step_values": (
        "train:\n  schedule: {step: {boundaries: [5, 8], values: [0.1, 0.01]}}\n",
        "7:49: error: train.schedule.step.values: 'values' needs one more entry than 'boundaries' "
        "(a rate before the first boundary, and after each), received 2 values for 2 boundaries",
    ),
    "one_cycle_range": (
        "train:\n  schedule:\n    one_cycle: {max_lr: 0.1, final_div: -5}\n",
        "8:41: error: train.schedule.one_cycle.final_div: schedule 'one_cycle': final_div must be "
        "the divisor of the final rate, above 0, received -5. Write e.g. 'one_cycle: {warmup: "
        "0.25, div: 20, final_div: 200}'.",
    ),
    "constant_schedule_argument": (
        "train:\n  schedule: {constant: {value: 0.1}}\n",
        "7:25: error: train.schedule.constant.value: unknown argument 'value' for schedule "
        "'constant'. Schedule 'constant' takes no arguments.",
    ),
    "data_field_value": (
        "data:\n  on_bad_image: skipp\n",
        "7:17: error: data.on_bad_image: expected 'error' or 'skip', received the text 'skipp'. "
        "Did you mean 'skip'?",
    ),
    "data_setting": (
        "data:\n  normalise: {scale: 0.5}\n",
        "7:3: error: data.normalise: unknown data setting 'normalise'. Did you mean 'normalize'?",
    ),
    "data_source_type": (
        "data: 5\n",
        "6:7: error: data: expected a dataset name, a path, or a mapping of data settings, received "
        "int 5. Write e.g. 'data: cifar10', or 'data: {source: images/, on_bad_image: skip}'.",
    ),
    "normalize_channels": (
        "data:\n  normalize:\n    mean: [0.5, 0.5]\n",
        "8:11: error: data.normalize.mean: expected one value, or one per channel (3 for the input "
        "[32, 32, 3]), received 2",
    ),
    "augment_layer_argument": (
        "augment:\n  - random_flip: {mod: horizontal}\n",
        "7:19: error: augment[0].random_flip.mod: unknown argument 'mod' for RandomFlip. Did you "
        "mean 'mode'?",
    ),
    "augment_layer_name": (
        "augment:\n  - random_flp\n",
        "7:5: error: augment[0].random_flp: unknown layer 'random_flp'. Did you mean "
        "'random_flip'?",
    ),
    "augment_wiring": (
        "augment:\n  - random_flip: {mode: horizontal, id: flipped}\n",
        "7:37: error: augment[0].random_flip.id: an augmentation layer takes no 'id': the augment: "
        "list is a chain, each layer taking the one before. Remove 'id'.",
    ),
    "augment_repeat": (
        "augment:\n  - repeat: 2\n    layers: [random_flip]\n",
        "7:5: error: augment[0]: the augment: list takes single layers, applied in order: this is a "
        "repeat. List the layers once each.",
    ),
}


@pytest.mark.parametrize("command", ["validate", "build"])
@pytest.mark.parametrize(("section", "error"), MISTAKES.values(), ids=list(MISTAKES))
def test_mistake_is_one_located_error_line(command, section, error, runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec.yaml").write_text(BASE + section, encoding="utf-8")
    result = runner.invoke(main, [command, "spec.yaml"])
    assert (result.exit_code, result.stderr, result.stdout) == (2, f"spec.yaml:{error}\n", "")


def test_flip_tta_needs_image_inputs(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec.yaml").write_text(
        "input: [8]\nlayers:\n  - dense: {units: 10, activation: softmax}\ntrain:\n  tta: flip\n"
    )
    result = runner.invoke(main, ["validate", "spec.yaml"])
    assert (result.exit_code, result.stderr) == (
        2,
        "spec.yaml:5:8: error: train.tta: tta: flip mirrors images, but the input is [8], not "
        "[height, width] or [height, width, channels]. Remove 'tta: flip' for inputs that are not "
        "images.\n",
    )


def test_every_mistake_of_every_section_is_reported_in_one_run(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = BASE + "train:\n  optimizer: {adam: {learning_rat: 0.001}}\n  loss: huberr\n"
    text += "data:\n  normalize:\n    mean: [0.5, 0.5]\n"
    text += "augment:\n  - random_flip: {mod: horizontal}\n"
    (tmp_path / "spec.yaml").write_text(text)
    result = runner.invoke(main, ["validate", "spec.yaml"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "spec.yaml:" + MISTAKES["optimizer_argument"][1],
        "spec.yaml:8:9: error: train.loss: unknown loss 'huberr'. Did you mean 'huber'?",
        "spec.yaml:11:11: error: data.normalize.mean: expected one value, or one per channel (3 "
        "for the input [32, 32, 3]), received 2",
        "spec.yaml:13:19: error: augment[0].random_flip.mod: unknown argument 'mod' for "
        "RandomFlip. Did you mean 'mode'?",
        "4 problems found.",
    ]


@pytest.mark.parametrize("path", SHIPPED_SPECS, ids=[p.name for p in SHIPPED_SPECS])
def test_every_shipped_spec_still_validates(path, runner):
    result = runner.invoke(main, ["validate", str(path)])
    assert (result.exit_code, result.stderr) == (0, "")


def test_validating_a_full_train_section_does_not_import_tensorflow():
    code = (
        "import sys\n"
        "from layerkit.cli import main\n"
        "try:\n    main(['validate', 'specs/cifar-fast.yaml'])\nexcept SystemExit as end:\n"
        "    print(end.code)\n"
        "print([m for m in ('tensorflow', 'keras') if m in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.splitlines()[-2:] == ["0", "[]"]


# -- the JSON Schema names the same optimizers, losses and schedules -----------------------------

SCHEMA = jsonschema.Draft7Validator(spec_schema())


@pytest.mark.parametrize(
    ("train", "bad_path"),
    [
        ({"optimizer": "adamm"}, ["train", "optimizer"]),
        ({"optimizer": {"adam": {"learning_rat": 0.001}}}, ["train", "optimizer"]),
        ({"optimizer": {"adam": {"learning_rate": "fast"}}}, ["train", "optimizer"]),
        ({"optimizer": {"sgd": {"use_ema": True}}}, ["train", "optimizer"]),
        ({"loss": "categorical_crossentropi"}, ["train", "loss"]),
        ({"schedule": {"step": {"boundaries": [5]}}}, ["train", "schedule"]),
        ({"metrics": ["acuracy"]}, ["train", "metrics", 0]),
    ],
)
def test_schema_refuses_train_mistakes(train, bad_path):
    spec = {"input": [4], "layers": ["flatten"], "train": train}
    error = jsonschema.exceptions.best_match(SCHEMA.iter_errors(spec))
    assert error is not None
    assert list(error.absolute_path)[: len(bad_path)] == bad_path


def test_schema_accepts_the_spellings_validate_accepts():
    train = {
        "optimizer": {"AdamW": {"learning_rate": 0.001, "weight_decay": 0.01}},
        "schedule": {"one_cycle": None},
        "loss": "sparse_categorical_crossentropy",
        "metrics": ["accuracy", "acc", "top5", "top_3"],
    }
    spec = {"input": [4], "layers": ["flatten"], "train": train}
    assert list(SCHEMA.iter_errors(spec)) == []
    for spelling in ("adamw", "adam_w", "rmsprop", "sgd"):
        spec["train"] = {"optimizer": spelling}
        assert list(SCHEMA.iter_errors(spec)) == [], spelling
