"""Issue 16's language: ``if:`` on items, ``${...}`` in ids, references and layer names, and
named inputs (``inputs: {query: a, value: b}``), checked without Keras and built with it."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from layerkit import SpecErrors, build, load_spec, validate


def spec(text: str, overrides=()):
    return load_spec(textwrap.dedent(text).lstrip("\n"), overrides)


def problems(text: str, overrides=()) -> list[str]:
    with pytest.raises(SpecErrors) as caught:
        validate(spec(text, overrides))
    return [error.format() for error in caught.value.errors]


def classes(text: str, overrides=()) -> list[str]:
    return [layer.class_name for layer in validate(spec(text, overrides)).layers]


RESIDUAL = """
vars: {skip: true}
input: [8]
layers:
  - dense: {units: 8, id: a}
  - dense: {units: 8}
  - dropout: {rate: 0.1, if: "${skip}", id: dropped}
  - add: {inputs: [-1, a], if: "${skip}"}
  - concatenate: {inputs: [-1, dropped]}
"""


def test_if_false_leaves_the_item_out_and_its_id_names_the_item_before():
    assert classes(RESIDUAL) == ["Dense", "Dense", "Dropout", "Add", "Concatenate"]
    plan = validate(spec(RESIDUAL, ["vars.skip=false"]))
    assert [layer.class_name for layer in plan.layers] == ["Dense", "Dense", "Concatenate"]
    _first, second, head = plan.layers
    # -1 and 'dropped' both name the second dense now
    assert head.inputs == (second.key, second.key)


def test_if_on_a_repeat_and_on_a_block_use():
    text = """
    vars: {deep: false}
    input: [4]
    blocks:
      pair:
        layers: [{dense: {units: 4}}, {dense: {units: 4}}]
    layers:
      - pair: {if: "${deep}"}
      - repeat: 2
        if: "${not deep}"
        layers: [{dense: {units: 3}}]
      - dense: {units: 1}
    """
    assert classes(text) == ["Dense"] * 3
    assert [layer.args["units"] for layer in validate(spec(text)).layers] == [3, 3, 1]
    assert [layer.args["units"] for layer in validate(spec(text, ["vars.deep=true"])).layers] == [
        4, 4, 1]  # fmt: skip


def test_if_must_give_true_or_false_and_says_what_made_the_value():
    text = """
    vars: {depth: 2}
    input: [4]
    layers:
      - dense: {units: 4, if: "${depth * 1}"}
    """
    assert problems(text) == [
        "<string>:4:27: error: layers[0].dense.if: 'if' expects true or false, received int 2 "
        "(from '${depth * 1}' with depth=2). Write a comparison, e.g. if: \"${depth > 1}\", or "
        "true or false."
    ]


def test_a_bad_if_in_a_block_used_three_times_is_said_once():
    text = """
    input: [4]
    blocks:
      maybe:
        params: [n]
        layers: [{dense: {units: 4, if: "${n}"}}]
    layers:
      - repeat: 3
        index: i
        layers: [{maybe: {n: "${i}"}}]
    """
    assert problems(text) == [
        "<string>:5:37: error: repeat 1/3 → layers[0].layers[0].maybe → "
        "blocks.maybe.layers[0].dense.if: 'if' expects true or false, received int 0 (from '${n}' with n=0). Write a comparison, e.g. "
        'if: "${depth > 1}", or true or false.'
    ]


def test_the_first_item_left_out_with_several_inputs_is_an_error():
    text = """
    inputs: {a: [4], b: [4]}
    layers:
      - dense: {units: 4, if: false}
      - add: {inputs: [a, b]}
    """
    assert problems(text) == [
        "<string>:3:27: error: layers[0].dense.if: the first item is left out by 'if:', and the "
        "model has several inputs: nothing takes its place. Start with an item that is always "
        "there, or give the next one 'inputs:'."
    ]


UNET = """
name: unet
vars: {levels: 3, base: 8}
input: [32, 32, 3]
blocks:
  down:
    params: [filters]
    layers:
      - conv2d: {filters: "${filters}", kernel_size: 3, padding: same, activation: relu}
      - conv2d: {filters: "${filters}", kernel_size: 3, padding: same, activation: relu}
  up:
    params: [filters]
    inputs: [x, skip]
    layers:
      - conv2d_transpose: {filters: "${filters}", kernel_size: 2, strides: 2, inputs: x}
      - concatenate: {inputs: [-1, skip]}
      - conv2d: {filters: "${filters}", kernel_size: 3, padding: same, activation: relu}
layers:
  - repeat: "${levels}"
    index: i
    layers:
      - down: {filters: "${base * 2**i}", id: "skip${i}"}
      - max_pooling2d: {pool_size: 2}
  - down: {filters: "${base * 2**levels}"}
  - repeat: "${levels}"
    index: i
    layers:
      - up:
          filters: "${base * 2**(levels - 1 - i)}"
          inputs: {x: -1, skip: "skip${levels - 1 - i}"}
  - conv2d: {filters: 1, kernel_size: 1, activation: sigmoid}
"""


def keras_unet(levels: int, base: int):
    import keras
    from keras import layers

    def down(x, filters):
        for _ in range(2):
            x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        return x

    image = keras.Input((32, 32, 3))
    x, skips = image, []
    for level in range(levels):
        x = down(x, base * 2**level)
        skips.append(x)
        x = layers.MaxPooling2D(2)(x)
    x = down(x, base * 2**levels)
    for level in reversed(range(levels)):
        x = layers.Conv2DTranspose(base * 2**level, 2, strides=2)(x)
        x = layers.Concatenate()([x, skips[level]])
        x = layers.Conv2D(base * 2**level, 3, padding="same", activation="relu")(x)
    return keras.Model(image, layers.Conv2D(1, 1, activation="sigmoid")(x))


@pytest.mark.slow
@pytest.mark.parametrize("levels", [2, 3])
def test_a_unet_from_one_repeated_down_and_up_block_matches_keras(levels):
    ours = build(spec(UNET, [f"vars.levels={levels}"]))
    reference = keras_unet(levels, 8)
    assert ours.count_params() == reference.count_params()
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in reference.weights]
    ours.set_weights(reference.get_weights())
    image = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(ours.predict(image, verbose=0), reference.predict(image, verbose=0),
                               rtol=1e-5, atol=1e-6)  # fmt: skip


def test_ids_made_alike_in_every_pass_are_refused_where_used_after_the_repeat():
    text = """
    input: [4]
    layers:
      - repeat: 2
        layers: [{dense: {units: 4, id: inner}}]
      - add: {inputs: [-1, inner]}
    """
    assert problems(text) == [
        "<string>:5:24: error: layers[1].add.inputs: 'inner' names a layer in each pass of a "
        "repeat: which one is meant is not clear here. Name them apart with the repeat's index, "
        'e.g. id: "inner${i}", and refer to the one you mean.'
    ]


def test_a_filled_in_id_or_reference_that_is_not_a_name():
    """Said once per place (with the first pass's value), not once per pass."""
    text = """
    input: [4]
    layers:
      - repeat: 2
        index: i
        layers: [{dense: {units: 4, id: "${i}"}}]
      - add: {inputs: [-1, "skip${i}"]}
    """
    assert problems(text) == [
        "<string>:5:37: error: repeat 1/2 → layers[0].layers[0].dense.id: the id '${i}' gives "
        "int 0 (from '${i}' with i=0), not a name. A name is letters, digits and '_', not "
        'starting with a digit: make ${...} give e.g. \'down1\' (write "down${i}", not "${i}").',
        "<string>:6:24: error: layers[1].add.inputs: 'i' in '${i}' is not a var (none is "
        "defined here). Define it under 'vars:', or as a parameter of the block this is in.",
    ]


def test_a_layer_or_block_named_by_a_var():
    text = """
    vars: {kind: dense, block: pair}
    input: [4]
    blocks:
      pair:
        layers: [{dense: {units: 2}}, {dense: {units: 2}}]
      single:
        layers: [{dense: {units: 3}}]
    layers:
      - "${kind}": {units: 5}
      - "${block}": {}
    """
    assert [layer.args["units"] for layer in validate(spec(text)).layers] == [5, 2, 2]
    assert [layer.args["units"] for layer in validate(spec(text, ["vars.block=single"])).layers] == [
        5, 3]  # fmt: skip


def test_names_a_spec_defines_say_that_fill_ins_are_not_made_there():
    text = """
    input: [4]
    layers:
      - repeat: 2
        index: "i${x}"
        layers: [dense: {units: 4}]
    """
    assert problems(text) == [
        "<string>:4:12: error: layers[0].index: 'i${x}' is not a valid name: ${...} is not "
        "filled in here. Write the name itself; ${...} is filled in in ids, references (inputs:, "
        "outputs:, layer:), layer names and values, not in the names a spec defines."
    ]


def test_a_block_name_in_blocks_is_not_filled_in():
    text = """
    input: [4]
    blocks:
      "pair${n}":
        layers: [dense: {units: 4}]
    layers: [dense: {units: 4}]
    """
    with pytest.raises(SpecErrors) as caught:
        spec(text)
    assert [error.format() for error in caught.value.errors] == [
        "<string>:3:3: error: blocks.pair${n}: 'pair${n}' is not a valid name: ${...} is not "
        "filled in here. Write the name itself; ${...} is filled in in ids, references (inputs:, "
        "outputs:, layer:), layer names and values, not in the names a spec defines."
    ]


def test_settings_say_that_fill_ins_are_not_made_there():
    text = """
    vars: {n: 3}
    input: [4]
    layers: [dense: {units: 4}]
    train: {epochs: "${n}"}
    """
    assert problems(text) == [
        "<string>:4:17: error: train.epochs: expected an integer of at least 1, received the "
        "text '${n}' (${...} is not filled in here)"
    ]


def test_if_on_an_augmentation_layer():
    text = """
    vars: {strong: false}
    input: [8, 8, 3]
    augment:
      - random_flip: {mode: horizontal, if: "${strong}"}
      - random_translation: {height_factor: 0.1, width_factor: 0.1}
    layers: [flatten, {dense: {units: 2}}]
    """
    assert [layer.class_name for layer in validate(spec(text)).augment] == ["RandomTranslation"]
    assert [layer.class_name for layer in validate(spec(text, ["vars.strong=true"])).augment] == [
        "RandomFlip", "RandomTranslation"]  # fmt: skip


ATTENTION = """
name: attention
input: [16, 32]
layers:
  - layer_normalization: {id: ln1}
  - multi_head_attention: {num_heads: 4, key_dim: 8, inputs: {query: ln1, value: ln1}}
  - add: {inputs: [-1, input]}
"""


@pytest.mark.slow
def test_named_inputs_call_the_layer_by_name_like_keras():
    import keras
    from keras import layers

    ours = build(spec(ATTENTION))
    tokens = keras.Input((16, 32))
    normed = layers.LayerNormalization()(tokens)
    attended = layers.MultiHeadAttention(num_heads=4, key_dim=8)(query=normed, value=normed)
    reference = keras.Model(tokens, layers.Add()([attended, tokens]))
    assert ours.count_params() == reference.count_params() == 4288
    ours.set_weights(reference.get_weights())
    data = np.random.default_rng(1).random((2, 16, 32)).astype("float32")
    np.testing.assert_allclose(ours.predict(data, verbose=0), reference.predict(data, verbose=0),
                               rtol=1e-5, atol=1e-6)  # fmt: skip


def test_named_inputs_are_checked_against_the_call_signature():
    assert problems(ATTENTION.replace("value: ln1}", "valu: ln1}")) == [
        "<string>:5:75: error: layers[1].multi_head_attention.inputs.valu: unknown input 'valu' "
        "for MultiHeadAttention. Did you mean 'value'?"
    ]
    assert problems(ATTENTION.replace(", value: ln1}", "}")) == [
        "<string>:5:54: error: layers[1].multi_head_attention.inputs: MultiHeadAttention needs "
        "input 'value'. Add 'value: ID' to its inputs:, ID naming the layer whose output it takes."
    ]


def test_a_layer_that_needs_tensors_by_name_refuses_a_list_or_the_previous_layer():
    text = """
    input: [16, 8]
    layers:
      - layer_normalization: {id: ln}
      - multi_head_attention: {num_heads: 2, key_dim: 4, inputs: [ln, ln]}
      - multi_head_attention: {num_heads: 2, key_dim: 4}
    """
    assert problems(text) == [
        "<string>:4:54: error: layers[1].multi_head_attention.inputs: MultiHeadAttention takes "
        "its inputs by name (query, value): a list does not say which is which. Write "
        "'inputs: {query: ID, value: ID}' (the same id twice for self-attention).",
        "<string>:5:5: error: layers[2].multi_head_attention.inputs: MultiHeadAttention takes "
        "its inputs by name (query, value): one input is not enough. Write "
        "'inputs: {query: ID, value: ID}' (the same id twice for self-attention).",
    ]


def test_a_block_takes_its_inputs_by_name():
    text = """
    input: [4]
    blocks:
      gate:
        inputs: [x, g]
        layers:
          - dense: {units: 4, inputs: g, activation: sigmoid}
          - multiply: {inputs: [x, -1]}
    layers:
      - dense: {units: 4, id: a}
      - dense: {units: 4, id: b}
      - gate: {inputs: {g: a, x: b}}
    """
    plan = validate(spec(text))
    a, b, gate, multiply = plan.layers
    assert gate.inputs == (a.key,) and multiply.inputs == (b.key, gate.key)
    assert problems(text.replace("{g: a, x: b}", "{gg: a, x: b}")) == [
        "<string>:11:12: error: layers[2].gate.inputs: block 'gate' has no input 'gg'. "
        "Did you mean 'g'?"
    ]
    assert problems(text.replace("{g: a, x: b}", "{x: b}")) == [
        "<string>:11:12: error: layers[2].gate.inputs: block 'gate' needs input 'g'. Add 'g: ID' "
        "to this use's inputs."
    ]


def test_sharing_an_op_is_refused_at_validate():
    text = """
    input: [4]
    layers:
      - op: {add: 1.0, id: plus}
      - shared: {layer: plus}
    """
    assert problems(text) == [
        "<string>:4:21: error: layers[1].shared.layer: 'plus' is an op, which holds no weights "
        "to share. Write the op again here ('op: {add: ...}')."
    ]
