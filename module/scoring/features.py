"""Telemetry JSON -> feature rows, by the dotted field paths in the scoring settings."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import BadInput


class FieldError(BadInput):
    """One message's field is missing, not a number, NaN or infinite."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"field {field!r} {reason}")
        self.field = field


@dataclass(frozen=True)
class Parsed:
    """One message of a body: its row of features, or the error that stops it from being scored."""

    message: Any
    row: tuple[float, ...] | None
    error: BadInput | None
    warm: bool | None = None
    """Models with a feature spec: whether the partition had the history every column needs."""

    @property
    def message_id(self) -> Any:
        if isinstance(self.message, dict):
            for key in ("id", "messageId", "message_id"):
                if key in self.message:
                    found = self.message[key]
                    # NaN/Infinity have no JSON form: echoed as a number they would break the whole answer.
                    if isinstance(found, float) and not math.isfinite(found):
                        return str(found)
                    return found
        return None


def parse_body(body: bytes | str) -> tuple[list[Any], bool]:
    """Decode a body holding one message or a list of them; (messages, was_list)."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadInput(f"body is not valid JSON: {exc}") from None
    except RecursionError:  # "[[[[..." nested deeper than the parser's stack
        raise BadInput("body is not valid JSON: nested too deeply") from None
    if isinstance(data, list):
        if not data:
            raise BadInput("body is an empty list")
        return data, True
    return [data], False


class FeatureExtractor:
    """Built once per `scoring.features` setting; cheap to call per message."""

    def __init__(self, paths: Sequence[str]):
        self.paths = tuple(paths)
        self._split = [tuple(p.split(".")) for p in self.paths]

    @property
    def width(self) -> int:
        return len(self.paths)

    def row(self, message: Any) -> tuple[float, ...]:
        if not isinstance(message, dict):
            raise BadInput(f"a message must be a JSON object, got {type(message).__name__}")
        return tuple(self._value(message, path, parts) for path, parts in zip(self.paths, self._split))

    def parse(self, messages: list[Any]) -> list[Parsed]:
        out = []
        for message in messages:
            try:
                out.append(Parsed(message, self.row(message), None))
            except BadInput as exc:
                out.append(Parsed(message, None, exc))
        return out

    @staticmethod
    def _value(message: dict, path: str, parts: tuple[str, ...]) -> float:
        node: Any = message
        for part in parts:
            if not isinstance(node, dict) or part not in node:
                raise FieldError(path, "is missing")
            node = node[part]
        # bool is an int in Python, but true/false is not a reading.
        if isinstance(node, bool) or not isinstance(node, (int, float)):
            raise FieldError(path, f"is not a number (got {json.dumps(node)[:40]})")
        try:
            value = float(node)
        except OverflowError:
            raise FieldError(path, "is too large for a float") from None
        if math.isnan(value):
            raise FieldError(path, "is NaN")
        if math.isinf(value):
            raise FieldError(path, "is infinite")
        return value


def to_matrix(rows: Sequence[tuple[float, ...]], width: int) -> np.ndarray:
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), width)
