"""Graph specs: ids and inputs, merges, several inputs and outputs, shared layers, and their errors."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from layerkit import SpecError, SpecErrors, build, load_spec, summarize, validate


def plan_of(text: str):
    return validate(load_spec(textwrap.dedent(text).lstrip("\n")))


def problems(text: str) -> list[str]:
    with pytest.raises(SpecErrors) as caught:
        plan_of(text)
    return [error.format() for error in caught.value.errors]


RESIDUAL = """
name: residual_net
input: [8, 8, 4]
blocks:
  residual:
    params: [filters]
    layers:
      - conv2d: {filters: "${filters}", kernel_size: 3, padding: same, activation: relu}
      - conv2d: {filters: "${filters}", kernel_size: 3, padding: same, id: body}
      - add: {inputs: [input, body]}
layers:
  - conv2d: {filters: 4, kernel_size: 1}
  - repeat: 2
    layers:
      - residual: {filters: 4}
  - gap2d
"""


def test_residual_block_wires_the_block_input_to_the_add():
    plan = plan_of(RESIDUAL)
    by_key = {node.key: node for node in plan.layers}
    adds = [node for node in plan.layers if node.class_name == "Add"]
    assert len(adds) == 2
    first_add = adds[0]
    left, right = (by_key[key] for key in first_add.inputs)
    assert left.class_name == "Conv2D" and left.args == {"filters": 4, "kernel_size": 1}
    assert right.label == "'body'"
    # the second block's input is the first block's add
    assert by_key[adds[1].inputs[0]] is first_add


@pytest.mark.slow
def test_residual_net_builds_and_computes_identity_plus_body():
    model = build(load_spec(textwrap.dedent(RESIDUAL)))
    assert model.count_params() == 4 * 4 + 4 + 4 * (9 * 4 * 4 + 4)
    assert [type(layer).__name__ for layer in model.layers].count("Add") == 2


TWO_TOWERS = """
name: siamese
inputs:
  left: [28, 28]
  right: [28, 28]
layers:
  - flatten: {inputs: left}
  - dense: {units: 32, activation: relu, id: encoder}
  - flatten: {inputs: right}
  - shared: {layer: encoder, id: right_code}
  - subtract: {inputs: [encoder, right_code]}
  - dense: {units: 1, activation: sigmoid, id: same}
  - dense: {units: 10, activation: softmax, id: digit, inputs: encoder}
outputs: [same, digit]
"""


@pytest.mark.slow
def test_several_inputs_outputs_and_a_shared_layer():
    spec = load_spec(textwrap.dedent(TWO_TOWERS))
    model = build(spec)
    assert [tensor.name for tensor in model.inputs] == ["left", "right"]
    assert [tuple(output.shape) for output in model.outputs] == [(None, 1), (None, 10)]
    # the same image on both sides: with one shared encoder the codes cancel, so the head sees
    # zeros and, its bias starting at zero, answers exactly sigmoid(0) = 0.5
    images = np.random.default_rng(0).random((3, 28, 28)).astype("float32")
    same, digit = model.predict([images, images], verbose=0)
    np.testing.assert_allclose(same, 0.5, atol=1e-6)
    assert digit.shape == (3, 10)
    other = np.random.default_rng(1).random((3, 28, 28)).astype("float32")
    assert not np.allclose(model.predict([images, other], verbose=0)[0], 0.5)
    summary = summarize(model, spec)
    assert next(row for row in summary.rows if row.name == "dense").flops == 2 * 784 * 32


def test_unknown_reference_and_cycle_are_reported_together():
    assert problems(
        """
        input: [16]
        layers:
          - dense: {units: 8, id: a}
          - dense: {units: 8, id: b, inputs: c}
          - dense: {units: 8, id: c, inputs: b}
          - dense: {units: 4, inputs: a}
          - add: {inputs: [a, missing]}
        """
    ) == [
        "<string>:4:5: error: layers[1].dense: the layers form a cycle: 'b' (line 4) → 'c' "
        "(line 5) → 'b' (line 4). A layer can only take inputs that do not depend on its own "
        "output; check 'inputs:'.",
        "<string>:7:23: error: layers[4].add.inputs: 'missing' is not an id or input in the spec's "
        "layers. Known here: a, b, c, input.",
    ]


def test_unused_branch():
    assert problems(
        """
        input: [16]
        layers:
          - dense: {units: 8, id: a}
          - dense: {units: 8}
          - dense: {units: 4, inputs: a}
        """
    ) == [
        "<string>:4:5: error: layers[1].dense: the output of Dense is never used: nothing takes "
        "it as input and it is not a model output. Feed it to a later layer with 'inputs:', list "
        "it in 'outputs:', or remove it."
    ]


def test_unused_input_and_missing_first_input():
    assert problems(
        """
        inputs: {a: [4], b: [4]}
        layers:
          - dense: {units: 2}
        """
    ) == [
        "<string>:3:5: error: layers[0].dense: the first layer must say which input it takes: "
        "the model has several (a, b). Add 'inputs: NAME' to this layer."
    ]
    assert problems(
        """
        inputs: {a: [4], b: [4]}
        layers:
          - dense: {units: 2, inputs: a}
        """
    ) == [
        "<string>:1:21: error: inputs: input 'b' is never used. Feed it to a layer with "
        "'inputs:', or remove it."
    ]


def test_relative_references():
    plan = plan_of("input: [4]\nlayers:\n  - dense: {units: 4}\n  - add: {inputs: [-1, -2]}\n")
    dense, add = plan.layers
    assert add.inputs == (dense.key, "input:input")  # -2 from the second item is the input
    assert problems("input: [4]\nlayers:\n  - add: {inputs: [-1, -2]}\n") == [
        "<string>:3:24: error: layers[0].add.inputs: input -2 reaches before the start of this "
        "list (here -1 is the list's own input). Refer to the layer by its id instead."
    ]


def test_ids_are_local_to_each_block_use():
    plan = plan_of(RESIDUAL)
    bodies = [node for node in plan.layers if node.label == "'body'"]
    assert len(bodies) == 2 and bodies[0].key != bodies[1].key


def test_duplicate_id_in_one_list():
    assert problems(
        """
        input: [4]
        layers:
          - dense: {units: 2, id: x}
          - dense: {units: 2, id: x}
        """
    ) == [
        "<string>:4:5: error: layers[1].id: id 'x' is used twice in this list (first at line 3). "
        "Give each layer a different id."
    ]


def test_block_with_two_inputs_and_an_output():
    plan = plan_of(
        """
        input: [8]
        blocks:
          gate:
            inputs: [x, g]
            output: mixed
            layers:
              - dense: {units: 8, activation: sigmoid, inputs: g, id: weight}
              - multiply: {inputs: [x, weight], id: mixed}
        layers:
          - dense: {units: 8, id: features}
          - dense: {units: 8, id: context, inputs: input}
          - gate: {inputs: [features, context]}
          - dense: {units: 1}
        """
    )
    multiply = next(node for node in plan.layers if node.class_name == "Multiply")
    last = plan.layers[-1]
    assert last.inputs == (multiply.key,)


def test_block_input_count_must_match():
    assert problems(
        """
        input: [8]
        blocks:
          gate:
            inputs: [x, g]
            layers: [{multiply: {inputs: [x, g]}}]
        layers:
          - gate
        """
    ) == [
        "<string>:7:5: error: layers[0].gate: block 'gate' takes 2 inputs (x, g), received 1. "
        "Give this use 'inputs: [x, g]'."
    ]


@pytest.mark.slow
def test_merge_shape_mismatch_names_both_branches():
    with pytest.raises(SpecError) as caught:
        build(
            load_spec(
                "input: [16]\nlayers:\n  - dense: {units: 8, id: left}\n"
                "  - dense: {units: 4, id: right, inputs: input}\n"
                "  - add: {inputs: [left, right]}\n"
            )
        )
    error = caught.value
    assert (error.location.line, error.location.column) == (5, 5)
    assert error.message.startswith(
        "Add cannot combine its inputs: 'left' (line 3) gives (None, 8); 'right' (line 4) gives "
        "(None, 4). Keras says: "
    )


def test_shared_layer_must_be_written_before():
    assert problems(
        """
        input: [4]
        layers:
          - shared: {layer: later}
          - dense: {units: 4, id: later}
        """
    ) == [
        "<string>:3:21: error: layers[0].shared.layer: 'later' is written after this item: "
        "share a layer after it. Move the shared item below the layer it shares."
    ]
