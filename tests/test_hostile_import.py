"""`layerkit import` of hostile printed summaries, found by a hunt of 12,000 mutated and
hand-made printouts (2026-12-03): each is a located error, a marked entry saying why, or a spec
that validates, within seconds — never a traceback, a hang, or a custom layer written as a
built-in one. No TensorFlow: the summaries are written here in Keras 3's box layout."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from layerkit import SpecError, load_spec, validate
from layerkit.catalog import params as formulas
from layerkit.importer import ImportReport, import_summary

from .conftest import machine_pace

Row = tuple  # (label, shape, params, connections or None)


def box(rows: list[Row], total: int | str | None = None) -> str:
    """A printed Keras 3 summary of ``rows``; the "Connected to" column when a row has one."""
    connected = any(len(row) > 3 for row in rows)
    titles = ["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if connected else [])
    cells = []
    for label, shape, params, *connections in rows:
        cell = [label, shape, f"{params:,}"]
        if connected:
            cell.append(", ".join(connections[0]) if connections and connections[0] else "-")
        cells.append(cell)
    widths = [
        max(len(title), *(len(cell[i]) for cell in cells)) + 2 for i, title in enumerate(titles)
    ]
    rule = lambda left, join, right, line: left + join.join(line * w for w in widths) + right  # noqa: E731
    lines = ['Model: "hostile"', rule("┏", "┳", "┓", "━"),
             "┃" + "┃".join(f" {title}".ljust(w) for title, w in zip(titles, widths, strict=True)) + "┃",
             rule("┡", "╇", "┩", "━")]  # fmt: skip
    for index, cell in enumerate(cells):
        lines.append(
            "│" + "│".join(f" {v}".ljust(w) for v, w in zip(cell, widths, strict=True)) + "│"
        )
        lines.append(
            rule("├", "┼", "┤", "─") if index < len(cells) - 1 else rule("└", "┴", "┘", "─")
        )
    counted = sum(row[2] for row in rows)
    shown = (
        f"{total:,}" if isinstance(total, int) else (total if total is not None else f"{counted:,}")
    )
    lines += [f" Total params: {shown} (1.00 KB)", f" Trainable params: {shown} (1.00 KB)",
              " Non-trainable params: 0 (0.00 B)"]  # fmt: skip
    return "\n".join(lines) + "\n"


def imported(tmp_path: Path, text: str) -> ImportReport:
    path = tmp_path / "printed.txt"
    path.write_text(text, encoding="utf-8")
    return import_summary(path)


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(SpecError) as caught:
        imported(tmp_path, text)
    return caught.value.format().replace(str(tmp_path / "printed.txt"), "printed.txt")


def validates(report: ImportReport) -> None:
    validate(load_spec(report.text))


INPUT = ("inp (InputLayer)", "(None, 4, 8)", 0, None)
ATTENTION = formulas.multi_head_attention(8, 8, 8, 1, 8, 8, 8, True)  # one head of 8 on 8 features


# -- located errors where tracebacks were ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "error"),
    [
        # ValueError: int("") of a totals line without digits
        (box([("d (Dense)", "(None, 4)", 20)], total=","),
         "printed.txt:9:1: error: the summary ends without its 'Total params:' line: it looks cut "
         "short. Copy the whole printout, down to the 'Total params' lines."),
        # ZeroDivisionError in MultiHeadAttention, Embedding, the input guess
        (box([("inp (InputLayer)", "(None, 4, 0)", 0, None),
              ("x (MultiHeadAttention)", "(None, 4, 0)", 10, ["inp[0][0]", "inp[0][0]"])], total=10),
         "printed.txt:5:1: error: an output shape holds the size 0, which no layer outputs (sizes "
         "are from 1 to 2,147,483,647). Give the shape as Keras printed it."),
        # OverflowError and hangs: counts of hundreds of digits reached float and factor loops
        (box([("c (Conv2D)", "(None, 4, 4, 16)", 10**400)]),
         "printed.txt:7:1: error: a parameter count of 10000000000000000000… (401 digits), more "
         "than any model has. Give the count as Keras printed it."),
        # RecursionError: a nested model connected to itself
        (box([("inp (InputLayer)", "(None, 8)", 0, None), ("s (Sequential)", "(None, 8)", 0, ["s[0][0]"]),
              ("d (Dense)", "(None, 4)", 36, ["s[0][0]"])]),
         "printed.txt:7:1: error: the nested model 's' is connected to its own output (s → s). "
         "Give the summary as Keras printed it: 'Connected to' names the layers before."),
        # IndexError: only mask rows, so no layer to write
        (box([("inp (InputLayer)", "(None, 8)", 0, None), ("m (NotEqual)", "(None, 8)", 0, ["inp[0][0]"])]),
         "printed.txt:7:1: error: the summary has no layer rows besides masks (NotEqual rows, "
         "which Keras prints for an Embedding's padding mask). Give the whole printout, with the "
         "layers the masks belong to."),
    ],
    ids=["totals-without-digits", "size-0", "count-of-401-digits", "nested-cycle", "masks-only"],
)  # fmt: skip
def test_a_summary_no_model_prints_is_a_located_error(tmp_path, text, error):
    assert error_of(tmp_path, text) == error


def test_a_file_that_is_not_utf8_is_refused_at_the_byte(tmp_path):
    (tmp_path / "printed.txt").write_bytes(b"Model: x\nLayer (caf\xe9)\n")
    with pytest.raises(SpecError) as caught:
        import_summary(tmp_path / "printed.txt")
    assert caught.value.format() == (
        f"{tmp_path / 'printed.txt'}:2:11: error: the file is not UTF-8 text (byte 19 cannot be "
        "decoded), so not a printed model.summary(). Save the printout as UTF-8 text."
    )


def test_a_message_ending_in_a_question_keeps_its_mark():
    error = SpecError(
        "no layer rows found: is this a Keras model.summary() printout?", fix="Give it."
    )
    assert (
        error.format()
        == "error: no layer rows found: is this a Keras model.summary() printout? Give it."
    )


# -- marked entries where tracebacks, or wrong layers, were -------------------------------------


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        # a custom layer whose name looks like a Keras one was written as that layer
        ([("inp (InputLayer)", "(None, 4, 4, 8)", 0, None), ("conv (MyConv)", "(None, 4, 4, 8)", 584, ["inp[0][0]"])],
         "conv (MyConv) at line 7: layerkit does not know the type 'MyConv'"),
        ([("inp (InputLayer)", "(None, 8)", 0, None), ("dense (NoisyDense)", "(None, 4)", 36, ["inp[0][0]"])],
         "dense (NoisyDense) at line 7: layerkit does not know the type 'NoisyDense'"),
        # TypeError: a width the formulas need is None
        ([("inp (InputLayer)", "(None, 8)", 0, None), ("d (Dense)", "(None, None)", 36, ["inp[0][0]"])],
         "d (Dense) at line 7: its shapes ((None, 8), (None, None)) and 36 params fit no layer of "
         "type 'Dense'"),
        # IndexError: a layer with weights and an output of no size
        ([("inp (InputLayer)", "(None, 4, 4, 3)", 0, None), ("c (Conv2D)", "(None)", 28, ["inp[0][0]"])],
         "c (Conv2D) at line 7: its output shape (None,) has no size to work its weights out from"),
        # StopIteration and a zip of unequal length: attention given 1 or 4 tensors
        ([INPUT, ("x (MultiHeadAttention)", "(None, 4, 8)", ATTENTION, ["inp[0][0]"])],
         "x (MultiHeadAttention) at line 7: it reads 1 tensor(s), and a spec gives it 2 or 3 "
         "(query, value, key)"),
        ([INPUT, ("x (MultiHeadAttention)", "(None, 4, 8)", ATTENTION, ["inp[0][0]"] * 4)],
         "x (MultiHeadAttention) at line 7: it reads 4 tensor(s), and a spec gives it 2 or 3 "
         "(query, value, key)"),
        # written as 'rnn: {cell: 1}', 'lstm_cell' with list inputs: invalid specs
        ([("inp (InputLayer)", "(None, 4, 8)", 0, None), ("r (RNN)", "(None, 16)", 400, ["inp[0][0]"])],
         "r (RNN) at line 7: it wraps a layer (cell) the summary does not show"),
        ([("inp (InputLayer)", "(None, 8)", 0, None), ("c (LSTMCell)", "(None, 4)", 208, ["inp[0][0]"])],
         "c (LSTMCell) at line 7: LSTMCell is a recurrent cell, which runs inside an RNN layer"),
        # an oblong kernel search factored a count of 10**14 (minutes)
        ([("inp (InputLayer)", "(None, 4, 4, 1)", 0, None),
          ("c (Conv2D)", "(None, 4, 4, 1)", 2 * 10**14 + 1, ["inp[0][0]"])],
         "c (Conv2D) at line 7: no kernel size fits 200,000,000,000,001 params"),
    ],
    ids=["custom-conv", "custom-dense", "none-width", "no-size", "attention-1", "attention-4",
         "rnn", "cell", "huge-kernel"],
)  # fmt: skip
def test_a_row_no_layer_fits_is_marked_with_why(tmp_path, rows, problem):
    started = time.monotonic()
    report = imported(tmp_path, box(rows))
    assert (time.monotonic() - started) / machine_pace() < 3
    assert report.not_imported == [problem]
    assert "NOT IMPORTED" in report.text


# -- specs that validate where invalid ones were written -----------------------------------------


def test_grouped_query_attention_across_two_tensors_gets_named_inputs(tmp_path):
    """The importer's tables spelt the class GroupQueryAttention, so a cross-attention row became
    a layer plus a 'shared' call with list inputs."""
    params = 2 * (8 * 8 + 8) + 8 * 4 + 4 + 8 * 8 + 8  # query, output; key and value with 1 kv head
    rows = [("q (InputLayer)", "(None, 4, 8)", 0, None), ("v (InputLayer)", "(None, 6, 8)", 0, None),
            ("a (GroupedQueryAttention)", "(None, 4, 8)", params, ["q[0][0]", "v[0][0]"])]  # fmt: skip
    report = imported(tmp_path, box(rows))
    validates(report)
    assert "inputs: {query: q, value: v}" in report.text
    assert "shared" not in report.text


def test_a_recurrent_layers_states_from_input_rows_leave_those_inputs_out(tmp_path):
    """The states are not passed (a spec cannot), and the inputs that gave them were left in,
    unread, so validate refused the spec."""
    lstm = formulas.recurrent("LSTM", 8, 8, use_bias=True)
    rows = [("x (InputLayer)", "(None, 4, 8)", 0, None), ("h (InputLayer)", "(None, 8)", 0, None),
            ("c (InputLayer)", "(None, 8)", 0, None),
            ("e (LSTM)", "(None, 8)", lstm, ["x[0][0]", "h[0][0]", "c[0][0]"])]  # fmt: skip
    report = imported(tmp_path, box(rows))
    validates(report)
    assert "input: [4, 8]\n" in report.text
    assert report.notes[0] == (
        "input 'h', 'c' left out: no layer the spec writes reads it, and a spec's inputs must "
        "all be read"
    )


def test_attention_on_the_layer_before_names_it(tmp_path):
    """inputs: {query: r, value: r} was written without an id on r."""
    count = formulas.multi_head_attention(8, 8, 8, 1, 8, 8, 8, True)
    rows = [INPUT, ("r (ReLU)", "(None, 4, 8)", 0, ["inp[0][0]"]),
            ("x (MultiHeadAttention)", "(None, 4, 8)", count, ["r[0][0]", "r[0][0]"])]  # fmt: skip
    report = imported(tmp_path, box(rows))
    validates(report)
    assert "{id: r}" in report.text or "id: r}" in report.text


@pytest.mark.parametrize("width", [2, 10**7])
def test_attention_widths_are_solved_for_any_count(tmp_path, width):
    """Narrow heads ran out of head counts (StopIteration); a count of 10**9 tried every key
    width up to it (minutes): the widths now come from the count's arithmetic."""
    count = formulas.multi_head_attention(8, 8, 8, 1, width, width, 8, True)
    rows = [INPUT, ("x (MultiHeadAttention)", "(None, 4, 8)", count, ["inp[0][0]", "inp[0][0]"])]
    started = time.monotonic()
    report = imported(tmp_path, box(rows))
    assert (time.monotonic() - started) / machine_pace() < 3
    validates(report)
    heads = 1 if width == 2 else 8
    assert f"num_heads: {heads}, key_dim: {width // heads}" in report.text


def test_an_output_of_one_number_per_example_is_expected_as_an_empty_shape(tmp_path):
    rows = [("inp (InputLayer)", "(None, 4)", 0, None), ("s (Dense)", "(None, 1)", 5, ["inp[0][0]"]),
            ("r (Reshape)", "(None)", 0, ["s[0][0]"])]  # fmt: skip
    report = imported(tmp_path, box(rows))
    validates(report)
    assert "- {name: r, shape: [], params: 0}" in report.text


# -- work that grew faster than the printout ---------------------------------------------------


def test_hostile_printouts_are_read_in_linear_time(tmp_path):
    """Each took from 20 s to hours: a 40,000-character connection (a regular expression tried
    from every character), a rank-11 Permute (every order of the axes), 30 nested models fed
    twice by the one before (2**30 paths), 800 rows each fed by a cut name (every row above
    judged for every row)."""
    long_name = "n" * 40_000
    cases = {
        "connection": [("inp (InputLayer)", "(None, 8)", 0, None),
                       (f"{long_name} (Dense)", "(None, 8)", 72, ["inp[0][0]"]),
                       ("d (Dense)", "(None, 4)", 36, [f"{long_name}[0][0]"])],
        "permute": [("inp (InputLayer)", f"(None, {', '.join(['2'] * 10)}, 3)", 0, None),
                    ("p (Permute)", f"(None, 3, {', '.join(['2'] * 10)})", 0, ["inp[0][0]"])],
        "nested": [("inp (InputLayer)", "(None, 8)", 0, None), ("s0 (Sequential)", "(None, 8)", 0, ["inp[0][0]"]),
                   *((f"s{i} (Sequential)", "(None, 8)", 0, [f"s{i - 1}[0][0]"] * 2) for i in range(1, 30)),
                   ("d (Dense)", "(None, 4)", 36, ["s29[0][0]"])],
        "cut-names": [("i (InputLayer)", "(None, 4)", 0, None), ("d0 (Dense)", "(None, 4)", 20, ["i[0][0]"]),
                      *((f"d{i} (Dense)", "(None, 4)", 20, ["d…"]) for i in range(1, 800))],
    }  # fmt: skip
    for name, rows in cases.items():
        started = time.monotonic()
        report = imported(tmp_path, box(rows))
        seconds = (time.monotonic() - started) / machine_pace()
        assert seconds < 4, name
        validates(report)
