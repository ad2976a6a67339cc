"""The reported state: what the agent tells its operator (twin reported properties, GET /model).

One nested dict, merged like a twin (nested objects merge, None deletes); every change is also handed to
the subscribers (the IoT Edge client patches the twin with it). Kept well inside the 32 KB twin limit by
the callers: no unbounded lists, errors truncated.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
from typing import Any, Callable

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 1024
REPORTED_LIMIT_BYTES = 32 * 1024


def merge(target: dict, patch: dict) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            if not isinstance(target.get(key), dict):
                target[key] = {}
            merge(target[key], value)  # also for a new object: a null inside it is a delete, not a value
        else:
            target[key] = copy.deepcopy(value)


def short(message: str) -> str:
    return message if len(message) <= MAX_ERROR_CHARS else message[: MAX_ERROR_CHARS - 3] + "..."


class Reported:
    def __init__(self) -> None:
        self._state: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._subscribers: list[Callable[[dict], None]] = []

    def subscribe(self, callback: Callable[[dict], None]) -> None:
        self._subscribers.append(callback)

    def patch(self, patch: dict) -> None:
        with self._lock:
            merge(self._state, patch)
            size = len(json.dumps(self._state))
        if size > REPORTED_LIMIT_BYTES:
            log.error("reported state over the twin limit", extra={"bytes": size})
        for callback in self._subscribers:
            try:
                callback(patch)
            except Exception:  # a subscriber's failure must not stop the agent's work
                log.exception("reported-state subscriber failed")

    def snapshot(self, section: str | None = None) -> dict:
        with self._lock:
            data = self._state if section is None else self._state.get(section, {})
            return copy.deepcopy(data)
