"""The layer registry: the catalog matches the installed Keras, names resolve, custom layers register."""

from __future__ import annotations

import json
import warnings

import pytest

from layerkit import SpecErrors, load_spec, register_layer, validate
from layerkit.catalog.arguments import CallArg, CallProblem, call_problems
from layerkit.catalog.generate_layers import generate_catalog
from layerkit.catalog.layers import (
    CATALOG_PATH,
    EXCLUDED_LAYERS,
    LayerRegistry,
    UnknownLayerError,
    default_registry,
    to_snake_case,
)

CATALOG = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def live_catalog():
    return generate_catalog()


@pytest.mark.parametrize("class_name", sorted(CATALOG["layers"]))
def test_catalog_entry_matches_installed_keras(class_name, live_catalog):
    """Each shipped entry still describes the installed Keras; regenerate with
    ``python -m layerkit.catalog.generate_layers`` when this fails."""
    assert class_name in live_catalog["layers"], f"keras.layers no longer has {class_name}"
    shipped = CATALOG["layers"][class_name]
    live = live_catalog["layers"][class_name]
    assert [(a["name"], a["required"]) for a in shipped["args"]] == [
        (a["name"], a["required"]) for a in live["args"]
    ]
    assert shipped["call"] == live["call"]
    if live_catalog["keras_version"] == CATALOG["keras_version"]:
        assert shipped == live


def test_catalog_excludes_what_specs_must_not_name():
    for name in EXCLUDED_LAYERS:
        assert name not in CATALOG["layers"]
    assert "Lambda" in EXCLUDED_LAYERS and "TFSMLayer" in EXCLUDED_LAYERS


def test_snake_case_matches_keras_naming():
    assert to_snake_case("MaxPooling2D") == "max_pooling2d"
    assert to_snake_case("BatchNormalization") == "batch_normalization"
    assert to_snake_case("GlobalAveragePooling2D") == "global_average_pooling2d"
    assert to_snake_case("LSTM") == "lstm"


@pytest.mark.parametrize("class_name", sorted(CATALOG["layers"]))
def test_every_layer_resolves_from_its_snake_case_name(class_name):
    assert default_registry().resolve(to_snake_case(class_name)) == class_name


def test_unknown_name_suggests_the_closest():
    with pytest.raises(UnknownLayerError) as caught:
        default_registry().resolve("batch_normalisation")
    assert caught.value.hint == "Did you mean 'batch_normalization'?"


def test_argument_kinds_come_from_docstrings_and_defaults():
    conv = default_registry().info("Conv2D")
    assert conv.args["filters"].kinds == ("int",)
    assert conv.args["kernel_size"].kinds == ("int", "list")
    assert conv.args["use_bias"].kinds == ("bool",)
    assert conv.args["activation"].kinds == ()  # any: a name, or null
    assert conv.accepts_base_args


def test_an_integer_that_may_be_a_tuple_accepts_a_list_whatever_its_default():
    """Normalization's axis is documented as "Integer, tuple of integers, or None" with a default
    of -1: the catalog accepts all three (EfficientNet's Normalization has axis [-1]), not the
    default's kind alone."""
    registry = default_registry()
    assert registry.info("Normalization").args["axis"].kinds == ("int", "list", "null")
    assert registry.info("RandomGaussianBlur").args["sigma"].kinds == ("int", "float", "list")
    plan = validate(load_spec("input: [4, 3]\nlayers:\n  - normalization: {axis: [-1]}\n"))
    assert plan.layers[0].args["axis"] == [-1]
    with pytest.raises(
        SpecErrors, match="argument 'axis' of Normalization expects an integer, a list or null"
    ):
        validate(load_spec("input: [4, 3]\nlayers:\n  - normalization: {axis: last}\n"))


@pytest.fixture
def custom_layer():
    import keras

    class ScaleBy(keras.layers.Layer):
        """Multiplies its input by a learned scalar.

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

    register_layer(ScaleBy, name="scale")
    yield ScaleBy
    default_registry().unregister("ScaleBy")


@pytest.mark.slow
def test_custom_layer_is_validated_and_built(custom_layer):
    from layerkit import build

    spec = load_spec("input: [4]\nlayers:\n  - scale_by: {init: 2.0}\n  - scale\n")
    plan = validate(spec)
    assert [layer.class_name for layer in plan.layers] == ["ScaleBy", "ScaleBy"]
    model = build(plan)
    assert model.count_params() == 2
    with pytest.raises(SpecErrors, match="argument 'init' of ScaleBy expects a number"):
        validate(load_spec("input: [4]\nlayers:\n  - scale_by: {init: big}\n"))


@pytest.mark.slow
def test_registering_twice_warns_and_keras_names_are_protected(custom_layer):
    import keras

    class ScaleBy(keras.layers.Layer):
        pass

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        register_layer(ScaleBy)
    assert "replacing the custom layer 'ScaleBy'" in str(caught[0].message)

    class Dense(keras.layers.Layer):
        pass

    with pytest.raises(
        ValueError, match=r"keras\.layers or layerkit already has a layer of that name"
    ):
        register_layer(Dense)


# -- extra names given with register_layer(name=...) ------------------------------------------


@pytest.fixture
def registry():
    """A registry of its own, so registrations here leave the process-wide one alone."""
    return LayerRegistry(CATALOG)


def plain_layer(class_name: str) -> type:
    """A class with a layer's constructor; registering only reads its signature."""

    def __init__(self, factor: float = 1.0, **kwargs):
        self.factor = factor

    return type(class_name, (), {"__init__": __init__})


def test_an_extra_name_outlives_later_registrations_and_removals(registry):
    registry.register(plain_layer("Alpha"), name="first")
    registry.register(plain_layer("Beta"))
    registry.register(plain_layer("Gamma"), name="third")
    assert registry.resolve("first") == "Alpha"
    assert registry.resolve("third") == "Gamma"
    registry.unregister("Beta")
    assert (registry.resolve("first"), registry.resolve("third")) == ("Alpha", "Gamma")
    registry.unregister("Alpha")
    with pytest.raises(UnknownLayerError):
        registry.resolve("first")
    with pytest.raises(UnknownLayerError):
        registry.resolve("alpha")
    assert registry.resolve("third") == "Gamma"


def test_an_extra_name_resolves_in_any_spelling_and_is_suggested(registry):
    registry.register(plain_layer("Alpha"), name="scale_by_two")
    assert registry.resolve("ScaleByTwo") == registry.resolve("scale-by-two") == "Alpha"
    with pytest.raises(UnknownLayerError) as caught:
        registry.resolve("scale_by_tow")
    assert caught.value.hint == "Did you mean 'scale_by_two'?"


def test_an_extra_name_moved_to_another_class_warns(registry):
    alpha = plain_layer("Alpha")
    registry.register(alpha, name="shared_name")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        registry.register(alpha, name="SharedName")  # the same class again: nothing to say
        registry.register(plain_layer("Beta"), name="shared_name")
    assert [str(warning.message) for warning in caught] == [
        "layerkit.register_layer: the name 'shared_name' now means 'Beta', no longer the custom "
        "layer 'Alpha'"
    ]
    assert registry.resolve("shared_name") == "Beta"
    registry.unregister("Alpha")
    assert registry.resolve("shared_name") == "Beta"


@pytest.mark.parametrize("taken", ["dense", "Conv2D", "bn", "random_padded_crop", "layer_scale"])
def test_an_extra_name_a_builtin_layer_has_is_refused_before_anything_registers(registry, taken):
    with pytest.raises(ValueError, match=f"under the name '{taken}': it already names the layer"):
        registry.register(plain_layer("Alpha"), name=taken)
    with pytest.raises(UnknownLayerError):
        registry.resolve("alpha")
    assert "Alpha" not in registry.names()


@pytest.mark.slow
def test_a_spec_using_an_extra_name_builds_after_further_registrations():
    import keras

    from layerkit import build

    class Halve(keras.layers.Layer):
        def call(self, inputs):
            return inputs / 2

    class Double(keras.layers.Layer):
        def call(self, inputs):
            return inputs * 2

    register_layer(Halve, name="half")
    try:
        register_layer(Double)
        default_registry().unregister("Double")
        register_layer(Double, name="twice")
        model = build(load_spec("input: [4]\nlayers:\n  - half\n  - twice\n  - half\n"))
        assert [type(layer).__name__ for layer in model.layers[1:]] == ["Halve", "Double", "Halve"]
        assert model.predict(keras.ops.ones((1, 4)), verbose=0).tolist() == [[0.5] * 4]
    finally:
        default_registry().unregister("Halve")
        default_registry().unregister("Double")


# -- call signatures: the names a layer's inputs may be passed under -----------------------------


def test_the_catalog_lists_each_layers_call_in_order():
    registry = default_registry()
    assert registry.info("MultiHeadAttention").call_args == (
        CallArg("query", True),
        CallArg("value", True),
        *(CallArg(name, False) for name in ("key", "query_mask", "value_mask", "key_mask")),
        CallArg("attention_mask", False),
        CallArg("return_attention_scores", False, tensor=False),
        CallArg("training", False, tensor=False),
        CallArg("use_causal_mask", False, tensor=False),
    )
    assert registry.info("Dense").call_args == (
        CallArg("inputs", True),
        CallArg("training", False, tensor=False),
    )
    # a name of keras.layers other than its class's: GroupQueryAttention is GroupedQueryAttention
    attention = registry.info(registry.resolve("group_query_attention"))
    assert [arg.name for arg in attention.call_args if arg.required] == ["query", "value"]
    assert not attention.call_kwargs


def mha_problems(*names: str) -> list[CallProblem]:
    return call_problems(default_registry().info("MultiHeadAttention"), names)


def test_named_inputs_that_the_call_takes_pass():
    assert mha_problems("query", "value") == []
    assert mha_problems("value", "key", "query", "attention_mask") == []


def test_a_misspelled_input_is_suggested_and_not_reported_missing_too():
    assert mha_problems("query", "valeu") == [
        CallProblem("unknown input 'valeu' for MultiHeadAttention", "Did you mean 'value'?",
                    "valeu", True),
    ]  # fmt: skip


def test_an_unknown_input_lists_what_the_call_takes_and_what_is_missing():
    assert mha_problems("query", "memory") == [
        CallProblem(
            "unknown input 'memory' for MultiHeadAttention",
            "MultiHeadAttention takes the inputs: query, value, key, query_mask, value_mask, "
            "key_mask, attention_mask.",
            "memory",
            True,
        ),
        CallProblem(
            "MultiHeadAttention needs input 'value'",
            "Add 'value: ID' to its inputs:, ID naming the layer whose output it takes.",
            "value",
            False,
        ),
    ]


def test_training_and_switches_are_not_inputs():
    assert mha_problems("query", "value", "training", "use_causal_mask") == [
        CallProblem(
            "'training' cannot be an input of MultiHeadAttention: Keras passes it itself",
            "Remove 'training' from inputs:; Keras sets it while the model trains.",
            "training",
            True,
        ),
        CallProblem(
            "'use_causal_mask' of MultiHeadAttention's call is a switch (true or false), not an "
            "input",
            "Remove 'use_causal_mask' from inputs:. MultiHeadAttention takes the inputs: query, "
            "value, key, query_mask, value_mask, key_mask, attention_mask.",
            "use_causal_mask",
            True,
        ),
    ]


def test_a_registered_layers_call_is_read_from_its_class(registry):
    def call(self, sources, targets, weights=None, *, training=None, scaled=True):
        return sources

    registry.register(type("Mixer", (), {"__init__": lambda self: None, "call": call}))
    info = registry.info("Mixer")
    assert info.call_args == (
        CallArg("sources", True),
        CallArg("targets", True),
        CallArg("weights", False),
        CallArg("training", False, tensor=False),
        CallArg("scaled", False, tensor=False),
    )
    assert [problem.message for problem in call_problems(info, ["sources", "other"])] == [
        "unknown input 'other' for Mixer",
        "Mixer needs input 'targets'",
    ]


def test_a_call_taking_kwargs_accepts_any_name_but_training(registry):
    def call(self, inputs, **kwargs):
        return inputs

    registry.register(type("Open", (), {"__init__": lambda self: None, "call": call}))
    info = registry.info("Open")
    assert info.call_kwargs
    assert call_problems(info, ["inputs", "anything"]) == []
    assert [problem.name for problem in call_problems(info, ["anything", "training"])] == [
        "training",
        "inputs",
    ]
