"""HTTP-style statuses for the agent's errors: one table, shared by the HTTP API and the direct methods
(whose statuses follow HTTP's). The errors themselves carry no transport codes."""

from __future__ import annotations

from .errors import AgentError, BadInput, NoModel, ScoringFailed, SettingsError, ShuttingDown, UpdateError

#: First match wins, so leaves come before their roots.
STATUS: tuple[tuple[type[Exception], int], ...] = (
    (BadInput, 400),
    (SettingsError, 400),
    (UpdateError, 409),
    (NoModel, 503),
    (ShuttingDown, 503),
    (ScoringFailed, 500),
    (AgentError, 500),
)


def status_for(error: Exception, table: tuple[tuple[type[Exception], int], ...] = STATUS) -> int:
    return next((status for kind, status in table if isinstance(error, kind)), 500)


def _error_classes(root: type) -> list[type]:
    return [root] + [c for sub in root.__subclasses__() for c in _error_classes(sub)]


def status_for_result(result: dict) -> int:
    """A failed result names its error's class (`error_type`); the same table maps it."""
    name = result.get("error_type", "")
    for kind, status in STATUS:
        if any(c.__name__ == name for c in _error_classes(kind)):
            return status
    return 500
