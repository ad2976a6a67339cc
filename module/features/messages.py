"""Reading a message for the feature engine: its field values, its time and its partition key."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any, Mapping

from ..scoring.features import FieldError
from .errors import MessageError
from .spec import ARRIVAL, FeatureSpec, TimeSource

MAX_KEY_CHARS = 256
#: The largest reading a spec's field may hold. Beyond it a window could leave float32's range (a diff
#: of two readings is up to twice as large), where tree models compare: every row whose window held the
#: reading would be refused. Refused at the door instead, so the reading never enters the history.
MAX_ABS_VALUE = 1e38
#: The partition of an HTTP message under the default ("sender") rule that names no sender.
HTTP_DEFAULT_PARTITION = "http"
#: The HTTP header that names the sender under the default rule.
SENDER_HEADER = "X-Partition"


def number_at(message: Any, path: str) -> float | None:
    """The finite number at a dotted path; None when the path is absent; FieldError when it is not a number."""
    node = message
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if isinstance(node, bool) or not isinstance(node, (int, float)):
        raise FieldError(path, f"is not a number (got {json.dumps(node, default=str)[:40]})")
    try:
        value = float(node)
    except OverflowError:
        raise FieldError(path, "is too large for a float") from None
    if not math.isfinite(value):
        raise FieldError(path, "is NaN" if math.isnan(value) else "is infinite")
    if abs(value) > MAX_ABS_VALUE:
        raise FieldError(path, f"is beyond +-{MAX_ABS_VALUE:g} (got {value:g}): a window over it could leave "
                               "float32's range, where tree models compare")
    return value


def value_at(message: Any, path: str) -> Any:
    node = message
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def message_time(message: Any, source: TimeSource, arrival: float | None) -> float:
    """Seconds since the epoch: the time field (a number, or ISO 8601; naive means UTC), else arrival."""
    if source.field is not None:
        raw = value_at(message, source.field)
        parsed = _parse_time(raw)
        if parsed is not None:
            return parsed
        if source.fallback != ARRIVAL:
            what = "is missing" if raw is None else f"is not a time (got {json.dumps(raw, default=str)[:40]})"
            raise MessageError(f"time field {source.field!r} {what}")
    if arrival is None:
        raise MessageError("the message has no time and no arrival time was given")
    return arrival


def _parse_time(raw: Any) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)):
        value = float(raw)
        return value if math.isfinite(value) else None
    if not isinstance(raw, str):
        return None
    try:
        when = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def partition_key(spec: FeatureSpec, message: Any, sender: str | None = None,
                  headers: Mapping[str, str] | None = None) -> str:
    """Whose history this message joins, by the spec's `partition` rule.

    sender: the edge's "deviceId/moduleId" of the connection that sent the message, or None on HTTP.
    headers: HTTP headers (case-insensitive mapping), or an edge message's custom properties.
    """
    rule = spec.partition
    if rule.kind == "sender":
        if sender is not None:
            key = sender
        else:
            key = _header(headers, SENDER_HEADER) or HTTP_DEFAULT_PARTITION
    elif rule.kind == "field":
        found = value_at(message, rule.name)
        if found is None or isinstance(found, (dict, list, bool)):
            raise MessageError(f"partition field {rule.name!r} is missing or not a string or number")
        key = found if isinstance(found, str) else json.dumps(found)
    else:
        key = _header(headers, rule.name)
        if key is None:
            raise MessageError(f"partition header {rule.name!r} is missing")
    if len(key) > MAX_KEY_CHARS:
        raise MessageError(f"partition key is longer than {MAX_KEY_CHARS} characters")
    return key


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if headers is None:  # not `not headers`: len() of werkzeug's headers walks the whole environ
        return None
    value = headers.get(name)
    if value is not None or not isinstance(headers, dict):
        return value  # HTTP headers (werkzeug's) are case-insensitive already: no walk over the environ
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None
