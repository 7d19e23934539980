"""The ${...} evaluator: arithmetic and functions over names, and nothing else."""

from __future__ import annotations

import time
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerkit.spec.expression_budget import MAX_SIZE, Budget
from layerkit.spec.expression_functions import make_divisible
from layerkit.spec.expressions import ExpressionError, evaluate, names_used


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
    assert seconds < 1, (text, seconds)
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
