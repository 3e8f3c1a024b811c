"""Built-in tools: small, safe, offline. `builtin_registry()` gives a registry holding them; with a `ToolContext`
(built by the composition root) it also holds the knowledge-base tools of tools/knowledge.py.

The calculator parses the expression into a tree and evaluates only numbers, arithmetic operators and a few
functions (never `eval`). Every intermediate result is bounded before it is computed: integers to
`MAX_INT_BITS` bits (about 1,200 digits), exponents to 1000, `round` digits to 1000, the expression to
`MAX_EXPRESSION_CHARS` characters, so `((10**1000)**1000)**1000` or `round(1, -10**9)` fail at once with a clear
error instead of spinning.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tools.registry import DEFAULT_TIMEOUT_S, ToolRegistry, tool

if TYPE_CHECKING:
    from tools.context import ToolContext

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS: dict[str, Callable[..., float | int]] = {
    "sqrt": math.sqrt,
    "log": math.log,
    "exp": math.exp,
    "abs": abs,
    "round": round,
}
_CONSTANTS = {"pi": math.pi, "e": math.e}
_MAX_EXPONENT = 1000
MAX_INT_BITS = 4000  # about 1,200 decimal digits
MAX_ROUND_DIGITS = 1000
MAX_EXPRESSION_CHARS = 1000


@tool(timeout=5.0, title="Calculator")
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression exactly as written and return the result.

    Args:
        expression: Arithmetic with numbers, + - * / // % ** and parentheses; also sqrt, log, exp, abs, round,
            pi and e. Example: "(2 + 3) * 4".
    """
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ValueError(f"the expression is too long ({len(expression)} characters, at most {MAX_EXPRESSION_CHARS})")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
        value = _evaluate(tree.body)
    except (SyntaxError, MemoryError) as exc:
        raise ValueError(f"not an arithmetic expression: {expression!r}") from exc
    except RecursionError as exc:
        raise ValueError("the expression is nested too deeply") from exc
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


@tool(idempotent=False, timeout=5.0, title="Current time")
def current_time(timezone: str = "UTC") -> str:
    """Return the current date and time in ISO 8601 format.

    Args:
        timezone: An IANA time zone name such as "UTC", "Europe/Paris" or "America/New_York".
    """
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {timezone!r}; use an IANA name such as 'Europe/Paris'") from exc
    return datetime.now(zone).isoformat(timespec="seconds")


def builtin_registry(context: ToolContext | None = None, *, timeout: float = DEFAULT_TIMEOUT_S) -> ToolRegistry:
    """calculator and current_time; with a `context`, the knowledge-base tools too (ingest only when the
    context allows it, remember/recall when it has a memory)."""
    registry = ToolRegistry([calculator, current_time], timeout=timeout)
    if context is not None:
        from tools.knowledge import KnowledgeTools

        for fn in KnowledgeTools(context).functions():
            registry.register(fn)
        if context.memory is not None:
            from memory.tools import memory_tools

            remember, recall = memory_tools(context.memory)
            # remembering writes (a repeat is a no-op, a contradiction supersedes and keeps the old value in
            # history); a memory decision may need the chat model, hence the longer time limit
            registry.register(tool(title="Remember a fact", read_only=False, timeout=300.0)(remember))
            registry.register(tool(title="Recall facts", timeout=60.0)(recall))
    return registry


def _evaluate(node: ast.expr) -> float | int:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > _MAX_EXPONENT:
            raise ValueError(f"exponent {right} is too large (at most {_MAX_EXPONENT})")
        _check_size(node.op, left, right)
        result: float | int = _BINARY[type(node.op)](left, right)
        return result
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        unary: float | int = _UNARY[type(node.op)](_evaluate(node.operand))
        return unary
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS:
        if node.keywords or not node.args:
            raise ValueError(f"{node.func.id}() takes positional numbers only")
        args = [_evaluate(a) for a in node.args]
        if node.func.id == "round" and len(args) > 1 and abs(args[1]) > MAX_ROUND_DIGITS:
            raise ValueError(f"round() to {args[1]} digits is out of range (at most {MAX_ROUND_DIGITS} either way)")
        called: float | int = _FUNCTIONS[node.func.id](*args)
        return called
    raise ValueError(f"unsupported element in expression: {ast.unparse(node)!r}")


def _bits(value: float | int) -> int:
    return abs(value).bit_length() if isinstance(value, int) else 0


def _check_size(op: ast.operator, left: float | int, right: float | int) -> None:
    """Refuse an integer operation whose result would exceed `MAX_INT_BITS`, before computing it."""
    if isinstance(op, ast.Pow) and isinstance(left, int) and isinstance(right, int) and right > 0:
        estimate = int(math.log2(abs(left)) * right) + 1 if abs(left) > 1 else 1
    elif isinstance(op, ast.Mult) and isinstance(left, int) and isinstance(right, int):
        estimate = _bits(left) + _bits(right) - 1
    else:
        estimate = max(_bits(left), _bits(right))
    if estimate > MAX_INT_BITS:
        raise ValueError(
            f"the result would have about {int(estimate * 0.30103)} digits; "
            f"the calculator handles integers up to about {int(MAX_INT_BITS * 0.30103)} digits"
        )
