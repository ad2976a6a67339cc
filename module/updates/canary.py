"""The canary: the update's own inputs and expected scores, run on the new model before it serves.

Without a canary in the update, a probe of two rows (zeros and ones) still checks that the model scores
at the configured width and that its scores are finite.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import numpy as np

from ..errors import UpdateError
from ..scoring.slot import LoadedModel


def _rows(canary: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, float]:
    keys = sorted(canary["inputs"], key=int)
    try:
        rows = [json.loads(canary["inputs"][k]) for k in keys]
        X = np.asarray(rows, dtype=np.float64)
        expected = np.asarray([float(canary["expected"][k]) for k in keys], dtype=np.float64)
    except (ValueError, TypeError, KeyError) as exc:
        raise UpdateError(f"canary inputs are not rows of numbers: {exc}", stage="canary") from None
    if X.ndim != 2:
        raise UpdateError("canary inputs must each be a JSON list of numbers", stage="canary")
    return X, expected, float(canary.get("tolerance", 1e-6))


def check_rows(canary: Mapping[str, Any] | None, n_features: int) -> np.ndarray | None:
    """The canary's inputs for the compiled scorer's exactness check; None when absent or unusable
    (run() then refuses a malformed canary with its own error)."""
    if not canary:
        return None
    try:
        X = _rows(canary)[0]
    except (UpdateError, KeyError, TypeError):
        return None
    return X if X.shape[1:] == (n_features,) else None


def run(model: LoadedModel, canary: Mapping[str, Any] | None, n_features: int) -> None:
    """Raises UpdateError (stage "canary") when the new model must not serve."""
    if canary:
        X, expected, tolerance = _rows(canary)
    else:
        X, expected, tolerance = np.vstack([np.zeros(n_features), np.ones(n_features)]), None, 0.0
    if X.shape[1] != n_features:
        raise UpdateError(f"canary rows have {X.shape[1]} values, scoring.features has {n_features}", stage="canary")
    try:
        scores = model.scorer.score(X)
    except Exception as exc:  # a model that raises here would raise on live traffic: refuse it
        raise UpdateError(f"the model raised on the canary: {type(exc).__name__}: {exc}", stage="canary") from None
    if scores.shape != (len(X),) or not np.all(np.isfinite(scores)):
        raise UpdateError(f"the model gave non-finite or misshaped scores on the canary: {scores[:5]}", stage="canary")
    if expected is None:
        return
    worst = np.abs(scores - expected)
    bad = np.flatnonzero(worst > tolerance)
    if bad.size:
        i = int(bad[0])
        raise UpdateError(
            f"canary row {i}: score {scores[i]!r}, expected {expected[i]!r} (tolerance {tolerance}); "
            f"{bad.size} of {len(X)} rows outside",
            stage="canary",
        )
