"""The ${...} evaluator: arithmetic and functions over names, and nothing else."""

from __future__ import annotations

import time
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerkit import SpecErrors, load_spec, validate
from layerkit.spec.expression_budget import MAX_SIZE, Budget, Steps
from layerkit.spec.expression_functions import make_divisible
from layerkit.spec.expressions import ExpressionError, evaluate, names_used

from .conftest import machine_pace


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("round(64 * width)", 32),
        ("filters * 4", 256),
        ("int(filters / 3)", 21),
        ("max(8, make_divisible(32 * width, 8))", 16),
        ("'conv' + str(stage) + '_block' + str(i + 1)", "conv2_block1"),
        ("2 ** 10", 1024),
        ("filters if width >= 1 else filters // 2", 32),
        ("-filters", -64),
        ("[filters, filters]", [64, 64]),
        ("ceil(7 / 2) + floor(7 / 2)", 7),
        ("true and not false", True),
    ],
)
def test_evaluates(text, expected):
    assert evaluate(text, {"width": 0.5, "filters": 64, "stage": 2, "i": 0}) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "__import__('os').system('echo x')",
            "is not allowed in an expression: only the functions",
        ),
        ("__import__('os')", "unknown function '__import__'"),
        ("width.__class__", "'width.__class__' is not allowed in an expression"),
        ("[x for x in range(3)]", "is not allowed in an expression"),
        ("lambda: 1", "is not allowed in an expression"),
        ("open('f')", "unknown function 'open'"),
        ("9**9**9", "exponent 387420489 is larger than 64"),
        ("'x' * 10**9", "the repeated text would be too long"),
        ("10**15 * 10**15", "is larger than 1e+15"),
        ("1 / 0", "division by zero in '1 / 0'"),
        ("'a' - 1", "cannot compute text - a number in ''a' - 1'"),
        ("widht * 2", "unknown name 'widht'"),
        ("round(", "invalid expression"),
        ("", "empty expression"),
    ],
)
def test_refuses(text, message):
    with pytest.raises(ExpressionError) as caught:
        evaluate(text, {"width": 0.5})
    assert message in caught.value.message


def test_unknown_name_suggests_and_names_it():
    with pytest.raises(ExpressionError) as caught:
        evaluate("widht * 2", {"width": 0.5})
    assert caught.value.fix == "Did you mean 'width'?"
    assert caught.value.unknown_name == "widht"


def test_length_limit():
    with pytest.raises(ExpressionError, match="longer than 500 characters"):
        evaluate("1 + " * 200 + "1", {})


def test_make_divisible_matches_mobilenet():
    # keras.applications.mobilenet_v2._make_divisible, as used for alpha = 1.0 and 0.35
    assert [
        make_divisible(32 * 1.0, 8),
        make_divisible(32 * 0.35, 8),
        make_divisible(16 * 0.35, 8),
    ] == [32, 16, 8]
    assert make_divisible(96 * 0.75, 8) == 72


def test_names_used():
    assert names_used("round(64 * width) + depth") == {"width", "depth"}
    assert names_used("widths[i] + len(widths[j:])") == {"widths", "i", "j"}


# -- indexing, slicing and len (issue 16)

INDEXED = {"widths": [16, 24, 40], "i": 1, "j": 2, "width": 0.5, "empty": [], "cfg": {"a": 1}}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("widths[i]", 24),
        ("widths[0]", 16),
        ("widths[-1]", 40),
        ("widths[-3]", 16),
        ("'abcdefg'[j]", "c"),
        ("'block' + str(i + 2) + 'abcdefg'[j] + '_expand'", "block3c_expand"),
        ("[[1, 2], [3, 4]][1][0]", 3),
        ("widths[i // 1]", 24),
        ("widths[1:]", [24, 40]),
        ("widths[:-1]", [16, 24]),
        ("widths[::-1]", [40, 24, 16]),
        ("widths[-100:100]", [16, 24, 40]),
        ("'efficientnet'[:9]", "efficient"),
        ("len(widths)", 3),
        ("len('abc')", 3),
        ("len(empty)", 0),
        ("widths[len(widths) - 1]", 40),
        ("widths[i] if len(widths) > i else 8", 24),
        ("sum(widths)", 80),
        ("sum(widths[:i])", 16),
        ("sum([])", 0),
        ("sum([0.5, 1])", 1.5),
    ],
)
def test_indexes_slices_and_counts(text, expected):
    assert evaluate(text, INDEXED) == expected


@pytest.mark.parametrize(
    ("text", "message", "fix"),
    [
        (
            "sum(3)",
            "sum(3): sum takes one list of numbers",
            "Write sum(xs) with one list, e.g. sum(repeats[:i]).",
        ),
        (
            "sum(['a'])",
            "sum(['a']): sum adds numbers, and the list holds text",
            "Give sum a list of numbers only.",
        ),
        (
            "widths[3]",
            "index 3 is out of range in 'widths[3]': the list has 3 elements",
            "Use an index from 0 to 2, or from -3 to -1 to count from the end.",
        ),
        (
            "widths[i + 3]",
            "index 4 is out of range in 'widths[i + 3]': the list has 3 elements",
            "Use an index from 0 to 2, or from -3 to -1 to count from the end.",
        ),
        (
            "widths[-4]",
            "index -4 is out of range in 'widths[-4]': the list has 3 elements",
            "Use an index from 0 to 2, or from -3 to -1 to count from the end.",
        ),
        (
            "'abc'[j + 1]",
            "index 3 is out of range in ''abc'[j + 1]': the text has 3 characters",
            "Use an index from 0 to 2, or from -3 to -1 to count from the end.",
        ),
        (
            "[7][1]",
            "index 1 is out of range in '[7][1]': the list has 1 element",
            "Use index 0 (or -1, the same, counted from the end).",
        ),
        (
            "empty[0]",
            "index 0 is out of range in 'empty[0]': the list is empty",
            "An empty list has nothing to index: test len(...) > 0 first, with "
            "'a if condition else b'.",
        ),
        (
            "widths[i / 2]",
            "the index in 'widths[i / 2]' must be a whole number, received 0.5",
            "Make it whole: use // rather than /, or int(...).",
        ),
        (
            "widths['a']",
            "the index in 'widths['a']' must be a whole number, received the text 'a'",
            "Make it whole: use // rather than /, or int(...).",
        ),
        (
            "widths[1:2.5]",
            "the slice end in 'widths[1:2.5]' must be a whole number, received 2.5",
            "Make it whole: use // rather than /, or int(...).",
        ),
        (
            "widths[::0]",
            "the slice step in 'widths[::0]' is 0",
            "Use a step of 1 or more, or -1 to go backwards.",
        ),
        (
            "width[0]",
            "cannot index a number in 'width[0]': only a list or text has elements",
            "Index a list or a text, e.g. widths[i] with 'widths: [16, 24, 40]' under vars:.",
        ),
        (
            "cfg['a']",
            "cannot index a mapping in 'cfg['a']': only a list or text has elements",
            "Index a list or a text, e.g. widths[i] with 'widths: [16, 24, 40]' under vars:.",
        ),
        (
            "null[0]",
            "cannot index null in 'null[0]': only a list or text has elements",
            "Index a list or a text, e.g. widths[i] with 'widths: [16, 24, 40]' under vars:.",
        ),
        (
            "len(width)",
            "len(0.5): only a list or text has a length, not a number",
            "Write len(xs) with one list or text, e.g. len(widths).",
        ),
        (
            "len(widths, i)",
            "len([16, 24, 40], 1): len takes one list or text, received 2 arguments",
            "Write len(xs) with one list or text, e.g. len(widths).",
        ),
        ("lne(widths)", "unknown function 'lne'", "Did you mean 'len'?"),
    ],
)
def test_indexing_mistakes_are_explained(text, message, fix):
    with pytest.raises(ExpressionError) as caught:
        evaluate(text, INDEXED)
    assert (caught.value.message, caught.value.fix) == (message, fix)


def test_indexing_error_in_a_spec_is_located():
    with pytest.raises(SpecErrors) as caught:
        validate(
            load_spec(
                "vars: {widths: [16, 24, 40]}\ninput: [4]\nlayers:\n"
                "  - repeat: 2\n    index: i\n    layers:\n"
                '      - dense: {units: "${widths[i + 2]}"}\n'
            )
        )
    assert [error.format() for error in caught.value.errors] == [
        "<string>:7:24: error: repeat 2/2 → layers[0].layers[0].dense.units: in '${widths[i + 2]}': "
        "index 3 is out of range in 'widths[i + 2]': the list has 3 elements. Use an index from "
        "0 to 2, or from -3 to -1 to count from the end."
    ]


def test_indexed_names_and_widths_in_a_spec():
    spec = load_spec(
        "vars: {widths: [16, 24, 40]}\ninput: [4]\nlayers:\n"
        '  - repeat: "${len(widths)}"\n    index: i\n    layers:\n'
        '      - dense: {units: "${widths[i]}", name: "block${i + 2}${\'abcdefg\'[i]}_expand"}\n'
    )
    layers = validate(spec).layers
    assert [(layer.args["units"], layer.args["name"]) for layer in layers] == [
        (16, "block2a_expand"),
        (24, "block3b_expand"),
        (40, "block4c_expand"),
    ]


def test_slices_count_their_copies():
    steps = Steps()
    big = [[1] * 999] * 99
    assert len(evaluate("big[0:]", {"big": big}, steps)) == 99
    assert steps.taken >= 99  # the copied elements
    with pytest.raises(ExpressionError, match="would hold more than 100,000 values"):
        evaluate("[big[1:], big[2:]]", {"big": big})


# -- the budget (issue 15): whatever is nested, evaluation ends fast and small, or is refused

LEAVES = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.sampled_from(
        [
            "9999",
            "10**9",
            "-10**9",
            "0",
            "0.5",
            "'x'",
            "'ab' * 99",
            "[1]",
            "[]",
            "width",
            "big",
            "9" * 40,
            "'%d'",
        ]
    ),
)


def _nest(children):
    def two(template):
        return st.tuples(children, children).map(lambda pair: template.format(*pair))

    return st.one_of(
        children.map("[{}]".format),
        two("[{}, {}]"),
        two("({}) * ({})"),
        two("({}) + ({})"),
        two("({}) ** ({})"),
        two("({}) % ({})"),
        children.map("str({})".format),
        two("round({}, {})"),
        two("make_divisible({}, {})"),
        two("max({}, {})"),
        children.map("int({})".format),
        two("({})[{}]"),
        two("({})[{}:]"),
        two("({})[:{}:-1]"),
        children.map("len({})".format),
    )


EXPRESSIONS = st.recursive(LEAVES, _nest, max_leaves=16).filter(lambda text: len(text) <= 500)
BUDGET_CHECK = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
NAMES = {"width": 0.5, "big": [[1] * 999] * 99}


def _bounded(text: str) -> None:
    """Evaluate ``text``: a value within the size budget or an ExpressionError, fast and small."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        value = evaluate(text, NAMES)
    except ExpressionError:
        value = None
    finally:
        seconds = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert seconds < machine_pace(), (text, seconds)  # 1 s on the development machine
    assert peak < 50 * 1024**2, (text, peak)
    assert Budget().size(value) <= MAX_SIZE


@pytest.mark.slow
@BUDGET_CHECK
@given(EXPRESSIONS)
def test_nested_expressions_evaluate_or_are_refused_within_budget(text):
    _bounded(text)


@BUDGET_CHECK
@given(
    st.lists(st.integers(0, 10**6), min_size=1, max_size=8),
    st.sampled_from(["1", "'x'", "'abc' * 50", "[]"]),
    st.booleans(),
)
def test_repeated_lists_evaluate_or_are_refused_within_budget(counts, leaf, printed):
    text = leaf
    for index, count in enumerate(counts):
        text = f"[{text}] * {count}" if index % 2 else f"{count} * [{text}]"
    _bounded(f"str({text})" if printed else text)
