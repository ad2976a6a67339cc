"""Direct methods: `score`, `status`, `rollback`, `reload`. One table maps the agent's errors to statuses."""

from __future__ import annotations

import json
import logging
from typing import Any, Callable

from ..errors import AgentError, BadInput, UpdateError
from ..runtime import fingerprint
from ..statuses import status_for, status_for_result

log = logging.getLogger(__name__)

NOT_FOUND = 404
#: IoT Hub caps direct-method payloads at 128 KB each way.
MAX_PAYLOAD_BYTES = 128 * 1024


class MethodHandler:
    def __init__(self, agent, counters: Callable[[], dict]):
        self.agent = agent
        self.counters = counters
        self.table: dict[str, Callable[[Any], tuple[int, Any]]] = {
            "score": self.score,
            "status": self.status,
            "rollback": lambda payload: self._update_action("rollback"),
            "reload": lambda payload: self._update_action("reload"),
        }

    def handle(self, name: str, payload: Any) -> tuple[int, Any]:
        """(status, JSON payload); never raises."""
        method = self.table.get(name)
        if method is None:
            return NOT_FOUND, {"error": f"unknown method {name!r}; known: {', '.join(sorted(self.table))}"}
        try:
            status, body = method(payload)
        except AgentError as exc:
            return status_for(exc), _error_body(exc)
        except Exception as exc:  # the SDK would swallow it and the caller would wait for its timeout
            log.exception("direct method failed", extra={"method": name})
            return 500, {"error": f"{name} failed: {exc!r}"}
        if len(json.dumps(body)) > MAX_PAYLOAD_BYTES:
            return 413, {"error": "the answer is over the 128 KB direct-method limit; send fewer messages"}
        return status, body

    def score(self, payload: Any) -> tuple[int, Any]:
        """One telemetry message (an object) or a non-empty list of them."""
        if isinstance(payload, dict):
            [result] = self.agent.service.score_messages([payload], "method")
            if "error" in result:
                return status_for_result(result), result
            return 200, result
        if isinstance(payload, list) and payload:
            return 200, self.agent.service.score_messages(payload, "method")
        raise BadInput(f"score takes a telemetry object or a non-empty list of them, got {_kind(payload)}")

    def status(self, payload: Any) -> tuple[int, Any]:
        model = self.agent.slot.current
        return 200, {
            "model": model.describe() if model else None,
            "update": self.agent.reported.snapshot("model"),
            "scoring": {"threshold": self.agent.service.settings.threshold,
                        "features": list(self.agent.service.settings.features)},
            "upstream": self.agent.settings.upstream.model_dump(mode="json"),
            "counters": self.counters(),
            "runtime": fingerprint(),
        }

    def _update_action(self, action: str) -> tuple[int, Any]:
        try:
            return 200, getattr(self.agent.updater, action)()
        except UpdateError as exc:
            return status_for(exc), {**_error_body(exc), "stage": exc.stage}


def _error_body(exc: Exception) -> dict:
    return {"error": str(exc), "error_type": type(exc).__name__}


def _kind(payload: Any) -> str:
    if payload is None:
        return "no payload"
    if isinstance(payload, list):
        return "an empty list"
    return f"a JSON {type(payload).__name__}"
