"""Graph specs: ids and inputs, merges, several inputs and outputs, shared layers, and their errors;
and their drawing (``layerkit graph``): whole arguments, rounded numbers, columns for long nets."""

from __future__ import annotations

import dataclasses
import itertools
import re
import textwrap
from xml.etree import ElementTree

import numpy as np
import pytest

from layerkit import SpecError, SpecErrors, build, load_spec, summarize, validate
from layerkit.errors import Location
from layerkit.model.diagram import render_svg
from layerkit.model.diagram_labels import (
    TEXT_WIDTH,
    argument_texts,
    format_number,
    format_value,
    text_width,
    type_text,
)
from layerkit.model.diagram_layout import PAGE_HEIGHT
from layerkit.spec.plan import ResolvedLayer, layer_names

from .conftest import EXAMPLES, SPECS


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


# -- the drawing (layerkit graph) ----------------------------------------------------------------

SVG = "{http://www.w3.org/2000/svg}"


def drawing(plan) -> ElementTree.Element:
    return ElementTree.fromstring(render_svg(plan, layer_names(plan)))


def box_texts(root: ElementTree.Element) -> dict[str, list[str]]:
    """Each box's lines of text, by its plan node's key."""
    boxes = [box for box in root.iter(f"{SVG}g") if box.get("class") == "layer"]
    return {box.get("id"): [text.text for text in box.iter(f"{SVG}text")] for box in boxes}


def box_rects(root: ElementTree.Element) -> dict[str, tuple[float, float, float, float]]:
    rects = {}
    for box in root.iter(f"{SVG}g"):
        if box.get("class") == "layer":
            rect = box.find(f"{SVG}rect")
            title = box.find(f"{SVG}text").text
            rects[title] = tuple(float(rect.get(key)) for key in ("x", "y", "width", "height"))
    return rects


def arrow_points(path: str) -> list[tuple[float, float]]:
    """A routed arrow's start, corners and end (a curve's start and end)."""
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", path)]
    pairs = list(zip(numbers[::2], numbers[1::2], strict=True))
    if path.split()[3] == "C":  # M x y C c1 c2 end
        return [pairs[0], pairs[-1]]
    corners = [float(n) for n in re.findall(r"Q (-?[\d.]+) (-?[\d.]+)", path) for n in n]
    return [pairs[0], *zip(corners[::2], corners[1::2], strict=True), pairs[-1]]


def wiring(root: ElementTree.Element) -> list[tuple[str, str]]:
    """(source, target) of every arrow, found from where it starts (a box's bottom edge) and
    ends (a box's top edge)."""
    rects = box_rects(root)

    def on_edge(point: tuple[float, float], bottom: bool) -> str:
        x, y = point
        (title,) = [
            title
            for title, (left, top, width, height) in rects.items()
            if left <= x <= left + width and abs(y - (top + height if bottom else top)) < 0.6
        ]
        return title

    paths = [p.get("d") for p in root.iter(f"{SVG}path") if p.get("class") == "edge"]
    return [(on_edge(arrow_points(d)[0], True), on_edge(arrow_points(d)[-1], False)) for d in paths]


def test_drawing_wraps_arguments_whole_and_rounds_numbers():
    """Arguments wrap, whole, to further lines; floats are drawn rounded (the plan keeps them)."""
    plan = plan_of(
        """
        name: wide_args
        input: [32, 32, 3]
        layers:
          - conv2d: {filters: 64, kernel_size: [3, 3], strides: [2, 2], dilation_rate: 1,
                     activation: hard_sigmoid}
          - depthwise_conv2d: {kernel_size: 3, strides: 1, depth_multiplier: 2,
                               dilation_rate: [2, 2], activation: log_softmax}
          - dropout: {rate: 0.07500000000000001}
          - dropout: {rate: 1.0e-6}
          - reshape: {target_shape: [-1, 128]}
          - dense: {units: 10, name: convnext_tiny_stage_0_block_0_pointwise_conv_1}
          - dense: {units: 10, name: convnext_tiny_stage_0_block_0_pointwise_conv_1_and_then_some_more}
        """
    )
    assert plan.layers[2].args["rate"] == 0.07500000000000001
    assert list(box_texts(drawing(plan)).values()) == [
        ["input", "Input (32, 32, 3)"],
        ["conv2d", "Conv2D  filters=64, kernel_size=3×3", "strides=2×2, activation=hard_sigmoid",
         "dilation_rate=1"],
        ["depthwise_conv2d", "DepthwiseConv2D  kernel_size=3", "strides=1, activation=log_softmax",
         "dilation_rate=2×2, depth_multiplier=2"],
        ["dropout", "Dropout  rate=0.075"],
        ["dropout_1", "Dropout  rate=1e-06"],
        ["reshape", "Reshape  target_shape=[-1, 128]"],
        # a long name takes two lines, broken after a "_"; one too long for two is cut
        ["convnext_tiny_stage_0_block_", "0_pointwise_conv_1", "Dense  units=10"],
        ["convnext_tiny_stage_0_block_0…", "Dense  units=10"],
    ]  # fmt: skip


def test_numbers_are_rounded_for_display_only():
    assert [format_number(v) for v in (0.1 + 0.2, 1e-06, 1 / 6, 2.0, 123456.7, 1e20)] == [
        "0.3", "1e-06", "0.1667", "2.0", "123457.0", "1e+20"
    ]  # fmt: skip
    assert format_value([0.1 + 0.2, 1e-06, True, None]) == "[0.3, 1e-06, True, None]"
    assert format_value([3, 3], size=True) == "3×3"
    assert format_value({"axis": [1, 2], "epsilon": 0.0010000000000000002}) == (
        "{axis: [1, 2], epsilon: 0.001}"
    )


def node(key: str, class_name: str, args: dict, inputs: tuple[str, ...], **more) -> ResolvedLayer:
    """A plan node as expansion makes it (op nodes and named inputs, drawn before any spec
    reader makes them)."""
    location = Location("<string>", 3, 5)
    return ResolvedLayer(class_name, args, location, "layers[0]", {}, key, inputs, **more)


def with_layers(*layers: ResolvedLayer):
    plan = plan_of("input: [8, 16]\nlayers:\n  - dense: {units: 16}\n")
    return dataclasses.replace(plan, layers=layers, outputs=(layers[-1].key,))


def test_arguments_that_fit_no_line_are_counted_never_cut():
    many = {f"parameter_{n}": 0.1 * n for n in range(1, 10)}
    plan = with_layers(node("o", "some_operation", many, ("input:input",), operation=True))
    root = drawing(plan)
    texts = box_texts(root)["o"]
    assert texts == [
        "some_operation",
        "op some_operation  parameter_1=0.1",
        "parameter_2=0.2, parameter_3=0.3",
        "parameter_4=0.4, +5 more",
    ]
    # a line never runs past its box: each is measured, and squeezed if a font draws it wider
    assert all(text_width(text, 10.5) <= TEXT_WIDTH for text in texts[1:])


def test_ops_and_inputs_passed_by_name_are_drawn():
    plan = with_layers(
        node("ln1", "LayerNormalization", {}, ("input:input",)),
        node("mha", "MultiHeadAttention", {"num_heads": 4, "key_dim": 16}, ("ln1", "ln1"),
             input_names=("query", "value")),
        node("sum", "add", {}, ("input:input", "mha"), operation=True),
        node("scale", "multiply", {"x2": 1 / 6}, ("sum",), operation=True),
        node("mean", "mean", {"axis": [1], "keepdims": True}, ("scale",), operation=True),
    )  # fmt: skip
    names = {"ln1": "ln1", "mha": "attention", "sum": "add", "scale": "multiply", "mean": "mean"}
    root = ElementTree.fromstring(render_svg(plan, names))
    assert list(box_texts(root).values())[1:] == [
        ["ln1", "LayerNormalization"],
        ["attention", "MultiHeadAttention  num_heads=4", "key_dim=16"],
        ["add", "op add"],
        ["multiply", "op multiply  x2=0.1667"],
        ["mean", "op mean  axis=[1], keepdims=True"],
    ]
    fills = {box.find(f"{SVG}text").text: box.find(f"{SVG}rect").get("fill")
             for box in root.iter(f"{SVG}g")}  # fmt: skip
    assert fills == {"input": "#e8f0fe", "ln1": "#f5f5f5", "attention": "#f5f5f5",
                     "add": "#fdf3e1", "multiply": "#fdf3e1", "mean": "#fdf3e1"}  # fmt: skip
    # both arrows from ln1 reach the attention box, apart, each labelled with its parameter
    assert wiring(root) == [("input", "ln1"), ("ln1", "attention"), ("ln1", "attention"),
                            ("input", "add"), ("attention", "add"), ("add", "multiply"),
                            ("multiply", "mean")]  # fmt: skip
    labels = [text for text in root.iter(f"{SVG}text") if text.get("class") == "input-name"]
    assert [label.text for label in labels] == ["query", "value"]
    paths = [p.get("d") for p in root.iter(f"{SVG}path") if p.get("class") == "edge"]
    ends = [arrow_points(d)[-1] for d in paths[1:3]]
    assert ends[0][0] < ends[1][0]
    assert [(float(label.get("x")) - 4, float(label.get("y")) + 3) for label in labels] == ends


def test_a_wrapper_shows_the_layer_it_wraps():
    plan = validate(load_spec(EXAMPLES / "text_bilstm.yaml"))
    assert list(box_texts(drawing(plan)).values())[2:4] == [
        ["bidirectional", "Bidirectional(LSTM)  units=64"],
        ["bidirectional_1", "Bidirectional(LSTM)  units=32"],
    ]


@pytest.mark.parametrize(
    ("name", "size"),
    [("resnet50", (3622, 1974)), ("mobilenet_v2", (2224, 1994)), ("densenet121", (4062, 2668))],
)
def test_reference_drawings_show_every_argument_whole(name, size):
    """Every argument the drawing shows is the whole ``name=value``; the rest are counted. The
    drawing is a page tall (DenseNet-121's 428 layers fill 11 taller columns), and readable."""
    plan = validate(load_spec(SPECS / f"{name}.yaml"))
    root = drawing(plan)
    assert (float(root.get("width")), float(root.get("height"))) == size  # one column: 11,234
    # px tall for ResNet-50, 10,376 for MobileNetV2, 28,394 for DenseNet-121
    routes_of_a_readable_drawing(plan, root)
    texts = box_texts(root)
    for layer in plan.layers:
        lines = texts[layer.key]
        assert lines[1].startswith(type_text(layer))
        shown = " ".join(lines[1:])
        missing = [piece for piece in argument_texts(layer) if piece not in shown]
        assert shown.endswith(f"+{len(missing)} more") if missing else "more" not in shown
        assert "…" not in shown


LONG_NET = """
name: long_net
input: [32, 32, 8]
blocks:
  mbconv:
    params: [rate]
    layers:
      - conv2d: {filters: 32, kernel_size: 1, padding: same}
      - batch_normalization
      - activation: {activation: swish}
      - depthwise_conv2d: {kernel_size: 3, padding: same}
      - batch_normalization
      - activation: {activation: swish, id: dw}
      - global_average_pooling2d: {keepdims: true}
      - conv2d: {filters: 8, kernel_size: 1, activation: swish}
      - conv2d: {filters: 32, kernel_size: 1, activation: sigmoid}
      - multiply: {inputs: [dw, -1]}
      - conv2d: {filters: 8, kernel_size: 1}
      - batch_normalization
      - dropout: {rate: "${rate}"}
      - add: {inputs: [input, -1]}
layers:
  - repeat: 17
    index: i
    layers:
      - mbconv: {rate: "${0.2 * i / 17}"}
"""


def routes_of_a_readable_drawing(plan, root: ElementTree.Element) -> list[list[tuple]]:
    """Check what makes a drawing readable and give the routed arrows' corner points: no box
    over another, every input's arrow from its source's bottom to its target's top, and every
    routed arrow running across or down/up, never across a box."""
    rects = list(box_rects(root).values())
    for index, (left, top, width, height) in enumerate(rects):
        for other_left, other_top, other_width, other_height in rects[index + 1 :]:
            assert (
                left + width <= other_left or other_left + other_width <= left
                or top + height <= other_top or other_top + other_height <= top
            )  # fmt: skip
    names = layer_names(plan) | {i.key: i.spec.name for i in plan.inputs}
    expected = [(names[s], names[layer.key]) for layer in plan.layers for s in layer.inputs]
    assert sorted(wiring(root)) == sorted(expected)
    paths = [p.get("d") for p in root.iter(f"{SVG}path") if p.get("class") == "edge"]
    routed = [arrow_points(d) for d in paths if " Q " in d]
    for points in routed:
        for (x1, y1), (x2, y2) in itertools.pairwise(points):
            assert x1 == x2 or y1 == y2  # across, or down and up
            for left, top, width, height in rects:
                assert not (
                    max(x1, x2) > left and min(x1, x2) < left + width
                    and max(y1, y2) > top and min(y1, y2) < top + height
                )  # fmt: skip
    return routed


def test_a_long_net_is_wrapped_into_columns_a_page_tall():
    """238 layers with squeeze-and-excite and residual shortcuts, as EfficientNet: one column
    would be about 15,900 px tall; the drawing is at most 2,000 px, in columns side by side."""
    plan = plan_of(LONG_NET)
    assert len(plan.layers) == 238
    root = drawing(plan)
    assert (float(root.get("width")), float(root.get("height"))) == (3338, 1984)
    assert float(root.get("height")) <= PAGE_HEIGHT
    assert len({left for left, *_ in box_rects(root).values()}) == 9  # columns
    routed = routes_of_a_readable_drawing(plan, root)
    assert len(routed) == 17 * 2 + 8  # the shortcuts, and the arrows from one column to the next


def test_an_arrow_past_whole_columns_runs_below_them():
    plan = plan_of(
        """
        inputs: {a: [16], b: [16]}
        layers:
          - dense: {units: 16, id: first, inputs: a}
          - dense: {units: 16, id: other, inputs: b}
          - repeat: 70
            layers:
              - dense: {units: 16}
          - add: {inputs: [first, -1, other]}
        """
    )
    root = drawing(plan)
    assert (float(root.get("width")), float(root.get("height"))) == (1418, 1878)
    rects = box_rects(root)
    assert len({left for left, *_ in rects.values()}) == 5  # 3 columns; a, b side by side
    routed = routes_of_a_readable_drawing(plan, root)
    lowest_box = max(top + height for _, top, _, height in rects.values())
    below = [points for points in routed if max(y for _, y in points) > lowest_box + 20]
    assert len(below) == 2  # dense → add and dense_1 → add, in two lanes
    assert len({max(y for _, y in points) for points in below}) == 2
