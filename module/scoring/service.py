"""The scoring core every transport shares: messages in, one result per message out."""

from __future__ import annotations

import math
import threading
import time
from typing import Any, Mapping

import numpy as np

from ..features import FeatureState, partition_key
from ..errors import AgentError, BadInput, ScoringFailed, SettingsError
from ..metrics import Metrics
from ..settings import ScoringSection
from . import results
from .batcher import MicroBatcher, Scored
from .features import FeatureExtractor, Parsed, parse_body, to_matrix
from .slot import ModelSlot


class ScoringService:
    def __init__(self, slot: ModelSlot, settings: ScoringSection, metrics: Metrics,
                 history: FeatureState | None = None):
        self.slot = slot
        self.metrics = metrics
        self.history = history or FeatureState()
        """Per-partition feature history (module/features): agent state, kept across model swaps."""
        self._live = (settings, FeatureExtractor(settings.features))
        self.batcher = MicroBatcher(slot, settings.max_batch, settings.max_wait_ms, metrics.observe_batch,
                                    settings.inline_max_rows)
        self._apply_lock = threading.Lock()

    @property
    def settings(self) -> ScoringSection:
        return self._live[0]

    def apply(self, section: ScoringSection) -> None:
        """Live `scoring` settings from the desired state; refused when the model cannot take them."""
        model = self.slot.current
        width = len(section.features)
        if model is not None and model.features is None and model.n_features not in (None, width):
            raise SettingsError(
                f"scoring.features: {width} features given but model {model.version} expects {model.n_features}"
            )
        with self._apply_lock:
            self._live = (section, FeatureExtractor(section.features))
            self.batcher.max_batch = section.max_batch
            self.batcher.max_wait_s = section.max_wait_ms / 1000.0
            self.batcher.inline_max_rows = section.inline_max_rows

    def threshold_for(self, model, settings: ScoringSection | None = None) -> float:
        """scoring.threshold when set, else the model's own cut-off; `settings` as read for this request."""
        t = (settings or self.settings).threshold
        return model.default_threshold if t is None else t

    def score_body(self, body: bytes | str, transport: str, sender: str | None = None,
                   headers: Mapping[str, str] | None = None) -> tuple[list[dict], bool]:
        """A body of one message or a list; raises BadInput only when the body itself is unreadable."""
        try:
            messages, was_list = parse_body(body)
        except BadInput as exc:
            # Counted like any request: an unreadable body is still traffic the operator wants to see.
            self.metrics.transport(transport).requests.inc()
            self.metrics.errors.labels(type(exc).__name__).inc()
            raise
        return self.score_messages(messages, transport, sender, headers), was_list

    def score_messages(self, messages: list[Any], transport: str, sender: str | None = None,
                       headers: Mapping[str, str] | None = None) -> list[dict]:
        """sender: the edge connection's "device/module" (the default partition); headers: HTTP headers
        or an edge message's properties (a spec may partition by one)."""
        started = time.perf_counter()
        self.metrics.transport(transport).requests.inc()
        model = self.slot.current  # read once: an entry-script model's run() takes the whole request
        if model is not None and model.entry is not None:
            return self._score_with_script(model, messages, transport, started)
        settings, extractor = self._live
        # The one place a message becomes a feature row; a cheap scorer then scores it on this same
        # (receiving) thread, so per-partition history updated here sees messages in this thread's order.
        if model is not None and model.features is not None:
            parsed, width = self._windowed(model.features, messages, sender, headers), model.features.width
        else:
            parsed, width = extractor.parse(messages), extractor.width
        good = [p for p in parsed if p.error is None]
        out: dict[int, dict] = {}
        if good:
            self._score_rows(out, good, model, width, settings)
        for p in parsed:
            if p.error is not None:
                out[id(p)] = results.failed(p.error, p.message_id)
                self.metrics.errors.labels(type(p.error).__name__).inc()
        self.metrics.transport(transport).latency.observe(time.perf_counter() - started)
        return [out[id(p)] for p in parsed]

    def _score_rows(self, out: dict, good: list[Parsed], model, width: int, settings: ScoringSection) -> None:
        try:
            X = to_matrix([p.row for p in good], width)
            scored = self.batcher.score(X)
            if model is not None and model.features is not None and scored.model is not model:
                # Swapped meanwhile: these rows follow this model's spec, so this model scores them.
                scored = Scored(self.batcher.call_model(model, X), model)
        except AgentError as exc:
            if len(good) > 1 and getattr(exc, "by_model", False):
                # The model refused some row (a value past float32's range, for a tree): halve the
                # list until the refused rows stand alone, so the rest of it is still scored.
                half = len(good) // 2
                self._score_rows(out, good[:half], model, width, settings)
                self._score_rows(out, good[half:], model, width, settings)
                return
            for p in good:
                out[id(p)] = results.failed(exc, p.message_id)
            self.metrics.errors.labels(type(exc).__name__).inc(len(good))
        else:
            self._fill(out, good, scored, settings)

    def _fill(self, out: dict, good: list[Parsed], scored: Scored, settings: ScoringSection) -> None:
        model = scored.model
        threshold = self.threshold_for(model, settings)
        scored_ok = 0
        for p, score in zip(good, scored.scores.tolist()):
            if math.isfinite(score):
                out[id(p)] = results.scored(score, threshold, model, p.message_id, p.warm)
                scored_ok += 1
            else:  # NaN has no JSON form and no order against the threshold
                error = ScoringFailed(f"model {model.version} returned a non-finite score ({score})")
                out[id(p)] = results.failed(error, p.message_id, model)
                self.metrics.errors.labels(type(error).__name__).inc()
        self.metrics.messages.inc(scored_ok)

    def _windowed(self, spec, messages: list[Any], sender, headers) -> list[Parsed]:
        """The history updated by each message, in arrival order, on the caller's thread: row + warm."""
        arrival = time.time()
        if spec.partition.kind == "field" or len(messages) == 1:
            return [self._windowed_one(spec, m, sender, headers, arrival) for m in messages]
        # A sender or header partition is the same for every message of the request: look it up once
        # (a header lookup in werkzeug's headers costs more than a message's window update), and update
        # that partition with the whole list in one call.
        key, refused = _request_key(spec, sender, headers)
        if refused is not None:
            return [Parsed(m, None, refused) for m in messages]
        rows = self.history.update_many(spec, key, messages, arrival)
        return [Parsed(m, None, r) if isinstance(r, BadInput) else Parsed(m, r.values, None, r.warm)
                for m, r in zip(messages, rows)]

    def _windowed_one(self, spec, message, sender, headers, arrival) -> Parsed:
        try:
            row = self.history.update(spec, partition_key(spec, message, sender, headers), message, arrival)
        except BadInput as exc:
            return Parsed(message, None, exc)
        return Parsed(message, row.values, None, row.warm)

    def _score_with_script(self, model, messages: list[Any], transport: str, started: float) -> list[dict]:
        """Azure ML entry script: each message goes to run() as its JSON string (scoring/entry_script.py)."""
        out = model.entry.run_messages(messages, model)
        failed = [r for r in out if "error" in r]
        for result in failed:
            self.metrics.errors.labels(str(result.get("error_type", "ScriptError"))).inc()
        self.metrics.messages.inc(len(out) - len(failed))
        self.metrics.transport(transport).latency.observe(time.perf_counter() - started)
        return out

    def score_matrix(self, X: np.ndarray) -> Scored:
        """Rows already numeric (Open Inference Protocol tensors); same batcher, same scorer."""
        model = self.slot.current
        if model is not None and model.features is not None:
            raise BadInput(f"model {model.version} computes its features from each sender's history (a feature "
                           "spec): send the messages to POST /score or the edge input instead of rows")
        if X.ndim != 2 or X.shape[1] != len(self.settings.features):
            raise BadInput(f"expected shape [n, {len(self.settings.features)}], got {list(X.shape)}")
        if not np.isfinite(X).all():
            raise BadInput("rows hold NaN or infinite values")
        return self.batcher.score(np.ascontiguousarray(X, dtype=np.float64))

    def stop(self) -> None:
        self.batcher.stop()


def _request_key(spec, sender, headers) -> tuple[str | None, BadInput | None]:
    """(the key every message of the request joins, or the error looking it up gave)."""
    try:
        return partition_key(spec, {}, sender, headers), None
    except BadInput as exc:
        return None, exc
