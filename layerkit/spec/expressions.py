"""A small, safe evaluator for the expressions inside ``${...}``.

``filters: ${round(64 * width)}`` is parsed with Python's own grammar (``ast.parse``, which only
parses) and evaluated here by walking a whitelist of node types: numbers, text, names of variables
and parameters, arithmetic, comparisons, ``a if c else b`` and a fixed set of functions. Nothing
is ever passed to ``eval``; attribute access, subscripts, lambdas, comprehensions and any name not
in scope are errors. Sizes are bounded so ``9**9**9`` or ``'x' * 10**9`` fail at once.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

MAX_LENGTH = 500  # characters in one expression
MAX_NODES = 200  # syntax-tree nodes in one expression
MAX_MAGNITUDE = 10**15  # largest number a result may have
MAX_TEXT = 10_000  # longest text a result may have
MAX_EXPONENT = 64


class ExpressionError(ValueError):
    """An expression that cannot be evaluated; ``column`` is 0-based within the expression."""

    def __init__(
        self, message: str, column: int = 0, fix: str | None = None, name: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.column = column
        self.fix = fix
        self.unknown_name = name  # set when the problem is a name nothing defines


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round ``value`` to a multiple of ``divisor`` without going below 90% of it (MobileNet's rule)."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


# name → function a spec expression may call; all are pure and cheap
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "round": round,
    "int": int,
    "float": float,
    "str": str,
    "min": min,
    "max": max,
    "abs": abs,
    "ceil": math.ceil,
    "floor": math.floor,
    "sqrt": math.sqrt,
    "make_divisible": make_divisible,
}

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
            ast.Mod: "%", ast.Pow: "**"}  # fmt: skip


def names_used(text: str) -> set[str]:
    """The variable names an expression refers to (empty when it does not parse)."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        return set()
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    return {
        node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and id(node) not in called
    }


def evaluate(text: str, names: dict[str, Any]) -> Any:
    """Evaluate one expression with ``names`` in scope.

    Raises:
        ExpressionError: a syntax error, an unknown name or function, a disallowed construct, a
            type error, or a result beyond the size limits.
    """
    source = text.strip()
    if not source:
        raise ExpressionError(
            "empty expression", fix="Write a name or an expression inside ${...}."
        )
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as error:
        raise ExpressionError(
            f"invalid expression: {error.msg}", max((error.offset or 1) - 1, 0)
        ) from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ExpressionError(f"expression has more than {MAX_NODES} parts")
    return _Evaluator(names).visit(tree.body)


class _Evaluator:
    def __init__(self, names: dict[str, Any]) -> None:
        self.names = names

    def visit(self, node: ast.AST) -> Any:
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            raise ExpressionError(
                f"'{ast.unparse(node)}' is not allowed in an expression",
                getattr(node, "col_offset", 0),
                "Use numbers, text, names, arithmetic, comparisons, 'a if c else b' and the "
                f"functions {', '.join(FUNCTIONS)}.",
            )
        return _check_size(method(node), node)

    def visit_Constant(self, node: ast.Constant) -> Any:
        if not isinstance(node.value, int | float | str | bool | type(None)):
            raise ExpressionError(f"'{ast.unparse(node)}' is not allowed", node.col_offset)
        return node.value

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id in self.names:
            return self.names[node.id]
        constants = {"true": True, "false": False, "null": None, "True": True, "False": False,
                     "None": None}  # fmt: skip
        if node.id in constants:
            return constants[node.id]
        raise _unknown_name(node.id, list(self.names), node.col_offset)

    def visit_List(self, node: ast.List) -> list[Any]:
        return [self.visit(item) for item in node.elts]

    visit_Tuple = visit_List

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        value = self.visit(node.operand)
        if isinstance(node.op, ast.Not):
            return not value
        if isinstance(node.op, ast.USub | ast.UAdd) and _is_number(value):
            return -value if isinstance(node.op, ast.USub) else value
        raise ExpressionError(f"'{ast.unparse(node)}' needs a number", node.col_offset)

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        operation = _BINARY.get(type(node.op))
        if operation is None:
            raise ExpressionError(
                f"operator in '{ast.unparse(node)}' is not allowed", node.col_offset
            )
        left, right = self.visit(node.left), self.visit(node.right)
        if isinstance(node.op, ast.Pow) and _is_number(right) and abs(right) > MAX_EXPONENT:
            raise ExpressionError(
                f"exponent {right} is larger than {MAX_EXPONENT}", node.col_offset
            )
        repeats_text = isinstance(node.op, ast.Mult) and isinstance(left, str | list)
        if repeats_text and _is_number(right) and len(left) * right > MAX_TEXT:
            raise ExpressionError("the repeated text would be too long", node.col_offset)
        try:
            return operation(left, right)
        except ZeroDivisionError:
            raise ExpressionError(
                f"division by zero in '{ast.unparse(node)}'", node.col_offset
            ) from None
        except (TypeError, OverflowError, ValueError):
            symbol = _SYMBOLS[type(node.op)]
            raise ExpressionError(
                f"cannot compute {_kind(left)} {symbol} {_kind(right)} in '{ast.unparse(node)}'",
                node.col_offset,
                "Convert with int(...), float(...) or str(...) first.",
            ) from None

    def visit_BoolOp(self, node: ast.BoolOp) -> Any:
        result = self.visit(node.values[0])
        for value in node.values[1:]:
            if isinstance(node.op, ast.And) and not result:
                return result
            if isinstance(node.op, ast.Or) and result:
                return result
            result = self.visit(value)
        return result

    def visit_Compare(self, node: ast.Compare) -> bool:
        left = self.visit(node.left)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            compare = _COMPARE.get(type(op))
            if compare is None:
                raise ExpressionError(
                    f"comparison in '{ast.unparse(node)}' is not allowed", node.col_offset
                )
            right = self.visit(comparator)
            try:
                if not compare(left, right):
                    return False
            except TypeError:
                raise ExpressionError(
                    f"cannot compare {_kind(left)} with {_kind(right)}", node.col_offset
                ) from None
            left = right
        return True

    def visit_IfExp(self, node: ast.IfExp) -> Any:
        return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)

    def visit_Call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name):
            raise ExpressionError(
                f"'{ast.unparse(node.func)}' is not allowed in an expression: only the functions "
                f"{', '.join(FUNCTIONS)} can be called",
                node.col_offset,
            )
        if node.func.id not in FUNCTIONS:
            raise _unknown_name(node.func.id, list(FUNCTIONS), node.col_offset, what="function")
        if node.keywords:
            raise ExpressionError(
                f"'{node.func.id}' takes positional arguments only", node.col_offset
            )
        args = [self.visit(arg) for arg in node.args]
        try:
            return FUNCTIONS[node.func.id](*args)
        except (TypeError, ValueError, OverflowError) as error:
            raise ExpressionError(
                f"{node.func.id}({', '.join(map(repr, args))}) failed: {error}", node.col_offset
            ) from None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if value is None:
        return "null"
    return "a list"


def _check_size(value: Any, node: ast.AST) -> Any:
    if _is_number(value) and not math.isnan(value) and abs(value) > MAX_MAGNITUDE:
        raise ExpressionError(
            f"'{ast.unparse(node)}' is larger than {MAX_MAGNITUDE:.0e}",
            getattr(node, "col_offset", 0),
        )
    if isinstance(value, str | list) and len(value) > MAX_TEXT:
        raise ExpressionError(f"'{ast.unparse(node)}' is too long", getattr(node, "col_offset", 0))
    return value


def _unknown_name(
    name: str, choices: list[str], column: int, what: str = "name"
) -> ExpressionError:
    from ..errors import did_you_mean

    hint = did_you_mean(name, choices)
    if hint is None:
        known = ", ".join(choices) if choices else "none here"
        hint = f"Known {what}s: {known}."
    return ExpressionError(
        f"unknown {what} '{name}'", column, hint, name if what == "name" else None
    )
