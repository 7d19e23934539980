"""layerkit import: printed Keras summaries back into specs that build to the same counts."""

from __future__ import annotations

import pytest

from layerkit import Location, SpecError, build, load_spec, summarize
from layerkit.cli import main
from layerkit.importer import parse_summary

from .conftest import DATA, EXAMPLES, SPECS

pytestmark = pytest.mark.slow
REFERENCE = DATA / "cifar_keras2_summary.txt"


def keras2_layout(model) -> str:
    """A summary in the Keras 2 text layout (columns cut at 29, 55 and 65 characters)."""

    def row(fields):
        line = ""
        for value, end in zip(fields, (29, 55, 65), strict=True):
            line = (line + str(value))[:end]
            line += " " * (end - len(line))
        return line

    lines = [row(["Layer (type)", "Output Shape", "Param #"]), "=" * 65]
    for layer in model.layers[1:]:
        lines += [
            row(
                [
                    f"{layer.name} ({type(layer).__name__})",
                    str(tuple(layer.output.shape)),
                    layer.count_params(),
                ]
            ),
            "_" * 65,
        ]
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    total = model.count_params()
    lines += [
        f"Total params: {total:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {total - trainable:,}",
    ]
    return "\n".join(lines) + "\n"


def test_reference_summary_imports_to_a_spec_that_builds_all_checked(runner, tmp_path):
    target = tmp_path / "imported.yaml"
    result = runner.invoke(main, ["import", str(REFERENCE), "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(
        f"wrote {target}: 25 layers; check it with: layerkit build {target}\n"
    )
    assert "placeholders to check (not in the summary): conv2d_19 (activation);" in result.stdout
    spec = load_spec(target)
    summary = summarize(build(spec), spec)
    assert summary.ok and summary.checked_count == 28
    assert [total.actual for total in summary.totals] == [2_494_982, 2_491_838, 3_144]
    assert "# not in the summary: activation" in target.read_text()


@pytest.mark.parametrize("spec_path", [SPECS / "cifar.yaml", SPECS / "vgg16.yaml", EXAMPLES / "fashion_mnist_mlp.yaml"],
                         ids=lambda path: path.name)  # fmt: skip
def test_round_trip_through_a_keras2_printout(spec_path, runner, tmp_path):
    model = build(load_spec(spec_path))
    printed = tmp_path / "summary.txt"
    printed.write_text(keras2_layout(model), encoding="utf-8")
    shape = ",".join(str(size) for size in model.inputs[0].shape[1:])
    target = tmp_path / "back.yaml"
    result = runner.invoke(main, ["import", str(printed), "-o", str(target), "--input", shape])
    assert result.exit_code == 0, result.output
    spec = load_spec(target)
    rebuilt = build(spec)
    assert rebuilt.count_params() == model.count_params()
    assert summarize(rebuilt, spec).ok


@pytest.mark.parametrize("spec_path", [SPECS / "cifar.yaml", SPECS / "vgg16.yaml", EXAMPLES / "fashion_mnist_mlp.yaml"],
                         ids=lambda path: path.name)  # fmt: skip
def test_round_trip_through_keras3_own_summary(spec_path, runner, tmp_path):
    model = build(load_spec(spec_path))
    lines: list[str] = []
    model.summary(print_fn=lambda line, **kwargs: lines.append(line))
    printed = tmp_path / "summary.txt"
    printed.write_text("\n".join(lines) + "\n", encoding="utf-8")
    target = tmp_path / "back.yaml"
    result = runner.invoke(main, ["import", str(printed), "-o", str(target)])  # input from its row
    assert result.exit_code == 0, result.output
    spec = load_spec(target)
    rebuilt = build(spec)
    assert rebuilt.count_params() == model.count_params()
    assert summarize(rebuilt, spec).ok


MORE_KINDS = """\
name: more_kinds
input: [40, 40, 3]
layers:
  - depthwise_conv2d: {kernel_size: 3, padding: same, depth_multiplier: 2}
  - conv2d: {filters: 8, kernel_size: 5, strides: 2, padding: same, use_bias: false}
  - global_average_pooling2d
  - reshape: {target_shape: [8, 1]}
  - conv1d: {filters: 4, kernel_size: 3, padding: same}
  - flatten
  - dense: {units: 3, use_bias: false}
"""


TEXT_KINDS = """\
name: bag_of_words
input: {shape: [20], dtype: int32}
layers:
  - embedding: {input_dim: 500, output_dim: 16}
  - global_average_pooling1d
  - dense: {units: 2}
"""


@pytest.mark.parametrize("text", [MORE_KINDS, TEXT_KINDS], ids=["images", "tokens"])
def test_round_trip_of_more_layer_kinds(text, runner, tmp_path):
    spec_path = tmp_path / "more.yaml"
    spec_path.write_text(text, encoding="utf-8")
    model = build(load_spec(spec_path))
    lines: list[str] = []
    model.summary(print_fn=lambda line, **kwargs: lines.append(line))
    (tmp_path / "summary.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    target = tmp_path / "back.yaml"
    assert (
        runner.invoke(main, ["import", str(tmp_path / "summary.txt"), "-o", str(target)]).exit_code
        == 0
    )
    spec = load_spec(target)
    assert summarize(build(spec), spec).ok
    assert [layer.count_params() for layer in build(spec).layers[1:]] == [
        layer.count_params() for layer in model.layers[1:]
    ]


def test_a_garbled_row_is_an_error_naming_its_line(tmp_path):
    lines = REFERENCE.read_text().splitlines()
    lines[6] = lines[6][:12]  # a row cut short
    with pytest.raises(SpecError) as caught:
        parse_summary("\n".join(lines), "cut.txt")
    assert caught.value.location.line == 7
    assert caught.value.message.startswith("cannot read this summary row:")


def test_an_existing_spec_is_not_overwritten(runner, tmp_path):
    target = tmp_path / "mine.yaml"
    target.write_text("precious", encoding="utf-8")
    result = runner.invoke(main, ["import", str(REFERENCE), "-o", str(target)])
    assert result.exit_code == 2 and "already exists; pass --force" in result.stderr
    assert target.read_text() == "precious"


def test_a_layer_type_import_does_not_know_is_named_with_its_line(tmp_path):
    from layerkit.importer import import_summary

    text = REFERENCE.read_text().replace("flatten_4 (Flatten)    ", "warp_4 (WarpDrive)     ")
    printed = tmp_path / "odd.txt"
    printed.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        import_summary(printed)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row.startswith("warp_4"))
    assert caught.value.location == Location(str(printed), line, 1)
    assert caught.value.message == "layer type of 'warp_4' (WarpDrive) is not one layerkit knows"
