"""Column expressions -> (function, field, argument): `f`, `lag(f, 3)`, `mean(f, 12)`, `max(f, 300s)`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import SpecError

#: A field name or dotted path: identifiers joined by dots, as in the `scoring.features` setting.
PATH = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*(\.[A-Za-z_$][A-Za-z0-9_$-]*)*$")
_CALL = re.compile(r"^\s*([A-Za-z_]+)\s*\((.*)\)\s*$")
_SECONDS = re.compile(r"^([0-9]+(\.[0-9]+)?)\s*s$")

WINDOW_FUNCTIONS = ("mean", "std", "min", "max")
FUNCTIONS = ("lag", "diff", "ewma") + WINDOW_FUNCTIONS


@dataclass(frozen=True)
class Expression:
    """One parsed column: `function` is "value" for a plain field."""

    function: str
    field: str
    count: int | None = None
    """lag's k, or a window over the last `count` messages."""
    seconds: float | None = None
    """a window over the last `seconds` of the time field."""
    alpha: float | None = None
    """ewma's smoothing factor."""


def is_path(text: object) -> bool:
    return isinstance(text, str) and bool(PATH.match(text))


def parse(column: str) -> Expression:
    """One column's expression; SpecError names the column on any mistake."""
    if not isinstance(column, str) or not column.strip():
        raise SpecError("a column must be a non-empty string", str(column))
    text = column.strip()
    call = _CALL.match(text)
    if call is None:
        if not is_path(text):
            raise SpecError("is neither a field path nor a function call", column)
        return Expression("value", text)
    name, args = call.group(1), [a.strip() for a in call.group(2).split(",")]
    if name not in FUNCTIONS:
        raise SpecError(f"unknown function {name!r} (known: {', '.join(FUNCTIONS)})", column)
    if not is_path(args[0]):
        raise SpecError(f"{name}'s first argument must be a field path, got {args[0]!r}", column)
    return _call(name, args, column)


def _call(name: str, args: list[str], column: str) -> Expression:
    field = args[0]
    if name == "diff":
        _arity(args, 1, column)
        return Expression("diff", field)
    _arity(args, 2, column)
    arg = args[1]
    if name == "ewma":
        alpha = _number(arg, column)
        if not 0.0 < alpha <= 1.0:
            raise SpecError(f"ewma's alpha must be in (0, 1], got {arg}", column)
        return Expression("ewma", field, alpha=alpha)
    seconds = _SECONDS.match(arg)
    if seconds is not None:
        if name == "lag":
            raise SpecError("lag counts messages, not seconds", column)
        value = float(seconds.group(1))
        if value <= 0:
            raise SpecError("a window must be longer than 0 s", column)
        return Expression(name, field, seconds=value)
    if not arg.isdigit() or int(arg) < 1:
        raise SpecError(f"{name}'s length must be a whole number >= 1 or seconds like 300s, got {arg!r}", column)
    return Expression(name, field, count=int(arg))


def _arity(args: list[str], n: int, column: str) -> None:
    if len(args) != n:
        raise SpecError(f"takes {n} argument{'s' if n > 1 else ''}, got {len(args)}", column)


def _number(text: str, column: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise SpecError(f"{text!r} is not a number", column) from None
