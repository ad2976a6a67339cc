"""Result objects: what every transport sends back for one message."""

from __future__ import annotations

from typing import Any

from ..errors import AgentError
from .slot import LoadedModel


def scored(score: float, threshold: float, model: LoadedModel, message_id: Any = None,
           warm: bool | None = None) -> dict:
    """`score` < `threshold` is an anomaly: for score_samples models lower means more anomalous.

    warm (models with a feature spec): False while the partition lacks the history a column needs; such
    a row is scored but never flagged, since a half-empty window is not evidence of an anomaly.
    """
    result = {
        "score": score,
        "anomaly": bool(score < threshold) and warm is not False,
        "threshold": threshold,
        "model_version": model.version,
    }
    if warm is not None:
        result["warm"] = warm
    if message_id is not None:
        result["id"] = message_id
    return result


def failed(error: AgentError, message_id: Any = None, model: LoadedModel | None = None) -> dict:
    result: dict[str, Any] = {"error": str(error), "error_type": type(error).__name__}
    field = getattr(error, "field", None)
    if field:
        result["field"] = field
    if model is not None:
        result["model_version"] = model.version
    if message_id is not None:
        result["id"] = message_id
    return result
