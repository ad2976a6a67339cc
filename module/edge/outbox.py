"""Outputs to edgeHub: sent on the caller's thread while the link is up, else buffered and sent in order.

While edgeHub is connected and nothing is buffered, put() sends on the caller's own thread (the SDK
handler that scored the input): no hand-off to another thread, no wake-up. The first failed send
buffers that output and everything after it until the sender thread has delivered the whole buffer.

While edgeHub is down the SDK raises at once on every send, so outputs queue here (at most
`max_items`; beyond that the oldest are dropped, counted in `agent_outputs_dropped` and logged) and are
sent in order once it is back. One sender keeps the order; the SDK sends each with QoS 1 (at least once:
a send retried after a dropped link can arrive twice, and outputs carry a fresh message id for that).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

log = logging.getLogger(__name__)

RETRY_FIRST_S = 0.05
RETRY_MAX_S = 2.0
#: At most one "buffer full" warning per this many seconds; the counter has every drop.
DROP_LOG_EVERY_S = 5.0


@dataclass(frozen=True)
class Pending:
    output: str
    message: object
    size: int


class Outbox:
    def __init__(
        self,
        send: Callable[[object, str], None],
        max_items: int,
        on_sent: Callable[[str, int], None] = lambda output, size: None,
        on_dropped: Callable[[int], None] = lambda n: None,
    ):
        self._send = send
        self.max_items = max_items
        self._on_sent = on_sent
        self._on_dropped = on_dropped
        self._queue: collections.deque[Pending] = collections.deque()
        self._inflight: Pending | None = None
        self._buffering = False
        """Set by a failed send, cleared when the sender thread has emptied the buffer: new outputs
        queue behind the buffered ones meanwhile, so nothing overtakes an output that waits."""
        self._direct = 0
        lock = threading.Lock()
        self._cond = threading.Condition(lock)
        """The sender thread waits on this one (work queued, or stop)."""
        self._idle = threading.Condition(lock)
        """flush() waits on this one. Kept apart so that a direct send, once per output, wakes no thread
        (with one condition every output woke the idle sender thread for nothing)."""
        self._stopping = False
        self._dropped_since_log = 0
        self._last_drop_log = 0.0
        self.dropped = 0
        self.sent = 0
        self._thread = threading.Thread(target=self._run, name="edge-outbox", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue) + (self._inflight is not None)

    def put(self, output: str, message: object, size: int) -> None:
        """Send now on this thread while the link is up and nothing waits; else buffer (never blocks
        on a down link: a full buffer drops its oldest output)."""
        item = Pending(output, message, size)
        with self._cond:
            direct = not (self._buffering or self._queue or self._inflight or self._stopping)
            if direct:
                self._direct += 1
        if direct:
            self._send_direct(item)
            return
        self._enqueue(item)

    def _send_direct(self, item: Pending) -> None:
        try:
            self._send(item.message, item.output)
        except ValueError as exc:  # the SDK's size check: retrying cannot help
            self._finish_direct()
            self.discard(item.output, str(exc))
            return
        except Exception as exc:  # edgeHub unreachable: this output and all after it wait in order
            with self._cond:
                self._buffering = True
                self._queue.appendleft(item)
                self._direct -= 1
                self._cond.notify_all()
                self._idle.notify_all()
            log.warning("edgeHub unreachable: buffering outputs", extra={"error": repr(exc)[:300]})
            return
        self._finish_direct(sent=True)
        self._on_sent(item.output, item.size)

    def _finish_direct(self, sent: bool = False) -> None:
        with self._cond:
            self._direct -= 1
            self.sent += sent
            if not self._direct:
                self._idle.notify_all()

    def _enqueue(self, item: Pending) -> None:
        with self._cond:
            self._queue.append(item)
            over = len(self._queue) - self.max_items
            for _ in range(max(0, over)):
                self._queue.popleft()
            self._cond.notify_all()
        if over > 0:
            self._count_dropped(over, "output buffer full: oldest outputs dropped")

    def discard(self, output: str, reason: str) -> None:
        """An output that can never be sent (too large): counted and logged like an overflow."""
        self._count_dropped(1, f"output not sent: {reason}", output=output, force_log=True)

    def _count_dropped(self, n: int, what: str, output: str | None = None, force_log: bool = False) -> None:
        self._on_dropped(n)
        now = time.monotonic()
        with self._cond:
            self.dropped += n
            self._dropped_since_log += n
            due = force_log or now - self._last_drop_log >= DROP_LOG_EVERY_S
            if due:
                count, self._dropped_since_log, self._last_drop_log = self._dropped_since_log, 0, now
        if due:
            log.warning(what, extra={"dropped": count, "dropped_total": self.dropped, "output": output,
                                     "buffer_max": self.max_items})

    def flush(self, timeout: float) -> bool:
        """Wait until every buffered output is sent; False when time ran out first."""
        with self._cond:
            return self._idle.wait_for(lambda: not self._queue and self._inflight is None and not self._direct,
                                       max(0.0, timeout))

    def stop(self) -> int:
        """Stop the sender; returns how many outputs were still buffered (now lost, and counted)."""
        with self._cond:
            self._stopping = True
            left = len(self._queue) + (self._inflight is not None)
            self._queue.clear()
            self._cond.notify_all()
            self._idle.notify_all()
        if left:
            self._count_dropped(left, "outputs not delivered at shutdown", force_log=True)
        return left

    def _next(self) -> Pending | None:
        with self._cond:
            self._cond.wait_for(lambda: self._queue or self._stopping)
            if self._stopping:
                return None
            self._inflight = self._queue.popleft()
            return self._inflight

    def _run(self) -> None:
        while (item := self._next()) is not None:
            self._deliver(item)
            with self._cond:
                self._inflight = None
                if not self._queue:
                    self._buffering = False  # all delivered: new outputs go straight out again
                self._idle.notify_all()

    def _deliver(self, item: Pending) -> None:
        """Send one output, retrying with backoff until it goes, is refused for good, or we stop."""
        delay = RETRY_FIRST_S
        failures = 0
        while True:
            try:
                self._send(item.message, item.output)
            except ValueError as exc:  # the SDK's size check: retrying cannot help
                self.discard(item.output, str(exc))
                return
            except Exception as exc:  # edgeHub unreachable or the link dropped: keep it, retry in order
                failures += 1
                with self._cond:
                    self._buffering = True
                if failures == 1:
                    log.warning("edgeHub unreachable: buffering outputs", extra={"error": repr(exc)[:300],
                                                                                  "buffered": len(self)})
                with self._cond:
                    if self._cond.wait_for(lambda: self._stopping, delay):
                        return
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            if failures:
                log.info("edgeHub reachable again: sending buffered outputs", extra={"buffered": len(self)})
            with self._cond:
                self.sent += 1
            self._on_sent(item.output, item.size)
            return
