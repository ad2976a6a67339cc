"""A small evaluator for the IoT Hub query language subset the operator CLI uses (SELECT ... FROM devices
[.modules] WHERE ...), so the IoT Hub stand-in can answer queries from its in-memory twins."""

from __future__ import annotations

import re
from typing import Any, Callable

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op><=|>=|<>|!=|=|<|>)"
    r"|(?P<punct>[()\[\],*])|(?P<word>[A-Za-z_$][\w$.\-]*))"
)
_MISSING = object()
Predicate = Callable[[dict], bool]


class QueryError(ValueError):
    """The query is outside the supported subset or malformed (the hub answers 400)."""


def tokenize(text: str) -> list[tuple[str, Any]]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise QueryError(f"cannot parse query near {text[pos:pos + 20]!r}")
        pos = match.end()
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "str":
            value = value[1:-1].replace("''", "'")
        elif kind == "num":
            value = float(value) if "." in value else int(value)
        tokens.append((kind, value))
    return tokens


def lookup(doc: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return _MISSING
        doc = doc[part]
    return doc


class _Parser:
    def __init__(self, tokens: list[tuple[str, Any]]):
        self.tokens, self.i = tokens, 0

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, Any]:
        token = self.peek()
        if token is None:
            raise QueryError("query ends too early")
        self.i += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token and token[0] == "word" and token[1].upper() == word:
            self.i += 1
            return True
        return False

    def expect(self, kind: str, value: Any = None) -> Any:
        token = self.take()
        if token[0] != kind or (value is not None and token[1] != value):
            raise QueryError(f"expected {value or kind}, got {token[1]!r}")
        return token[1]

    def expr(self) -> Predicate:
        left = self.term()
        while self.keyword("OR"):
            right, prev = self.term(), left
            left = lambda doc, a=prev, b=right: a(doc) or b(doc)  # noqa: E731
        return left

    def term(self) -> Predicate:
        left = self.factor()
        while self.keyword("AND"):
            right, prev = self.factor(), left
            left = lambda doc, a=prev, b=right: a(doc) and b(doc)  # noqa: E731
        return left

    def factor(self) -> Predicate:
        if self.keyword("NOT"):
            inner = self.factor()
            return lambda doc: not inner(doc)
        token = self.peek()
        if token == ("punct", "("):
            self.take()
            inner = self.expr()
            self.expect("punct", ")")
            return inner
        path = self.expect("word")
        if path.upper() == "IS_DEFINED":
            self.expect("punct", "(")
            target = self.expect("word")
            self.expect("punct", ")")
            return lambda doc: lookup(doc, target) is not _MISSING
        if self.keyword("IN"):
            values = self.value_list()
            return lambda doc: lookup(doc, path) in values
        op = self.expect("op")
        value = self.value()
        return _comparison(path, op, value)

    def value_list(self) -> list[Any]:
        self.expect("punct", "[")
        values = [self.value()]
        while self.peek() == ("punct", ","):
            self.take()
            values.append(self.value())
        self.expect("punct", "]")
        return values

    def value(self) -> Any:
        kind, value = self.take()
        if kind in ("str", "num"):
            return value
        if kind == "word" and value.lower() in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[value.lower()]
        raise QueryError(f"expected a value, got {value!r}")


def _comparison(path: str, op: str, value: Any) -> Predicate:
    def check(doc: dict) -> bool:
        found = lookup(doc, path)
        if found is _MISSING:
            return False
        if op in ("!=", "<>"):
            return found != value
        if op == "=":
            return found == value
        if type(found) is not type(value) and not all(isinstance(v, (int, float)) for v in (found, value)):
            return False
        return {"<": found < value, "<=": found <= value, ">": found > value, ">=": found >= value}[op]

    return check


def compile_where(condition: str) -> Predicate:
    """A predicate over a twin dict for a WHERE clause (also a configuration's targetCondition)."""
    parser = _Parser(tokenize(condition))
    predicate = parser.expr()
    if parser.peek() is not None:
        raise QueryError(f"unexpected {parser.peek()[1]!r} in condition")
    return predicate


def parse_query(text: str) -> tuple[list[str] | None, str, Predicate]:
    """(selected fields or None for *, the collection 'devices' or 'devices.modules', the WHERE predicate)."""
    match = re.match(r"(?is)\s*SELECT\s+(.+?)\s+FROM\s+(devices(?:\.modules)?)\b(?:\s+WHERE\s+(.*))?\s*$", text)
    if not match:
        raise QueryError(f"unsupported query: {text!r}")
    fields = None if match.group(1).strip() == "*" else [f.strip() for f in match.group(1).split(",")]
    where = compile_where(match.group(3)) if match.group(3) else (lambda doc: True)
    return fields, match.group(2).lower(), where
