"""The ${...} evaluator: arithmetic and functions over names, and nothing else."""

from __future__ import annotations

import pytest

from layerkit.spec.expressions import ExpressionError, evaluate, make_divisible, names_used


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
