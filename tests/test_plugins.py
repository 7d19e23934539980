"""Custom layers come from plugins the user names (--plugin), never from a string in a spec; a
model trained with one is evaluated, predicted with, exported, imported and tuned with the same
--plugin, and without it the error names the module to give."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import pytest

from layerkit.keras_archive import foreign_classes, load_fix

from .conftest import cifar_files, cifar_subset

PLUGIN = '''
import keras
import layerkit


@layerkit.register_layer(name="scale")
class LearnedScale(keras.layers.Layer):
    """Multiplies its input by one learned number.

    Args:
        init: float, the starting factor.
    """

    def __init__(self, init=1.0, **kwargs):
        super().__init__(**kwargs)
        self.init = init

    def build(self, input_shape):
        self.factor = self.add_weight(shape=(), initializer="ones")

    def call(self, inputs):
        return inputs * self.factor
'''
SPEC = "input: [4]\nlayers:\n  - scale: {init: 2.0}\n  - dense: {units: 2}\nexpect:\n  total_params: 11\n"


@pytest.fixture
def project(tmp_path):
    (tmp_path / "my_layers.py").write_text(PLUGIN, encoding="utf-8")
    (tmp_path / "net.yaml").write_text(SPEC, encoding="utf-8")
    return tmp_path


def layerkit(project, *args):
    env = {"PYTHONPATH": str(project), "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "layerkit", *args], cwd=project, env=env,
                          capture_output=True, text=True)  # fmt: skip


def test_without_the_plugin_the_layer_is_unknown(project):
    result = layerkit(project, "validate", "net.yaml")
    assert result.returncode == 2
    assert result.stderr.startswith("net.yaml:3:5: error: layers[0].scale: unknown layer 'scale'")


@pytest.mark.slow
def test_with_the_plugin_the_spec_validates_and_builds(project):
    assert layerkit(project, "validate", "net.yaml", "--plugin", "my_layers").returncode == 0
    result = layerkit(project, "build", "net.yaml", "--plugin", "my_layers")
    assert result.returncode == 0, result.stderr
    assert "learned_scale (LearnedScale)" in result.stdout
    assert "its 1 expectation matches (1 total)" in result.stdout


def test_a_missing_plugin_says_what_to_give(project):
    result = layerkit(project, "validate", "net.yaml", "--plugin", "my_layerz")
    assert result.returncode == 2
    assert result.stderr == (
        "error: plugin module 'my_layerz' not found (No module named 'my_layerz'); give an "
        "importable module name (on PYTHONPATH or installed), e.g. --plugin my_project.layers\n"
    )


# -- a model that uses a plugin's layer, through every command that loads one ------------------------

TRAINED = """input: [32, 32, 3]
layers:
  - scale: {init: 2.0}
  - conv2d: {filters: 4, kernel_size: 3, strides: 4, activation: relu}
  - flatten
  - dense: {units: 10, activation: softmax}
data: {source: cifar.tar}
train: {epochs: 1, batch_size: 16, validation_split: 20, seed: 0}
search:
  trials: 1
  train.label_smoothing: {choice: [0.0, 0.1]}
"""
NOT_LOADED = (
    "it uses classes that are not Keras's or layerkit's, LearnedScale (my_layers): give the module "
    "that registers them, e.g. --plugin my_layers (importable: on PYTHONPATH or installed)\n"
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run of a spec whose first layer is the plugin's, trained on 40 real CIFAR-10 images."""
    project = tmp_path_factory.mktemp("plugin-run")
    (project / "my_layers.py").write_text(PLUGIN, encoding="utf-8")
    (project / "net.yaml").write_text(TRAINED, encoding="utf-8")
    cifar_subset(project / "cifar.tar", per_class=4)
    _, data = cifar_files(1)[0]
    (project / "cat.jpg").write_bytes(data)
    result = layerkit(
        project, "train", "net.yaml", "--plugin", "my_layers", "--out", "run", "--plain"
    )
    assert result.returncode == 0, result.stderr
    return project


@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "loading"),
    [
        (["evaluate", "run"], "cannot load model 'run/model_best.keras'"),
        (["predict", "run", "cat.jpg"], "cannot load model 'run/model_best.keras'"),
        (["export", "run", "--format", "savedmodel"], "cannot load model 'run/model_best.keras'"),
        (["import", "run/model_best.keras", "-o", "imported.yaml"],
         "cannot load 'run/model_best.keras' as a Keras model"),
    ],
)  # fmt: skip
def test_a_plugin_model_loads_with_its_plugin_and_says_which_without(trained, command, loading):
    without = layerkit(trained, *command)
    assert without.returncode == 2 and without.stderr.startswith(f"error: {loading}: "), (
        without.stderr
    )
    assert without.stderr.endswith(NOT_LOADED)
    result = layerkit(trained, *command, "--plugin", "my_layers")
    assert result.returncode == 0, result.stderr
    if command[0] == "import":
        written = (trained / "imported.yaml").read_text(encoding="utf-8")
        assert "  - learned_scale: {init: 2.0}\n" in written
        assert "it builds, every row and total as expected" in result.stderr + result.stdout


@pytest.mark.slow
def test_tune_takes_the_plugin_its_spec_needs(trained):
    without = layerkit(trained, "tune", "net.yaml", "--epochs", "1", "--out", "tune-a")
    assert without.returncode == 2
    assert "layers[0].scale: unknown layer 'scale'" in without.stderr
    result = layerkit(trained, "tune", "net.yaml", "--epochs", "1", "--out", "tune-b", "--plugin",
                      "my_layers", "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    trials = json.loads(result.stdout)["trials"]
    assert [trial["status"] for trial in trials] == ["finished"]


def keras_file(path, config):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
    return path


def test_foreign_classes_are_those_of_neither_keras_nor_layerkit(tmp_path):
    layer = {"module": "my_project.layers", "class_name": "Gate", "config": {}}
    config = {"module": "keras.src.models.functional", "class_name": "Functional", "config": {
        "layers": [{"module": "keras.layers", "class_name": "Dense"},
                   {"module": "layerkit.catalog.augmentations", "class_name": "AlternatingFlip"},
                   layer, layer,
                   {"module": "__main__", "class_name": "Mine", "config": {"inner": [layer]}}],
    }}  # fmt: skip
    path = keras_file(tmp_path / "m.keras", config)
    assert foreign_classes(path) == [("my_project.layers", "Gate"), ("__main__", "Mine")]
    assert load_fix(path) == (
        "it uses classes that are not Keras's or layerkit's, Gate (my_project.layers), Mine "
        "(__main__): move the classes defined in a script (__main__) into a module, and give it, "
        "e.g. --plugin my_project.layers (importable: on PYTHONPATH or installed)"
    )
    plain = keras_file(tmp_path / "plain.keras", {"module": "keras.layers", "class_name": "Dense"})
    assert (foreign_classes(plain), load_fix(plain)) == ([], None)
    (tmp_path / "broken.keras").write_bytes(b"not a zip")
    assert foreign_classes(tmp_path / "broken.keras") == []
