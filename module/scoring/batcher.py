"""Micro-batcher: concurrent score requests are scored in one model call, each caller gets its own rows.

scikit-learn's per-call cost dwarfs its per-row cost, so under concurrent load one call for many
requests is the single biggest throughput win. A lone request is scored at once; the batcher waits
up to `max_wait_ms` for company only while it sees concurrent traffic (the last batch held more than
one request), so a quiet device pays no added latency.

A cheap scorer (the compiled forest: no per-call floor) gains nothing from company, so a small request
is scored on the caller's own thread: no hand-off, no wake-up of the worker, no future to wait on.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import NoModel, ScoringFailed, ShuttingDown
from .slot import LoadedModel, ModelSlot

log = logging.getLogger(__name__)

_STOP = object()


@dataclass(frozen=True)
class Scored:
    """What a caller gets back: its own scores and the one model that produced all of them."""

    scores: np.ndarray
    model: LoadedModel


@dataclass
class _Request:
    rows: np.ndarray
    future: Future


BatchObserver = Callable[[int, int, float], None]
"""Called after each batch with (requests, rows, seconds spent scoring)."""


class MicroBatcher:
    def __init__(
        self,
        slot: ModelSlot,
        max_batch: int = 256,
        max_wait_ms: float = 2.0,
        observer: BatchObserver | None = None,
        inline_max_rows: int = 64,
    ):
        self._slot = slot
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self._observer = observer
        self.inline_max_rows = inline_max_rows
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._accepting = True
        self._gate = threading.Lock()
        self._last_batch_requests = 0
        self._worker = threading.Thread(target=self._run, name="batcher", daemon=True)
        self._worker.start()

    def submit(self, rows: np.ndarray) -> Future:
        """Queue a (n, width) float64 matrix; the future resolves to Scored or raises an AgentError."""
        future: Future = Future()
        # Under the lock so no request can land behind the stop marker, where nobody would answer it.
        with self._gate:
            if not self._accepting:
                raise ShuttingDown("the agent is stopping")
            self._queue.put(_Request(rows, future))
        return future

    def score(self, rows: np.ndarray, timeout: float | None = 30.0) -> Scored:
        model = self._slot.current
        if model is not None and self._inline(model, len(rows)):
            return self._score_inline(model, rows)
        try:
            return self.submit(rows).result(timeout)
        except FutureTimeout:
            raise ScoringFailed(f"no result within {timeout} s (the model is too slow or stuck)") from None

    def _inline(self, model: LoadedModel, rows: int) -> bool:
        if rows > self.inline_max_rows or not self._accepting:
            return False
        cheap_for = getattr(model.scorer, "cheap_for", None)
        return cheap_for is not None and cheap_for(rows)

    def _score_inline(self, model: LoadedModel, rows: np.ndarray) -> Scored:
        """The caller's thread scores with the model it read: a swap meanwhile does not touch it."""
        started = time.perf_counter()
        scores = self.call_model(model, rows)
        if self._observer:
            self._observer(1, len(rows), time.perf_counter() - started)
        return Scored(scores, model)

    @staticmethod
    def call_model(model: LoadedModel, X: np.ndarray) -> np.ndarray:
        """The model's failure fails this request or batch (ScoringFailed), never the process."""
        try:
            scores = model.scorer.score(X)
            if scores.shape != (len(X),):
                raise ValueError(f"scorer returned shape {scores.shape} for {len(X)} rows")
        except Exception as exc:
            log.warning("model raised while scoring", extra={"model_version": model.version, "error": repr(exc)})
            raise ScoringFailed(f"model {model.version} failed to score: {exc!r}", by_model=True) from None
        return scores

    def stop(self, timeout: float = 10.0) -> None:
        """Refuse new requests, finish every queued one, then end the worker."""
        with self._gate:
            if self._accepting:
                self._accepting = False
                self._queue.put(_STOP)
        self._worker.join(timeout)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                stopping = True
                batch = self._drain([])
            else:
                batch, stopping = self._collect(first)
            if batch:
                self._score_guarded(batch)

    def _collect(self, first: _Request) -> tuple[list[_Request], bool]:
        batch, rows = [first], len(first.rows)
        waiting = self._last_batch_requests > 1 and self.max_wait_s > 0
        deadline = time.monotonic() + self.max_wait_s
        while rows < self.max_batch:
            try:
                if waiting:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                else:
                    item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return self._drain(batch), True
            batch.append(item)
            rows += len(item.rows)
        return batch, False

    def _drain(self, batch: list[_Request]) -> list[_Request]:
        """On stop: everything already queued is still scored, none is dropped."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return batch
            if item is not _STOP:
                batch.append(item)

    def _score_guarded(self, batch: list[_Request]) -> None:
        """The worker must outlive any bug below it: a dead worker would leave every later caller waiting."""
        try:
            self._score(batch)
        except Exception as exc:
            log.exception("batch failed outside the model call")
            self._fail([r for r in batch if not r.future.done()], ScoringFailed(f"batch failed: {exc!r}"))

    def _score(self, batch: list[_Request]) -> None:
        self._last_batch_requests = len(batch)
        model = self._slot.current  # read once: the whole batch is scored by this model
        if model is None:
            self._fail(batch, NoModel("no model is loaded yet"))
            return
        started = time.perf_counter()
        X = batch[0].rows if len(batch) == 1 else np.concatenate([r.rows for r in batch])
        try:
            scores = self.call_model(model, X)
        except ScoringFailed as exc:
            if len(batch) == 1:
                self._fail(batch, exc)
            else:  # one request's rows must not fail its neighbours: each again, alone
                for request in batch:
                    self._score([request])
            return
        elapsed = time.perf_counter() - started
        offset = 0
        for request in batch:
            n = len(request.rows)
            request.future.set_result(Scored(scores[offset:offset + n], model))
            offset += n
        if self._observer:
            self._observer(len(batch), len(X), elapsed)

    @staticmethod
    def _fail(batch: list[_Request], error: Exception) -> None:
        for request in batch:
            request.future.set_exception(error)
