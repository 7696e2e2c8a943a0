"""Quantities written as a formula of lab time, checked before they run: ``"22 + 0.5 * sin(t / 600)"``.

Only numbers, ``t`` (lab time in seconds), ``pi``, ``e``, arithmetic (``+ - * / // % **``), comparisons
inside ``min``/``max``, and a few math functions are allowed; anything else (attributes, names,
strings, calls to anything else) is refused when the formula is read, with the reason.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable

from labtwin.errors import ConfigError

__all__ = ["FUNCTIONS", "compile_expression"]

FUNCTIONS: dict[str, Callable[..., float]] = {
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "exp": math.exp, "log": math.log, "sqrt": math.sqrt,
    "abs": abs, "min": min, "max": max, "floor": math.floor, "ceil": math.ceil,
}
"""The functions a formula may call."""
_CONSTANTS = {"pi": math.pi, "e": math.e}
_OPERATORS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.UAdd, ast.USub)


def _check(node: ast.AST, text: str) -> None:
    for child in ast.walk(node):
        if isinstance(child, ast.Expression | ast.Load) or isinstance(child, _OPERATORS):
            continue
        if isinstance(child, ast.BinOp | ast.UnaryOp):
            continue
        if isinstance(child, ast.Constant) and isinstance(child.value, int | float) \
                and not isinstance(child.value, bool):
            continue
        if isinstance(child, ast.Name) and (child.id == "t" or child.id in _CONSTANTS or child.id in FUNCTIONS):
            continue
        if isinstance(child, ast.Call) and isinstance(child.func, ast.Name) and child.func.id in FUNCTIONS \
                and not child.keywords:
            continue
        what = ast.get_source_segment(text, child) or type(child).__name__
        raise ConfigError(f"formula {text!r}: {what!r} is not allowed; use numbers, t (lab time, s), pi, e, "
                          f"+ - * / // % ** and {', '.join(sorted(FUNCTIONS))}")


def compile_expression(text: str) -> Callable[[float], float]:
    """A function of lab time ``t`` computing ``text``.

    Raises:
        ConfigError: not a formula, or it uses something not allowed.
    """
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ConfigError(f"formula {text!r} is not a formula: {exc.msg}") from None
    _check(tree, text.strip())
    code = compile(tree, "<formula>", "eval")
    names: dict[str, object] = {"__builtins__": {}, **_CONSTANTS, **FUNCTIONS}

    def value(t: float) -> float:
        try:
            return float(eval(code, names, {"t": t}))  # noqa: S307  (checked above: arithmetic on t only)
        except (ArithmeticError, ValueError) as exc:
            raise ConfigError(f"formula {text!r} at t={t:g}: {exc}") from None

    value(0.0)  # fails now rather than mid-run when it cannot be computed at all
    return value
