"""Custom layers come from plugins the user names (--plugin), never from a string in a spec."""

from __future__ import annotations

import subprocess
import sys

import pytest

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
