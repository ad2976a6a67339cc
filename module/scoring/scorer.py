"""Scorers: what turns a feature matrix into scores for one loaded model, behind one small interface.

scikit-learn's own method serves every model; a compiled evaluator (compiled_forest.py) may serve the
estimators it supports when it reproduces scikit-learn's scores bit for bit.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class Scorer(Protocol):
    name: str

    def score(self, X: np.ndarray) -> np.ndarray:
        """One float64 score per row; lower means more anomalous for score_samples models."""


def final_step(estimator: Any) -> Any:
    steps = getattr(estimator, "steps", None)
    return steps[-1][1] if steps else estimator


def score_method(estimator: Any) -> str:
    """score_samples when the model has it (IsolationForest, LOF novelty, ...), else decision_function."""
    for name in ("score_samples", "decision_function"):
        if callable(getattr(estimator, name, None)):
            return name
    raise TypeError(f"{type(estimator).__name__} has neither score_samples nor decision_function")


def default_threshold(estimator: Any) -> float:
    """The model's own cut-off: IsolationForest predicts an outlier where score_samples < offset_."""
    if score_method(estimator) == "score_samples":
        offset = getattr(final_step(estimator), "offset_", None)
        if offset is not None:
            return float(offset)
    return 0.0


class EstimatorScorer:
    """scikit-learn's own call: always correct, about 14-40 ms per call for 100 trees whatever the rows."""

    name = "sklearn"

    def __init__(self, estimator: Any):
        self._method = getattr(estimator, score_method(estimator))

    def score(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self._method(X), dtype=np.float64).reshape(-1)


def build_scorer(estimator: Any, compiled: bool, check_rows: np.ndarray | None = None) -> tuple[Scorer, str]:
    """The scorer for a newly loaded model and why it was chosen (logged and reported)."""
    plain = EstimatorScorer(estimator)
    if not compiled:
        return plain, "compiled scorer turned off by settings (scoring.compiled=false)"
    try:
        from . import compiled_forest
    except ImportError:
        return plain, "compiled scorer not installed"
    return compiled_forest.choose(estimator, plain, check_rows)
