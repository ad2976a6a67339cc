"""EstimatorScorer learns from its own small calls whether it is cheap enough to score on the caller's
thread: a model measured fast moves off the batcher after a few calls, a slow one never does."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from sklearn.covariance import EllipticEnvelope

from module.scoring.batcher import MicroBatcher
from module.scoring.scorer import LEARN_CALLS, SMALL_CALL_ROWS, EstimatorScorer, default_threshold
from module.scoring.slot import LoadedModel, ModelSlot


class Recording(EllipticEnvelope):
    """EllipticEnvelope (a call of ~0.1 ms) that records which thread called it, and can be made slow."""

    delay_s = 0.0
    threads: list

    def score_samples(self, X):
        self.threads.append(threading.current_thread().name)
        if self.delay_s:
            time.sleep(self.delay_s)
        return super().score_samples(X)


@pytest.fixture
def rows():
    return np.random.default_rng(0).normal(size=(400, 3))


def model(rows, delay_s: float):
    estimator = Recording(random_state=0).fit(rows)
    estimator.threads, estimator.delay_s = [], delay_s
    slot = ModelSlot()
    slot.swap(LoadedModel(version="v1", sha256="0" * 64, format="pickle", estimator=estimator,
                          scorer=EstimatorScorer(estimator), n_features=3,
                          default_threshold=default_threshold(estimator), source="test"))
    return estimator, MicroBatcher(slot)


def test_a_fast_model_moves_to_the_callers_thread_after_a_few_calls(rows):
    estimator, batcher = model(rows, delay_s=0.0)
    try:
        for n in range(LEARN_CALLS + 3):
            got = batcher.score(rows[n:n + 1])
            assert got.scores.tobytes() == EllipticEnvelope.score_samples(estimator, rows[n:n + 1]).tobytes()
        calls = estimator.threads[:LEARN_CALLS + 3]
        assert calls[:LEARN_CALLS] == ["batcher"] * LEARN_CALLS
        assert calls[LEARN_CALLS:] == [threading.current_thread().name] * 3
        batcher.score(rows[:SMALL_CALL_ROWS + 1])  # a large request still goes to the batcher
        assert estimator.threads[-1] == "batcher"
    finally:
        batcher.stop()


def test_a_slow_model_stays_on_the_batcher(rows):
    estimator, batcher = model(rows, delay_s=0.003)
    try:
        for n in range(LEARN_CALLS + 3):
            batcher.score(rows[n:n + 1])
        assert estimator.threads == ["batcher"] * (LEARN_CALLS + 3)
    finally:
        batcher.stop()
