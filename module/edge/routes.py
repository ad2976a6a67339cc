"""Input `telemetry` -> the scoring core -> outputs `scores`, `anomalies`, `upstream`, `errors`.

Runs on the SDK's message-handler threads (a pool of 4). The SDK has already acknowledged the input,
so an exception escaping here would lose it silently: every failure becomes an `errors` output.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from ..errors import BadInput
from ..scoring.features import parse_body
from . import messages
from .messages import InputMeta
from .upstream import UpstreamPolicy

log = logging.getLogger(__name__)

SCORES, ANOMALIES, UPSTREAM, ERRORS = "scores", "anomalies", "upstream", "errors"
TRANSPORT = "edge"


class Router:
    def __init__(self, agent, outbox, upstream: UpstreamPolicy, input_name: str, batcher=None):
        self.agent = agent
        self.outbox = outbox
        self.batcher = batcher
        """An OutputBatcher when edge.output_batch > 1: per-input outputs then go out as JSON lists."""
        self.upstream = upstream
        self.input_name = input_name
        self._cond = threading.Condition()
        self._running = 0
        self._last_start = 0.0

    # -- the SDK handler ---------------------------------------------------------------------------

    def on_message(self, message) -> None:
        """on_message_received: never raises (the SDK would log it and the input would be gone)."""
        with self._cond:
            self._running += 1
            self._last_start = time.monotonic()
        try:
            self._handle(message)
        except Exception as exc:
            log.exception("input handling failed")
            try:
                _, meta = messages.read_input(message)
                self._refuse(meta, f"internal error while handling the input: {exc!r}", "InternalError")
            except Exception:
                log.exception("could not even report the failure")
        finally:
            with self._cond:
                self._running -= 1
                self._cond.notify_all()

    def _handle(self, message) -> None:
        data, meta = messages.read_input(message)
        self.agent.metrics.transport(TRANSPORT).bytes_received.inc(len(data))
        if meta.input_name != self.input_name:
            self._refuse(meta, f"unknown input {meta.input_name!r}; this module reads {self.input_name!r}",
                         "UnknownInput")
            return
        try:
            bodies, _ = parse_body(data)
        except BadInput as exc:
            self._refuse(meta, str(exc), type(exc).__name__)
            return
        sender = f"{meta.source_device or '-'}/{meta.source_module or '-'}"  # whose history (feature specs)
        results = self.agent.service.score_messages(bodies, TRANSPORT, sender, meta.properties)
        features = self.agent.service.settings.features
        carried = messages.carried_properties(meta)
        for body, result in zip(bodies, results):
            self._route(body, result, meta, features, carried)

    # -- outputs -----------------------------------------------------------------------------------

    def _route(self, body: Any, result: dict, meta: InputMeta, features, carried: dict) -> None:
        if "error" in result:
            self._send(ERRORS, self._error_body(result, meta), meta, carried=carried)
            return
        # An entry script's run() may return any object: only a true "anomaly" goes to `anomalies`.
        anomaly = result.get("anomaly") is True
        props = {**carried, "modelVersion": str(result.get("model_version", ""))}
        if isinstance(result.get("anomaly"), bool):
            props["anomaly"] = "true" if anomaly else "false"
        self._send(SCORES, result, meta, carried=props)
        upstream = self.upstream.offer(body, result, features)
        if anomaly or upstream:
            # One body (result + reading), encoded once, for both outputs that carry the reading.
            with_reading = {**result, "message": body}
            data = messages.encode(with_reading)
            if anomaly:
                self._send(ANOMALIES, with_reading, meta, carried=props, droppable_key="message", data=data)
            if upstream:
                self._send(UPSTREAM, with_reading, meta, carried=props, droppable_key="message", data=data)

    def _refuse(self, meta: InputMeta, reason: str, error_type: str) -> None:
        log.warning("input refused", extra={"error": reason, "input": meta.input_name, "message_id": meta.message_id})
        self.agent.metrics.errors.labels(error_type).inc()
        self._send(ERRORS, self._error_body({"error": reason, "error_type": error_type}, meta), meta)

    @staticmethod
    def _error_body(result: dict, meta: InputMeta) -> dict:
        return {**result, "message_id": meta.message_id, "correlation_id": meta.correlation,
                "input": meta.input_name}

    def send_summary(self, summary: dict) -> None:
        """The upstream policy's window summaries (no input to correlate with)."""
        self._send(UPSTREAM, summary, None, {"type": "summary"})

    def _send(self, output: str, body: dict, meta: InputMeta | None, extra: dict | None = None,
              droppable_key: str | None = None, carried: dict | None = None, data: bytes | None = None) -> None:
        """`carried`: the input's properties (plus any extra) built once; `data`: `body` already encoded."""
        if self.batcher is not None and meta is not None:
            props = {**(messages.carried_properties(meta) if carried is None else carried), **(extra or {})}
            if meta.correlation:
                props["correlationId"] = meta.correlation
            self.batcher.add(output, body, props)
            return
        data = messages.encode(body) if data is None else data
        message = messages.build(data, meta, extra, carried)
        fits = messages.fits(message)  # the SDK's size estimate walks every property: once per message
        if not fits and droppable_key:
            # The original reading made it too big for edgeHub; the verdict still goes out.
            body = {k: v for k, v in body.items() if k != droppable_key}
            body[f"{droppable_key}_omitted"] = "over edgeHub's 256 KB message limit"
            data = messages.encode(body)
            message = messages.build(data, meta, extra, carried)
            fits = messages.fits(message)
        if not fits:
            self.outbox.discard(output, f"{len(data)} bytes is over edgeHub's 256 KB message limit")
            return
        self.outbox.put(output, message, len(data))

    # -- draining on SIGTERM -----------------------------------------------------------------------

    def wait_idle(self, idle_s: float, deadline: float) -> bool:
        """Until no input started for `idle_s` and none is running (the SDK acked queued ones already)."""
        with self._cond:
            while True:
                now = time.monotonic()
                quiet_for = now - self._last_start
                if self._running == 0 and quiet_for >= idle_s:
                    return True
                if now >= deadline:
                    return False
                wake = min(deadline, now + max(idle_s - quiet_for, 0.01))
                self._cond.wait(max(0.0, wake - now))

    def wait_done(self, deadline: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._running == 0, max(0.0, deadline - time.monotonic()))

    @property
    def running(self) -> int:
        return self._running
