"""op: items (issue 16, item 6): the keras.ops catalog, the check of an op against it, and ops
compiled into real functional models — counted, summarized, saved and loaded like layers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from layerkit import SpecError, SpecErrors, build, load_spec, summarize, validate
from layerkit.catalog.operations import CATALOG_PATH, EXCLUDED_OPERATIONS, LIST_INPUT_OPERATIONS
from layerkit.cli import main
from layerkit.errors import Location
from layerkit.model.estimate import estimate_params
from layerkit.spec.document import LAYER_KEYS, Operation, Ref
from layerkit.spec.operation_calls import OperationChecker
from layerkit.spec.plan import ResolvedLayer
from layerkit.spec.problems import Problems
from layerkit.spec.substitution import Bound, Scope
from layerkit.spec.yaml_source import parse_yaml
from layerkit.training.evaluate import open_trained

CATALOG = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))


# -- the catalog -------------------------------------------------------------------------------


def test_catalog_equals_the_installed_keras():
    """Regenerate with ``python -m layerkit.catalog.generate_operations`` when this fails."""
    from layerkit.catalog.generate_operations import generate_catalog

    live = generate_catalog()
    assert sorted(CATALOG["operations"]) == sorted(live["operations"])
    if live["keras_version"] == CATALOG["keras_version"]:
        assert live == CATALOG


def test_every_exclusion_names_a_function_of_keras_ops_and_none_is_listed():
    import keras

    assert [name for name in EXCLUDED_OPERATIONS if not hasattr(keras.ops, name)] == []
    assert set(EXCLUDED_OPERATIONS) & set(CATALOG["operations"]) == set()
    assert set(CATALOG["operations"]) >= LIST_INPUT_OPERATIONS


def test_catalog_entries_give_parameters_in_order_with_defaults_and_kinds():
    assert CATALOG["operations"]["add"] == [
        {"name": "x1", "required": True, "kinds": []},
        {"name": "x2", "required": True, "kinds": []},
    ]
    assert CATALOG["operations"]["mean"] == [
        {"name": "x", "required": True, "kinds": []},
        {"name": "axis", "required": False, "default": None, "kinds": []},
        {"name": "keepdims", "required": False, "default": False, "kinds": ["bool"]},
    ]
    assert CATALOG["operations"]["leaky_relu"][1] == {
        "name": "negative_slope", "required": False, "default": 0.2, "kinds": ["int", "float"]
    }  # fmt: skip


# -- the check of one op: items built from YAML as the reader builds them ------------------------


def check(text: str, input_count: int = 1) -> ResolvedLayer | list[str]:
    """The plan node for the op written in ``text`` (``op: {...}``), or its errors' lines."""
    node = parse_yaml(text, "spec.yaml")
    op_node = node.value["op"]
    (name,) = [key for key in op_node.value if key not in LAYER_KEYS]
    inputs = input_names = None
    if "inputs" in op_node.value:
        refs = op_node.value["inputs"]
        if refs.is_mapping:
            input_names = tuple(refs.value)
            refs = list(refs.value.values())
        else:
            refs = list(refs.value)
        inputs = tuple(Ref(ref.value, ref.location) for ref in refs)
        input_count = len(inputs)
    item = Operation(
        name, op_node.value[name], node.key_location("op"), "layers[2]",
        dict(op_node.key_locations), None, inputs, input_names,
    )  # fmt: skip
    problems = Problems()
    scope = Scope({"width": Bound(6, Location("spec.yaml", 9, 9))}, {})
    resolved = OperationChecker(problems).resolve(item, scope, (), input_count)
    try:
        problems.raise_if_any()
    except SpecErrors as errors:
        assert resolved is None
        return [error.format() for error in errors.errors]
    return resolved


def test_a_scalar_fills_the_parameter_after_the_tensor_inputs():
    node = check("op: {add: 3.0}")
    assert (node.class_name, node.args, node.operation) == ("add", {"x2": 3.0}, True)
    assert node.path == "layers[2].op.add"
    assert node.arg_locations == {"x2": Location("spec.yaml", 1, 11)}


def test_an_expression_is_evaluated_and_a_mapping_names_parameters():
    assert check('op: {multiply: "${1 / width}"}').args == {"x2": 1 / 6}
    node = check("op: {mean: {axis: [1, 2], keepdims: true}}")
    assert node.args == {"axis": [1, 2], "keepdims": True}
    assert check("op: {mean: {axis: null}}").args == {"axis": None}


def test_two_inputs_fill_two_parameters_and_the_constant_the_third():
    assert check("op: {add: null, inputs: [a, b]}").args == {}
    assert check("op: {where: null, inputs: [c, a, b]}").args == {}
    assert check("op: {concatenate: -1, inputs: [a, b, c]}").args == {"axis": -1}


def test_named_inputs_fill_the_parameters_they_name():
    node = check(
        "op: {dot_product_attention: {is_causal: true}, inputs: {query: q, key: k, value: v}}"
    )
    assert node.input_names == ("query", "key", "value")
    assert node.args == {"is_causal": True}


def test_names_resolve_in_any_case_to_the_catalogs_name():
    assert check("op: {TrueDivide: 2}").class_name == "true_divide"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "op: {ad: 3}",
            "spec.yaml:1:6: error: layers[2].op.ad: unknown op 'ad'. Did you mean 'add'?",
        ),
        (
            "op: {frobnicate: 3}",
            "spec.yaml:1:6: error: layers[2].op.frobnicate: unknown op 'frobnicate'. Name a "
            "function of keras.ops, such as add, multiply or mean.",
        ),
        (
            "op: {conv2d: 3}",
            "spec.yaml:1:6: error: layers[2].op.conv2d: 'conv2d' is a layer, not a keras.ops "
            "function. Write it as an item of its own ('- conv2d: {...}'), not under 'op:'.",
        ),
        (
            "op: {while_loop: 3}",
            "spec.yaml:1:6: error: layers[2].op.while_loop: keras.ops.while_loop cannot be an op: "
            "it takes a Python function, and a spec holds no code. Write the steps as layers and "
            "ops, or register a custom layer from Python (layerkit.register_layer).",
        ),
        (
            "op: {split: 2}",
            "spec.yaml:1:6: error: layers[2].op.split: keras.ops.split cannot be an op: it gives "
            "several tensors, and an item gives one. Take each piece with its own item "
            "(get_item, slice or take).",
        ),
        (
            "op: {zeros: [3]}",
            "spec.yaml:1:6: error: layers[2].op.zeros: keras.ops.zeros cannot be an op: it makes "
            "a tensor from sizes alone rather than from its input. Make it from the item's input "
            "(as zeros_like or full_like do), or give it as an op's constant.",
        ),
        (
            "op: {shape: null}",
            "spec.yaml:1:6: error: layers[2].op.shape: keras.ops.shape cannot be an op: it "
            "describes a tensor (a Python value or a count) rather than computing on it. Write "
            "the number into the spec instead.",
        ),
        (
            "op: {mean: {axes: 1}}",
            "spec.yaml:1:13: error: layers[2].op.mean.axes: unknown parameter 'axes' for op "
            "'mean'. Did you mean 'axis'?",
        ),
        (
            "op: {mean: {keepdims: 3}}",
            "spec.yaml:1:23: error: layers[2].op.mean.keepdims: parameter 'keepdims' of op 'mean' "
            "expects true or false, received int 3. Write true or false here.",
        ),
        (
            "op: {leaky_relu: '0.1'}",
            "spec.yaml:1:18: error: layers[2].op.leaky_relu.negative_slope: parameter "
            "'negative_slope' of op 'leaky_relu' expects a number, received the text '0.1'. Write "
            "the number without quotes.",
        ),
        (
            "op: {add: null}",
            "spec.yaml:1:6: error: layers[2].op.add: op 'add' needs parameter 'x2'. Give it as "
            "the constant ('op: {add: VALUE}') or as one more tensor in 'inputs:'.",
        ),
        (
            "op: {clip: 0.0}",
            "spec.yaml:1:6: error: layers[2].op.clip: op 'clip' needs parameter 'x_max'. Give it "
            "by name: 'op: {clip: {x_max: VALUE}}'.",
        ),
        (
            "op: {relu: 3}",
            "spec.yaml:1:12: error: layers[2].op.relu: op 'relu' takes no constant: its "
            "parameters (x) are all fed by its inputs. Write 'op: {relu: null}'.",
        ),
        (
            "op: {mean: {x: 1}}",
            "spec.yaml:1:13: error: layers[2].op.mean.x: parameter 'x' of op 'mean' is given "
            "twice: by 'inputs:' and here. Leave 'x' out here, or feed the op fewer tensors.",
        ),
        (
            "op: {add: 1.0, inputs: [a, b, c]}",
            "spec.yaml:1:6: error: layers[2].op.add: op 'add' takes at most 2 tensor inputs "
            "(x1, x2), received 3. Give it at most 2 in 'inputs:'.",
        ),
        (
            "op: {add: {x2: 1.0}, inputs: {x1: a, x2: b}}",
            "spec.yaml:1:12: error: layers[2].op.add.x2: parameter 'x2' of op 'add' is given "
            "twice: by 'inputs:' and here. Leave 'x2' out here, or feed the op fewer tensors.",
        ),
        (
            "op: {dot_product_attention: null, inputs: {query: q, key: k, vale: v}}",
            "spec.yaml:1:68: error: layers[2].op.dot_product_attention.inputs.vale: op "
            "'dot_product_attention' has no parameter 'vale' to take an input. Did you mean "
            "'value'?",
        ),
        (
            "op: {mean: null, inputs: {x: a, keepdims: b}}",
            "spec.yaml:1:43: error: layers[2].op.mean.inputs.keepdims: parameter 'keepdims' of op "
            "'mean' takes true or false, not a tensor. Give it as a constant: "
            "'op: {mean: {keepdims: VALUE}}'.",
        ),
        (
            "op: {concatenate: -1, inputs: {xs: a}}",
            "spec.yaml:1:36: error: layers[2].op.concatenate.inputs: op 'concatenate' takes its "
            "tensors as one list under 'xs'. Write 'inputs:' as a list of references, such as "
            "'inputs: [a, b]'.",
        ),
        (
            "op: {reshape: [-1, 3000000000]}",
            "spec.yaml:1:15: error: layers[2].op.reshape.newshape: parameter 'newshape' of op "
            "'reshape' holds the integer 3,000,000,000, beyond the ±2,147,483,647 an argument "
            "may have. Check the number: a size or count this large cannot be built.",
        ),
        (
            'op: {multiply: "${1 / widht}"}',
            "spec.yaml:1:16: error: layers[2].op.multiply.x2: 'widht' in '${1 / widht}' is not a "
            "var. Did you mean 'width'?",
        ),
    ],
)
def test_each_mistake_is_one_located_error_with_a_fix(text, message):
    assert check(text) == [message]


# -- whole specs: built, counted, summarized, saved --------------------------------------------

# MobileNetV3's hard-swish, x * relu6(x + 3) / 6, after a convolution, then its squeeze pooling
HARD_SWISH = """\
name: hard_swish
input: [8, 8, 3]
layers:
  - conv2d: {filters: 4, kernel_size: 3, padding: same, id: x}
  - op: {add: 3.0}
  - op: {relu6: null}
  - op: {multiply: null, inputs: [x, -1]}
  - op: {divide: 6.0}
  - op: {mean: {axis: [1, 2], keepdims: true}}
expect:
  total_params: 112
  rows:
    - {name: conv2d, type: Conv2D, shape: [8, 8, 4], params: 112}
    - {name: add, type: Add, shape: [8, 8, 4], params: 0}
    - {name: relu6, type: Relu6, shape: [8, 8, 4], params: 0}
    - {name: multiply, type: Multiply, shape: [8, 8, 4], params: 0}
    - {name: divide, type: Divide, shape: [8, 8, 4], params: 0}
    - {name: mean, type: Mean, shape: [1, 1, 4], params: 0}
"""


def keras_hard_swish():
    import keras

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    y = keras.ops.divide(x * keras.ops.relu6(x + 3.0), 6.0)
    return keras.Model(inputs, keras.ops.mean(y, axis=(1, 2), keepdims=True))


@pytest.mark.slow
def test_hard_swish_from_ops_equals_keras_written_directly(write_spec):
    model = build(load_spec(write_spec(HARD_SWISH)))
    reference = keras_hard_swish()
    assert model.count_params() == reference.count_params() == 112
    kinds = [type(node).__name__ for node in model.operations]
    assert kinds == [type(node).__name__ for node in reference.operations]
    assert kinds == ["InputLayer", "Conv2D", "Add", "Relu6", "Multiply", "Divide", "Mean"]
    reference.set_weights(model.get_weights())
    images = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    np.testing.assert_array_equal(model(images).numpy(), reference(images).numpy())


@pytest.mark.slow
def test_ops_are_summary_rows_with_plan_names_that_expect_rows_check(write_spec):
    path = write_spec(HARD_SWISH)
    plan = validate(load_spec(path))
    build(plan)  # a second build numbers nothing further: the names are the plan's
    summary = summarize(build(plan), plan)
    assert summary.ok, summary.problems
    assert [(row.name, row.type, row.params, row.location.line) for row in summary.rows] == [
        ("conv2d", "Conv2D", 112, 4), ("add", "Add", 0, 5), ("relu6", "Relu6", 0, 6),
        ("multiply", "Multiply", 0, 7), ("divide", "Divide", 0, 8), ("mean", "Mean", 0, 9),
    ]  # fmt: skip
    wrong = load_spec(write_spec(HARD_SWISH.replace("type: Divide", "type: Multiply")))
    assert summarize(build(wrong), wrong).problems == (
        "row 5 divide: type Divide, expected Multiply",
    )


@pytest.mark.slow
def test_the_estimate_walks_through_ops_and_stays_exact(write_spec):
    spec = load_spec(
        write_spec("""\
            name: scaled
            vars: {scales: [0.5, 2.0]}
            input: [6]
            layers:
              - repeat: 2
                index: i
                layers:
                  - dense: {units: 5}
                  - op: {multiply: "${scales[i]}"}
              - op: {expand_dims: 1}
              - op: {concatenate: 1, inputs: [-1, -1]}
              - flatten
              - dense: {units: 3}
            """)
    )
    plan = validate(spec)
    total, per_node = estimate_params(plan)
    model = build(plan)
    assert total == model.count_params() == 6 * 5 + 5 + 5 * 5 + 5 + 10 * 3 + 3
    assert sorted(per_node.values()) == [0, 0, 0, 0, 0, 30, 33, 35]
    assert model.output.shape == (None, 3)


@pytest.mark.slow
def test_matmul_counts_its_multiply_adds_and_a_contraction_without_formula_is_unknown(write_spec):
    spec = load_spec(
        write_spec("""\
            name: products
            input: [4, 6]
            layers:
              - dense: {units: 6, id: keys}
              - op: {transpose: [0, 2, 1]}
              - op: {matmul: null, inputs: [input, -1]}
            """)
    )
    rows = summarize(build(spec), spec).rows
    assert [(row.name, row.flops) for row in rows] == [
        ("dense", 4 * 6 * 6), ("transpose", 0), ("matmul", 4 * 4 * 6),
    ]  # fmt: skip
    spec = load_spec(
        write_spec("""\
            name: products
            input: [4, 6]
            layers:
              - op: {tensordot: null, inputs: [input, input]}
            """)
    )
    summary = summarize(build(spec), spec)
    assert (summary.rows[0].flops, summary.flops_complete) == (None, False)


@pytest.mark.slow
def test_keras_objection_to_an_op_is_located_with_the_input_shapes(write_spec):
    path = write_spec("""\
        name: bad
        input: [8, 8, 3]
        layers:
          - conv2d: {filters: 4, kernel_size: 3, padding: same, id: a}
          - conv2d: {filters: 5, kernel_size: 1, id: b}
          - op: {add: null, inputs: [a, b]}
        """)
    with pytest.raises(SpecError) as raised:
        build(load_spec(path))
    assert raised.value.format() == (
        f"{path}:6:5: error: layers[2].op.add: op 'add' cannot combine its inputs: 'a' (line 4) "
        "gives (None, 8, 8, 4); 'b' (line 5) gives (None, 8, 8, 5). Keras says: Cannot "
        "broadcast shape, the failure dim has value 4, which cannot be broadcasted to 5. Input "
        "shapes are: [None, 8, 8, 4] and [None, 8, 8, 5]. Make the branches meet with the same "
        "shape (e.g. a 1x1 convolution or a reshape on one)."
    )
    path = write_spec("""\
        name: bad
        input: [8, 8, 3]
        layers:
          - conv2d: {filters: 4, kernel_size: 3, padding: same}
          - op: {mean: {axis: 5}}
        """)
    with pytest.raises(SpecError) as raised:
        build(load_spec(path))
    assert raised.value.format() == (
        f"{path}:5:5: error: layers[1].op.mean: op 'mean' cannot take its input of shape "
        "(None, 8, 8, 4): axis 5 is out of bounds for an array with dimension 4. Check this op's "
        "arguments against the shape the item before it gives."
    )


def test_spec_errors_of_ops_come_from_validate_at_their_place(write_spec):
    path = write_spec("""\
        name: bad
        input: [8]
        layers:
          - dense: {units: 4, id: a}
          - op: {multiplyy: 2.0}
          - op: {mean: {axis: 0, keep_dims: true}}
          - op: {add: null, inputs: {x1: a, y: -1}}
        """)
    with pytest.raises(SpecErrors) as raised:
        validate(load_spec(path))
    assert [error.format() for error in raised.value.errors] == [
        f"{path}:5:10: error: layers[1].op.multiplyy: unknown op 'multiplyy'. Did you mean "
        "'multiply'?",
        f"{path}:6:26: error: layers[2].op.mean.keep_dims: unknown parameter 'keep_dims' for op "
        "'mean'. Did you mean 'keepdims'?",
        f"{path}:7:37: error: layers[3].op.add.inputs.y: op 'add' has no parameter 'y' to take "
        "an input. add takes: x1, x2.",
    ]


def test_validating_a_spec_with_ops_imports_no_keras(write_spec):
    path = write_spec(HARD_SWISH)
    code = (
        "import sys; from layerkit import load_spec, validate; "
        f"validate(load_spec({str(path)!r})); "
        "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.slow
def test_a_model_with_ops_saves_and_loads_through_layerkit(write_spec, runner, tmp_path):
    path = write_spec(HARD_SWISH)
    saved = tmp_path / "hard_swish.keras"
    result = runner.invoke(main, ["build", str(path), "--save", str(saved)])
    assert result.exit_code == 0, result.output
    loaded = open_trained(saved).model
    model = build(load_spec(path))
    model.set_weights(loaded.get_weights())
    assert [(type(node).__name__, node.name) for node in loaded.operations][1:] == [
        ("Conv2D", "conv2d"), ("Add", "add"), ("Relu6", "relu6"), ("Multiply", "multiply"),
        ("Divide", "divide"), ("Mean", "mean"),
    ]  # fmt: skip
    images = np.random.default_rng(1).normal(size=(2, 8, 8, 3)).astype("float32")
    np.testing.assert_array_equal(
        loaded.predict(images, verbose=0), model.predict(images, verbose=0)
    )


# -- named inputs of layers, and the layers the estimate learned with them ------------------------


@pytest.mark.slow
def test_estimate_is_exact_for_attention_by_name_and_an_adapted_normalization(write_spec):
    spec = load_spec(
        write_spec("""\
            name: attention
            inputs: {tokens: [5, 8], memory: [7, 6]}
            layers:
              - normalization: {axis: -1, inputs: [tokens]}
              - multi_head_attention:
                  num_heads: 2
                  key_dim: 3
                  value_dim: 4
                  output_shape: [2, 5]
                  inputs: {query: -1, value: memory}
              - op: {reshape: [-1, 5, 10]}
            """)
    )
    plan = validate(spec)
    total, _ = estimate_params(plan)
    model = build(plan)
    assert (
        total
        == model.count_params()
        == (2 * 8 + 1) + 2 * 3 * (8 + 6) + 2 * 4 * 6 + 2 * (3 + 3 + 4) + 2 * 4 * 10 + 10
    )
    assert model.output.shape == (None, 5, 10)


@pytest.mark.slow
def test_estimate_is_exact_for_layerkits_layer_scale_and_position_embedding(write_spec):
    spec = load_spec(
        write_spec("""\
            name: tokens
            input: [6, 8]
            layers:
              - position_embedding: {sequence_length: 10}
              - layer_scale: {init_values: 0.1, projection_dim: 8}
            """)
    )
    plan = validate(spec)
    assert estimate_params(plan)[0] == build(plan).count_params() == 10 * 8 + 8


@pytest.mark.slow
def test_keras_own_mask_op_is_no_row_but_the_specs_ops_are(write_spec):
    spec = load_spec(
        write_spec("""\
            name: masked
            input: {shape: [null], dtype: int32}
            layers:
              - embedding: {input_dim: 50, output_dim: 4, mask_zero: true}
              - lstm: {units: 3}
              - op: {multiply: 2.0}
            """)
    )
    model = build(spec)
    assert "NotEqual" in [type(node).__name__ for node in model.operations]
    assert [row.name for row in summarize(model, spec).rows] == ["embedding", "lstm", "multiply"]


@pytest.mark.slow
def test_attention_and_normalization_ops_count_their_multiply_adds(write_spec):
    spec = load_spec(
        write_spec("""\
            name: attention_op
            input: [10, 4, 8]
            layers:
              - dense: {units: 8, id: q}
              - dense: {units: 8, inputs: [input], id: v}
              - op: {dot_product_attention: null, inputs: {query: q, key: q, value: v}}
              - op: {rms_normalization: null}
              - op: {reshape: [-1, 10, 32]}
            """)
    )
    rows = summarize(build(spec), spec).rows
    assert [(row.name, row.type, row.flops) for row in rows] == [
        ("dense", "Dense", 10 * 4 * 8 * 8),
        ("dense_1", "Dense", 10 * 4 * 8 * 8),
        ("dot_product_attention", "DotProductAttention", 10 * 10 * 4 * (8 + 8)),
        ("rms_normalization", "RMSNorm", 10 * 4 * 8),
        ("reshape", "Reshape", 0),
    ]
