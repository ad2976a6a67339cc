"""The canary: the update's own inputs and expected scores, run on the new model before it serves.

Without a canary in the update, a probe of two rows (zeros and ones) still checks that the model scores
at the configured width and that its scores are finite.

A model with a feature spec ships sequences of messages instead of rows: each is replayed through the
offline function (a fresh, scratch feature state of its own: never the live history), and the model's
score of each sequence's last row must match the expected one.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import numpy as np

from ..errors import UpdateError
from ..features import training_matrix
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


def _sequences(canary: Mapping[str, Any], spec: Any) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """(last row of each sequence, expected scores, tolerance, every row) on scratch feature states."""
    keys = sorted(canary["sequences"], key=int)
    last, every = [], []
    try:
        for k in keys:
            messages = json.loads(canary["sequences"][k])
            if not isinstance(messages, list) or not messages:
                raise ValueError(f"sequence {k} is not a non-empty list of messages")
            matrix = training_matrix(spec, messages, partition=f"canary-{k}")
            last.append(matrix.X[-1])
            every.append(matrix.X)
        expected = np.asarray([float(canary["expected"][k]) for k in keys], dtype=np.float64)
    except (ValueError, TypeError, KeyError) as exc:
        raise UpdateError(f"canary sequences cannot be replayed: {exc}", stage="canary") from None
    return np.vstack(last), expected, float(canary.get("tolerance", 1e-6)), np.vstack(every)


def check_rows(canary: Mapping[str, Any] | None, n_features: int, spec: Any = None) -> np.ndarray | None:
    """The canary's inputs for the compiled scorer's exactness check; None when absent or unusable
    (run() then refuses a malformed canary with its own error)."""
    if not canary:
        return None
    try:
        if spec is not None and canary.get("sequences"):
            X = _sequences(canary, spec)[3]
        else:
            X = _rows(canary)[0]
    except (UpdateError, KeyError, TypeError):
        return None
    return X if X.shape[1:] == (n_features,) else None


def run(model: LoadedModel, canary: Mapping[str, Any] | None, n_features: int) -> None:
    """Raises UpdateError (stage "canary") when the new model must not serve."""
    spec = model.features
    if canary and (spec is None) != (canary.get("sequences") is None):
        raise UpdateError("a model with a feature spec needs a canary of sequences, one without needs rows"
                          if spec is not None else "canary sequences need a feature spec in the manifest",
                          stage="canary")
    if canary and spec is not None:
        X, expected, tolerance, _ = _sequences(canary, spec)
    elif canary:
        X, expected, tolerance = _rows(canary)
    else:
        X, expected, tolerance = np.vstack([np.zeros(n_features), np.ones(n_features)]), None, 0.0
    if X.shape[1] != n_features:
        what = "the feature spec" if spec is not None else "scoring.features"
        raise UpdateError(f"canary rows have {X.shape[1]} values, {what} has {n_features}", stage="canary")
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
