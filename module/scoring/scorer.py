"""Scorers: what turns a feature matrix into scores for one loaded model, behind one small interface.

scikit-learn's own method serves every model; a compiled evaluator (compiled_forest.py) may serve the
estimators it supports when it reproduces scikit-learn's scores bit for bit.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import numpy as np

#: A one-row call faster than this is cheaper on the receiving thread than the batcher's hand-off (two
#: thread wake-ups and a wait for companions, ~0.2 ms and up to scoring.max_wait_ms). A 100-tree forest
#: in scikit-learn takes 14-40 ms a call and is batched; a small envelope or linear model takes ~0.05 ms.
CHEAP_CALL_S = 0.001
SMALL_CALL_ROWS = 64
LEARN_CALLS = 5


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
        self._calls = 0
        self._seconds = 0.0  # moving average of a small call's time

    def score(self, X: np.ndarray) -> np.ndarray:
        started = time.perf_counter()
        scores = np.asarray(self._method(X), dtype=np.float64).reshape(-1)
        if len(X) <= SMALL_CALL_ROWS:
            self._learn(time.perf_counter() - started)
        return scores

    def _learn(self, seconds: float) -> None:
        # Unlocked on purpose: a lost update under a race only delays the decision by a call.
        self._calls += 1
        self._seconds = seconds if self._calls == 1 else 0.8 * self._seconds + 0.2 * seconds

    def cheap_for(self, rows: int) -> bool:
        """True once small calls were seen to be cheap (the batcher then scores small requests inline);
        learnt from real calls, so a slow model (a forest in scikit-learn) stays batched."""
        return rows <= SMALL_CALL_ROWS and self._calls >= LEARN_CALLS and self._seconds < CHEAP_CALL_S


def build_scorer(estimator: Any, compiled: bool, check_rows: np.ndarray | None = None,
                 generate_rows: bool = True) -> tuple[Scorer, str]:
    """The scorer for a newly loaded model and why it was chosen (logged and reported)."""
    plain = EstimatorScorer(estimator)
    if compiled:
        from . import compiled_forest

        generate = compiled_forest.RowCode.build if generate_rows else None
        scorer, reason = compiled_forest.choose(estimator, plain, check_rows, generate=generate)
    else:
        scorer, reason = plain, "compiled scorer turned off by settings (scoring.compiled=false)"
    return scorer, reason
