"""The micro-batcher: concurrent callers share model calls, each gets exactly its own rows' scores."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from module.errors import NoModel, ScoringFailed, ShuttingDown
from module.models import nab
from module.scoring.batcher import MicroBatcher
from module.scoring.scorer import EstimatorScorer, default_threshold
from module.scoring.slot import LoadedModel, ModelSlot
from tests.helpers.waiting import wait_for

WAIT_S = 10.0  # generous bound for "eventually"; nothing here asserts speed


@pytest.fixture(scope="module")
def rows():
    _, values = nab.load_series()
    return nab.to_features(values[:3000])


@pytest.fixture(scope="module")
def forest(rows):
    return IsolationForest(n_estimators=25, random_state=1).fit(rows)


class GatedScorer:
    """The real scorer, but each call can be held at a gate, so a test controls what queues behind it."""

    name = "gated"

    def __init__(self, estimator, poison: float | None = None):
        self._plain = EstimatorScorer(estimator)
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.calls: list[int] = []
        self.poison = poison

    def score(self, X):
        self.calls.append(len(X))
        self.entered.set()
        assert self.gate.wait(WAIT_S)
        if self.poison is not None and (X[:, 0] == self.poison).any():
            raise RuntimeError("model blew up on purpose")
        return self._plain.score(X)


def loaded(estimator, scorer, version="v1"):
    return LoadedModel(
        version=version, sha256="0" * 64, format="pickle", estimator=estimator, scorer=scorer,
        n_features=4, default_threshold=default_threshold(estimator), source="test",
    )


def wait_until(predicate, what):
    wait_for(predicate, what, timeout=WAIT_S, interval=0.002)


@pytest.fixture
def batches():
    seen = []
    return seen, lambda requests, n_rows, seconds: seen.append((requests, n_rows))


def make(forest, batches, scorer=None, **kw):
    scorer = scorer or GatedScorer(forest)
    slot = ModelSlot()
    slot.swap(loaded(forest, scorer))
    return MicroBatcher(slot, observer=batches[1], **kw), slot, scorer


def bits(a):
    return np.ascontiguousarray(a, dtype=np.float64).view(np.int64)


def test_many_threads_each_get_their_own_rows_bit_for_bit(forest, rows, batches):
    batcher, _, scorer = make(forest, batches, max_batch=10_000, max_wait_ms=5)
    n_threads = 24
    chunks = [rows[i * 37: i * 37 + 1 + i % 9] for i in range(n_threads)]  # 1..9 rows, all different
    results: dict[int, object] = {}
    start = threading.Barrier(n_threads)

    submitted = []

    def call(i):
        start.wait()
        future = batcher.submit(chunks[i])
        submitted.append(i)
        results[i] = future.result(WAIT_S)

    # Hold the first model call so the other requests pile up and must share the following calls.
    scorer.gate.clear()
    threads = [threading.Thread(target=call, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    wait_until(scorer.entered.is_set, "the first model call")
    wait_until(lambda: len(submitted) == n_threads, "every request to be queued")
    scorer.gate.set()
    for t in threads:
        t.join(WAIT_S)
    batcher.stop()

    assert sorted(results) == list(range(n_threads))
    for i, chunk in enumerate(chunks):
        own = results[i].scores
        assert own.shape == (len(chunk),)
        assert np.array_equal(bits(own), bits(forest.score_samples(chunk))), f"caller {i} got other scores"
        assert results[i].model.version == "v1"
    seen, _ = batches
    assert sum(r for r, _ in seen) == n_threads and sum(n for _, n in seen) == sum(map(len, chunks))
    assert max(r for r, _ in seen) > 1, "no model call served more than one request"
    assert len(scorer.calls) < n_threads


def test_a_model_that_raises_fails_only_the_request_it_refused(forest, rows, batches):
    scorer = GatedScorer(forest, poison=-1234.5)
    batcher, _, _ = make(forest, batches, scorer=scorer)
    bad = rows[:3].copy()
    bad[1, 0] = -1234.5
    with pytest.raises(ScoringFailed, match="v1 failed to score.*blew up"):
        batcher.score(bad)
    after = batcher.score(rows[10:15])  # the next batch is fine, the worker is alive
    assert np.array_equal(bits(after.scores), bits(forest.score_samples(rows[10:15])))

    # Two callers in the one failing batch: each is scored again alone, so only the poisoned one fails.
    scorer.entered.clear()
    scorer.gate.clear()
    first = batcher.submit(rows[20:21])
    wait_until(scorer.entered.is_set, "the first call")
    poisoned, innocent = batcher.submit(bad), batcher.submit(rows[30:32])
    wait_until(lambda: batcher._queue.qsize() == 2, "both to queue")
    scorer.gate.set()
    assert first.result(WAIT_S).scores.shape == (1,)
    with pytest.raises(ScoringFailed, match="blew up"):
        poisoned.result(WAIT_S)
    assert np.array_equal(bits(innocent.result(WAIT_S).scores), bits(forest.score_samples(rows[30:32])))
    assert batcher.score(rows[40:41]).scores.shape == (1,)
    assert batcher._worker.is_alive()
    batcher.stop()


def test_a_scorer_returning_the_wrong_shape_fails_the_batch(forest, rows, batches):
    class Short(GatedScorer):
        def score(self, X):
            return super().score(X)[:-1]

    batcher, _, _ = make(forest, batches, scorer=Short(forest))
    with pytest.raises(ScoringFailed, match="shape"):
        batcher.score(rows[:4])
    assert batcher._worker.is_alive()
    batcher.stop()


def test_a_failing_observer_does_not_kill_the_worker(forest, rows):
    def broken(*_):
        raise ZeroDivisionError("observer bug")

    slot = ModelSlot()
    slot.swap(loaded(forest, EstimatorScorer(forest)))
    batcher = MicroBatcher(slot, observer=broken)
    batcher.score(rows[:2])
    assert batcher._worker.is_alive()
    assert batcher.score(rows[2:4]).scores.shape == (2,)
    batcher.stop()


def test_no_model_loaded(rows):
    batcher = MicroBatcher(ModelSlot())
    with pytest.raises(NoModel):
        batcher.score(rows[:1])
    batcher.stop()


def test_shutdown_finishes_queued_requests_and_refuses_new_ones(forest, rows, batches):
    batcher, _, scorer = make(forest, batches, max_batch=4)
    scorer.gate.clear()
    in_model = batcher.submit(rows[:2])
    wait_until(scorer.entered.is_set, "the first call")
    queued = [batcher.submit(rows[i: i + 3]) for i in range(100, 130, 3)]  # 10 requests, 30 rows
    stopper = threading.Thread(target=batcher.stop)
    stopper.start()
    wait_until(lambda: not batcher._accepting, "stop to begin")
    with pytest.raises(ShuttingDown):
        batcher.submit(rows[:1])
    scorer.gate.set()
    stopper.join(WAIT_S)
    assert not stopper.is_alive() and not batcher._worker.is_alive()
    assert np.array_equal(bits(in_model.result(0).scores), bits(forest.score_samples(rows[:2])))
    for k, future in enumerate(queued):
        i = 100 + 3 * k
        assert np.array_equal(bits(future.result(0).scores), bits(forest.score_samples(rows[i: i + 3])))
    with pytest.raises(ShuttingDown):
        batcher.score(rows[:1])
    batcher.stop()  # a second stop is harmless


def test_a_swap_mid_batch_leaves_the_batch_on_its_model(forest, rows, batches):
    batcher, slot, scorer = make(forest, batches)
    other = IsolationForest(n_estimators=5, random_state=7).fit(rows[:500])
    scorer.gate.clear()
    held = batcher.submit(rows[:3])
    wait_until(scorer.entered.is_set, "the first call")
    slot.swap(loaded(other, EstimatorScorer(other), version="v2"))
    scorer.gate.set()
    first = held.result(WAIT_S)
    assert first.model.version == "v1"
    assert np.array_equal(bits(first.scores), bits(forest.score_samples(rows[:3])))
    second = batcher.score(rows[:3])
    assert second.model.version == "v2"
    assert np.array_equal(bits(second.scores), bits(other.score_samples(rows[:3])))
    batcher.stop()


def test_through_the_service_a_raising_model_gives_error_results(forest, rows):
    from module.metrics import Metrics
    from module.models.nab import to_message
    from module.scoring.service import ScoringService
    from module.settings import ScoringSection

    scorer = GatedScorer(forest, poison=666.0)
    slot = ModelSlot()
    slot.swap(loaded(forest, scorer))
    metrics = Metrics()
    service = ScoringService(slot, ScoringSection(), metrics)
    bad_row = rows[0].copy()
    bad_row[0] = 666.0
    messages = [{**to_message(bad_row, "t"), "id": "x"}, {**to_message(rows[1], "t"), "id": "y"}, {"id": "z"}]
    failed = service.score_messages(messages, "test")
    # The refused row fails alone: its neighbour is scored as it would be on its own.
    assert [r.get("error_type") for r in failed] == ["ScoringFailed", None, "FieldError"]
    assert [r["id"] for r in failed] == ["x", "y", "z"] and "blew up" in failed[0]["error"]
    fine = service.score_messages(messages[1:2], "test")
    assert fine[0]["score"] == float(forest.score_samples(rows[1:2])[0]) and fine[0]["id"] == "y"
    assert failed[1] == fine[0]
    assert metrics.registry.get_sample_value("agent_errors_total", {"kind": "ScoringFailed"}) == 1
    service.stop()


class CheapScorer(GatedScorer):
    """A scorer that says it has no per-call floor for up to `cheap_rows` rows (as the compiled forest does)."""

    def __init__(self, estimator, cheap_rows: int = 1000, **kw):
        super().__init__(estimator, **kw)
        self.cheap_rows = cheap_rows
        self.threads: list[str] = []

    def cheap_for(self, rows: int) -> bool:
        return rows <= self.cheap_rows

    def score(self, X):
        self.threads.append(threading.current_thread().name)
        return super().score(X)


def test_a_cheap_scorer_scores_small_requests_on_the_callers_thread(forest, rows, batches):
    scorer = CheapScorer(forest)
    batcher, _, _ = make(forest, batches, scorer=scorer, inline_max_rows=8)
    small, large = rows[:8], rows[100:109]
    got = batcher.score(small)
    assert np.array_equal(bits(got.scores), bits(forest.score_samples(small))) and got.model.version == "v1"
    assert scorer.threads == [threading.current_thread().name]
    batcher.score(large)  # over inline_max_rows: the batcher's worker scores it
    assert scorer.threads[-1] == "batcher"
    seen, _ = batches
    assert seen == [(1, 8), (1, 9)], "inline calls are observed like batches (metrics)"
    batcher.stop()


def test_inline_is_off_for_an_expensive_scorer_or_when_turned_off(forest, rows, batches):
    expensive = CheapScorer(forest, cheap_rows=0)
    batcher, _, _ = make(forest, batches, scorer=expensive)
    batcher.score(rows[:1])
    assert expensive.threads == ["batcher"]
    batcher.stop()
    cheap = CheapScorer(forest)
    batcher, _, _ = make(forest, batches, scorer=cheap, inline_max_rows=0)
    batcher.score(rows[:1])
    assert cheap.threads == ["batcher"]
    batcher.stop()


def test_inline_failures_fail_the_request_only_and_stop_refuses_inline_too(forest, rows, batches):
    scorer = CheapScorer(forest, poison=-99.0)
    batcher, _, _ = make(forest, batches, scorer=scorer)
    bad = rows[:2].copy()
    bad[0, 0] = -99.0
    with pytest.raises(ScoringFailed, match="v1 failed to score.*blew up"):
        batcher.score(bad)
    assert batcher.score(rows[5:6]).scores.shape == (1,)
    batcher.stop()
    with pytest.raises(ShuttingDown):
        batcher.score(rows[:1])
