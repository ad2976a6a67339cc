"""The module twin: desired documents into the agent (newest wins), reported patches out (never blocking).

The SDK runs desired-patch handlers on 4 threads and hands over the whole desired document after every
reconnect, so documents can arrive twice and out of order: one lock, and a `$version` below the one
applied is ignored. Reported patches come from any thread (agent.reported); one pusher thread merges
whatever is pending and sends it, retrying while edgeHub is unreachable, with a timeout on each call
because the SDK's own twin calls wait forever for an answer.
"""

from __future__ import annotations

import copy
import logging
import threading
from typing import Callable

log = logging.getLogger(__name__)

RETRY_FIRST_S = 0.2
RETRY_MAX_S = 5.0


def combine(older: dict, newer: dict) -> dict:
    """Two reported patches as one; unlike a twin merge, a null stays (it deletes on the hub)."""
    out = copy.deepcopy(older)
    for key, value in newer.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = combine(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class DesiredApplier:
    """on_twin_desired_properties_patch_received, and the desired half of get_twin()."""

    def __init__(self, handle_desired: Callable[..., None]):
        self._handle = handle_desired
        self._lock = threading.Lock()
        self.applied_version: int | None = None

    def __call__(self, doc: dict, whole: bool = False) -> None:
        """whole=True for get_twin()'s document: it replaces the state, so keys deleted meanwhile go."""
        try:
            self.apply(doc, whole)
        except Exception:  # the SDK would swallow it; the reported properties say what went wrong
            log.exception("desired state handling failed")

    def apply(self, doc: dict, whole: bool = False) -> None:
        if not isinstance(doc, dict):
            log.warning("desired document is not an object", extra={"type": type(doc).__name__})
            return
        version = doc.get("$version")
        with self._lock:
            if isinstance(version, int) and self.applied_version is not None and version < self.applied_version:
                log.info("stale desired document ignored",
                         extra={"desired_version": version, "applied_version": self.applied_version})
                return
            self._handle(doc, whole=whole)
            if isinstance(version, int):
                self.applied_version = version


class ReportedPusher:
    def __init__(self, patch_twin: Callable[[dict], None]):
        self._patch_twin = patch_twin
        self._pending: dict | None = None
        self._cond = threading.Condition()
        self._ready = False
        self._stopping = False
        self._sending = False
        self._thread = threading.Thread(target=self._run, name="edge-reported", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def offer(self, patch: dict) -> None:
        """agent.reported's subscriber: returns at once; the patch joins whatever is pending."""
        with self._cond:
            self._pending = combine(self._pending, patch) if self._pending else copy.deepcopy(patch)
            self._cond.notify_all()

    def connected(self) -> None:
        """Sending starts only once the client is connected (a send would auto-connect too early)."""
        with self._cond:
            self._ready = True
            self._cond.notify_all()

    def flush(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._pending is None and not self._sending, max(0.0, timeout))

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    def _take(self) -> dict | None:
        with self._cond:
            self._cond.wait_for(lambda: self._stopping or (self._ready and self._pending))
            if self._stopping:
                return None
            patch, self._pending, self._sending = self._pending, None, True
            return patch

    def _run(self) -> None:
        delay = RETRY_FIRST_S
        while (patch := self._take()) is not None:
            try:
                self._patch_twin(patch)
            except Exception as exc:
                log.warning("reported properties not sent; retrying", extra={"error": repr(exc)[:300]})
                with self._cond:
                    # Put it back in front of anything newer so the hub applies them in order.
                    self._pending = combine(patch, self._pending) if self._pending else patch
                    self._sending = False
                    self._cond.notify_all()
                    self._cond.wait_for(lambda: self._stopping, delay)
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            delay = RETRY_FIRST_S
            with self._cond:
                self._sending = False
                self._cond.notify_all()
