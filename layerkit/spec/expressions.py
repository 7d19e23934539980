"""A small, safe evaluator for the expressions inside ``${...}``.

``filters: ${round(64 * width)}`` is parsed with Python's own grammar (``ast.parse``, which only
parses) and evaluated here by walking a whitelist of node types: numbers, text, names of variables
and parameters, arithmetic, comparisons, ``a if c else b``, indexing and slicing of lists and text
(:mod:`.expression_indexing`) and a fixed set of functions. Nothing is ever passed to ``eval``;
attribute access, lambdas, comprehensions and any name not in scope are errors. Every value is kept within the budgets of :mod:`.expression_budget` (its
size through nested lists, text length, a number's magnitude, steps), each operation checked
before it runs, so ``9**9**9``, ``'x' * 10**9`` or ``[[[1]*9999]*9999]*9999`` fail at once.
"""

from __future__ import annotations

import ast
import functools
import operator
import re
import reprlib
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import listed
from .expression_budget import (
    MAX_EXPONENT,
    MAX_MAGNITUDE,
    MAX_ROUND_DIGITS,
    MAX_TEXT,
    Budget,
    BudgetExceeded,
    Steps,
    too_large,
)
from .expression_functions import FUNCTIONS
from .expression_indexing import IndexProblem, element, kind, sliced
from .problems import suggest

MAX_LENGTH = 500  # characters in one expression
MAX_NODES = 200  # syntax-tree nodes in one expression
SURROGATE = re.compile("[\ud800-\udfff]")


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
    return set(_names_used(text.strip()))


@functools.lru_cache(maxsize=4096)
def _names_used(source: str) -> frozenset[str]:
    tree = _parse(source) if 0 < len(source) <= MAX_LENGTH else None
    if not isinstance(tree, ast.expr):  # evaluate says why
        return frozenset()
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    return frozenset(
        node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and id(node) not in called
    )


def evaluate(text: str, names: Mapping[str, Any], steps: Steps | None = None) -> Any:
    """Evaluate one expression with ``names`` in scope; ``steps`` counts the work of all of one
    spec's expressions (a fresh count when None).

    Raises:
        ExpressionError: a syntax error, an unknown name or function, a disallowed construct, a
            type error, or a value beyond the budgets of :mod:`.expression_budget`."""
    source = text.strip()
    if not source:
        raise ExpressionError(
            "empty expression", fix="Write a name or an expression inside ${...}."
        )
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters")
    tree = _parse(source)
    if isinstance(tree, ExpressionError):
        raise ExpressionError(tree.message, tree.column, tree.fix)
    return _Evaluator(names, steps).visit(tree)


@functools.lru_cache(maxsize=4096)
def _parse(source: str) -> ast.expr | ExpressionError:
    """The syntax tree of an expression, or why it has none; kept, since a block or repeat
    evaluates the same text at every use (the tree is only read)."""
    if "\0" in source:  # Python versions differ in how they refuse it
        return ExpressionError("invalid expression: it holds a NUL character")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as error:
        return ExpressionError(f"invalid expression: {error.msg}", max((error.offset or 1) - 1, 0))
    except (ValueError, MemoryError, RecursionError):  # a NUL character; nesting too deep
        return ExpressionError("invalid expression: it cannot be parsed")
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        return ExpressionError(f"expression has more than {MAX_NODES} parts")
    return tree.body


_BUDGET_FIX = "Keep what an expression builds small: write long lists in YAML, not with '*'."


class _Evaluator:
    def __init__(self, names: Mapping[str, Any], steps: Steps | None) -> None:
        self.names = names
        self.budget = Budget(steps)

    def visit(self, node: ast.AST) -> Any:
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            raise ExpressionError(
                f"'{_shown(node)}' is not allowed in an expression",
                getattr(node, "col_offset", 0),
                "Use numbers, text, names, arithmetic, comparisons, 'a if c else b', indexing "
                f"(xs[i], xs[a:b]) and the functions {', '.join(FUNCTIONS)}.",
            )
        try:
            self.budget.step()
            value = method(node)
        except BudgetExceeded as exceeded:
            raise ExpressionError(
                f"'{_shown(node)}' {exceeded.what}",
                getattr(node, "col_offset", 0),
                exceeded.fix or _BUDGET_FIX,
            ) from None
        column = getattr(node, "col_offset", 0)
        if too_large(value):
            raise ExpressionError(f"'{_shown(node)}' is larger than {MAX_MAGNITUDE:.0e}", column)
        if isinstance(value, str | list) and len(value) > MAX_TEXT:
            raise ExpressionError(f"'{_shown(node)}' is too long", column)
        return value

    def visit_Constant(self, node: ast.Constant) -> Any:
        if not isinstance(node.value, int | float | str | bool | type(None)):
            raise ExpressionError(f"'{_shown(node)}' is not allowed", node.col_offset)
        if isinstance(node.value, str) and SURROGATE.search(node.value):
            raise ExpressionError(
                "the text holds a lone surrogate (\\ud800 to \\udfff), which is not a character",
                node.col_offset,
                "Write the character itself, or \\U0001F600-style escapes for one beyond \\uFFFF.",
            )
        return node.value

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id in self.names:
            value = self.names[node.id]
            self.budget.check(self.budget.name_size(value))
            return value
        constants = {"true": True, "false": False, "null": None, "True": True, "False": False,
                     "None": None}  # fmt: skip
        if node.id in constants:
            return constants[node.id]
        raise _unknown_name(node.id, list(self.names), node.col_offset)

    def visit_List(self, node: ast.List) -> list[Any]:
        items = [self.visit(item) for item in node.elts]
        size = 1 + sum(self.budget.size(item) for item in items)
        self.budget.check(size)
        self.budget.record(items, size)
        return items

    visit_Tuple = visit_List

    def visit_Subscript(self, node: ast.Subscript) -> Any:
        value = self.visit(node.value)
        try:
            if not isinstance(node.slice, ast.Slice):
                return element(value, self.visit(node.slice), _shown(node))
            bounds = (node.slice.lower, node.slice.upper, node.slice.step)
            lower, upper, step = (None if part is None else self.visit(part) for part in bounds)
            part = sliced(value, lower, upper, step, _shown(node))
        except IndexProblem as problem:
            raise ExpressionError(problem.message, node.col_offset, problem.fix) from None
        self.budget.step(len(part))  # the elements or characters copied
        if isinstance(part, list):
            size = 1 + sum(self.budget.size(item) for item in part)
            self.budget.record(part, size)
        return part

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        value = self.visit(node.operand)
        if isinstance(node.op, ast.Not):
            return not value
        if isinstance(node.op, ast.USub | ast.UAdd) and _is_number(value):
            return -value if isinstance(node.op, ast.USub) else value
        raise ExpressionError(f"'{_shown(node)}' needs a number", node.col_offset)

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        operation = _BINARY.get(type(node.op))
        if operation is None:
            raise ExpressionError(f"operator in '{_shown(node)}' is not allowed", node.col_offset)
        left, right = self.visit(node.left), self.visit(node.right)
        size = self.check_operands(node, left, right)
        self.budget.step(size)  # the elements or characters the result is built of
        try:
            result = operation(left, right)
        except ZeroDivisionError:
            raise ExpressionError(
                f"division by zero in '{_shown(node)}'", node.col_offset
            ) from None
        except (TypeError, OverflowError, ValueError):
            raise self.type_error(node, left, right) from None
        if isinstance(result, complex):
            raise ExpressionError(
                f"'{_shown(node)}' has no real value", node.col_offset, "Use a positive base."
            )
        self.budget.record(result, size)
        return result

    def check_operands(self, node: ast.BinOp, left: Any, right: Any) -> int:
        """Refuse, before it runs, an operation on kinds it does not take or with too big a
        result; return the result's size."""
        numbers = (int, float)  # booleans count as numbers, as in Python
        if isinstance(left, numbers) and isinstance(right, numbers):
            if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
                raise ExpressionError(
                    f"exponent {right} is larger than {MAX_EXPONENT}", node.col_offset
                )
            return 1
        both = type(left) if type(left) is type(right) else None
        if isinstance(node.op, ast.Add) and both in (str, list):
            if both is list:
                return self.budget.joined(left, right)
            if len(left) + len(right) > MAX_TEXT:
                raise ExpressionError("the joined text would be too long", node.col_offset)
            return len(left) + len(right)
        if isinstance(node.op, ast.Mult):
            sequence, times = (left, right) if isinstance(left, str | list) else (right, left)
            if isinstance(sequence, str | list) and isinstance(times, int):
                if isinstance(sequence, str) and len(sequence) * times > MAX_TEXT:
                    raise ExpressionError("the repeated text would be too long", node.col_offset)
                return self.budget.repeated(sequence, times)
        raise self.type_error(node, left, right)

    def type_error(self, node: ast.BinOp, left: Any, right: Any) -> ExpressionError:
        symbol = _SYMBOLS[type(node.op)]
        return ExpressionError(
            f"cannot compute {kind(left)} {symbol} {kind(right)} in '{_shown(node)}'",
            node.col_offset,
            "Convert with int(...), float(...) or str(...) first.",
        )

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
                    f"comparison in '{_shown(node)}' is not allowed", node.col_offset
                )
            right = self.visit(comparator)
            try:
                self.budget.step(self.budget.size(left) + self.budget.size(right))
                if not compare(left, right):
                    return False
            except TypeError:
                raise ExpressionError(
                    f"cannot compare {kind(left)} with {kind(right)}", node.col_offset
                ) from None
            left = right
        return True

    def visit_IfExp(self, node: ast.IfExp) -> Any:
        return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)

    def visit_Call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name):
            raise ExpressionError(
                f"'{_shown(node.func)}' is not allowed in an expression: only the functions "
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
        name = node.func.id

        def shown() -> str:  # worked out only for a message: an argument may be a long list
            return f"{name}({', '.join(_short(reprlib.repr(arg)) for arg in args)})"

        digits = args[1] if name == "round" and len(args) == 2 else 0
        if isinstance(digits, int) and abs(digits) > MAX_ROUND_DIGITS:
            raise ExpressionError(
                f"{shown()}: round to at most {MAX_ROUND_DIGITS} digits", node.col_offset
            )
        if name == "str" and args and self.budget.size(args[0]) > MAX_TEXT:
            raise ExpressionError(f"{shown()}: the text would be too long", node.col_offset)
        self.budget.step(sum(self.budget.size(arg) for arg in args))  # what the function reads
        try:
            return FUNCTIONS[name](*args)
        except IndexProblem as problem:  # a refusal the function words itself (len)
            raise ExpressionError(
                f"{shown()}: {problem.message}", node.col_offset, problem.fix
            ) from None
        except (TypeError, ValueError, ArithmeticError, RecursionError, MemoryError) as error:
            reason = _short(str(error), 120) or type(error).__name__
            raise ExpressionError(f"{shown()} failed: {reason}", node.col_offset) from None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _short(text: str, most: int = 40) -> str:
    """``text`` cut to ``most`` characters, so a message stays one short line."""
    return text if len(text) <= most else text[: most - 3] + "..."


def _shown(node: ast.AST) -> str:
    """A part of an expression as messages quote it, cut when long (a 500-digit number)."""
    return _short(ast.unparse(node), 60)


def _unknown_name(
    name: str, choices: list[str], column: int, what: str = "name"
) -> ExpressionError:
    hint = suggest(name, choices)
    if hint is None:
        known = listed(choices) if choices else "none here"
        hint = f"Known {what}s: {known}."
    return ExpressionError(
        f"unknown {what} '{name}'", column, hint, name if what == "name" else None
    )
