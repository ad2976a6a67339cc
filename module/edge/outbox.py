"""Outputs to edgeHub: handed to the SDK without waiting while the link is up, else buffered and sent in order.

While edgeHub is connected and nothing is buffered, put() hands the output to the SDK on the caller's
own thread (the SDK handler that scored the input) and returns: the SDK calls back once edgeHub has
acknowledged it (QoS 1 PUBACK). Waiting for that acknowledgement per output, as the SDK's public
send does, was the largest per-message cost on the edgeHub path (docs/benchmarks.md). At most
`max_in_flight` outputs are unacknowledged at a time; past that, put() waits for an acknowledgement
(the handler threads slow down to what edgeHub takes, as they did when every send waited), at most
ROOM_WAIT_S, then buffers.

An output whose send fails goes back into the buffer at its place (outputs are numbered), and everything
after it waits behind it: the sender thread delivers the buffer one output at a time, each only once
the one before was acknowledged, and only after every output still in flight has settled, so a failed
output is never overtaken by a later one it was sent before. While edgeHub is down the SDK fails every
send at once, so outputs queue here (at most `max_items`; beyond that the oldest are dropped, counted in
`agent_outputs_dropped` and logged) and are sent in order once it is back. QoS 1 is at least once: an
output resent after a dropped link can arrive twice, and outputs carry a fresh message id for that.
"""

from __future__ import annotations

import bisect
import collections
import itertools
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
#: Outputs handed to the SDK and not yet acknowledged; past it, put() waits for room (see put).
IN_FLIGHT_MAX = 1000
#: The longest put() waits for room in flight before it buffers the output instead.
ROOM_WAIT_S = 5.0
#: How often a sender waiting for an acknowledgement looks whether the outbox is stopping.
STOP_POLL_S = 0.25

Done = Callable[..., None]
"""done(error=None): called once per send, on any thread, when edgeHub acknowledged it or it failed."""
Send = Callable[[object, str, Done], None]
"""send(message, output, done): starts a send and returns; raises at once when it cannot start
(ValueError: too large, never retried; anything else: retried in order)."""


@dataclass(frozen=True)
class Pending:
    seq: int
    output: str
    message: object
    size: int


class Stopped(Exception):
    """The outbox stopped while a buffered output waited for its acknowledgement."""


class Outbox:
    def __init__(
        self,
        send: Send,
        max_items: int,
        on_sent: Callable[[str, int], None] = lambda output, size: None,
        on_dropped: Callable[[int], None] = lambda n: None,
        max_in_flight: int = IN_FLIGHT_MAX,
    ):
        self._send = send
        self.max_items = max_items
        self.max_in_flight = max_in_flight
        self._on_sent = on_sent
        self._on_dropped = on_dropped
        self._seq = itertools.count()
        self._queue: collections.deque[Pending] = collections.deque()
        """Buffered outputs in the order they were put (by seq)."""
        self._flying: dict[int, Pending] = {}
        """Handed to the SDK from put(), not yet acknowledged."""
        self._inflight: Pending | None = None
        """The buffered output the sender thread is delivering."""
        self._buffering = False
        """Set by a failed send, cleared when the sender thread has emptied the buffer: new outputs
        queue behind the buffered ones meanwhile, so nothing overtakes an output that waits."""
        lock = threading.Lock()
        self._cond = threading.Condition(lock)
        """The sender thread waits on this one (work queued and nothing in flight, or stop)."""
        self._idle = threading.Condition(lock)
        """flush() waits on this one. Kept apart so that a direct send, once per output, wakes no thread."""
        self._room = threading.Condition(lock)
        """put() waits on this one while max_in_flight outputs are unacknowledged."""
        self._waiting_room = 0
        self._stopping = False
        self._dropped_since_log = 0
        self._last_drop_log = 0.0
        self.dropped = 0
        self.sent = 0
        self._thread = threading.Thread(target=self._run, name="edge-outbox", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def __len__(self) -> int:
        """Outputs not yet acknowledged by edgeHub: buffered, being delivered, or in flight."""
        with self._cond:
            return self._unsettled()

    def _unsettled(self) -> int:
        return len(self._queue) + (self._inflight is not None) + len(self._flying)

    # -- put: the caller's thread ------------------------------------------------------------------

    def put(self, output: str, message: object, size: int) -> None:
        """Hand to the SDK now while the link is up and nothing waits; else buffer. Never blocks on
        edgeHub: a full buffer drops its oldest output."""
        with self._cond:
            if self._open() and len(self._flying) >= self.max_in_flight:
                self._wait_for_room()
            item = Pending(next(self._seq), output, message, size)
            direct = self._open() and len(self._flying) < self.max_in_flight
            if direct:
                self._flying[item.seq] = item
        if not direct:
            self._enqueue(item)
            return
        try:
            self._send(item.message, item.output, lambda error=None, **_: self._settle(item, error))
        except ValueError as exc:  # the SDK's size check: retrying cannot help
            with self._cond:
                self._flying.pop(item.seq, None)
                self._notify_if_idle()
            self.discard(item.output, str(exc))
        except Exception as exc:
            self._settle(item, exc)

    def _open(self) -> bool:
        """Outputs may go straight to the SDK: nothing buffered or being delivered, not stopping."""
        return not (self._buffering or self._queue or self._inflight or self._stopping)

    def _wait_for_room(self) -> None:
        self._waiting_room += 1
        try:
            self._room.wait_for(lambda: len(self._flying) < self.max_in_flight or not self._open(),
                                ROOM_WAIT_S)
        finally:
            self._waiting_room -= 1

    def _settle(self, item: Pending, error: BaseException | None) -> None:
        """The SDK's answer for an output put() handed over (on the SDK's callback thread)."""
        with self._cond:
            if self._flying.pop(item.seq, None) is None:
                return  # stop() already counted it as not delivered
            if self._waiting_room:
                self._room.notify()
            if error is None:
                self.sent += 1
                self._notify_if_idle()
            else:
                first = not self._buffering
                self._buffering = True
                over = self._insert_in_order(item)
                self._cond.notify_all()
                self._room.notify_all()  # waiting puts now buffer behind it
        if error is None:
            self._on_sent(item.output, item.size)
            return
        if first:
            log.warning("edgeHub unreachable: buffering outputs", extra={"error": repr(error)[:300]})
        if over > 0:
            self._count_dropped(over, "output buffer full: oldest outputs dropped")

    def _insert_in_order(self, item: Pending) -> int:
        """Puts a failed output back at its place; drops the oldest past max_items (returns how many)."""
        if not self._queue or self._queue[-1].seq < item.seq:
            self._queue.append(item)
        else:
            self._queue.insert(bisect.bisect(self._queue, item.seq, key=lambda p: p.seq), item)
        return self._trim()

    def _trim(self) -> int:
        over = len(self._queue) - self.max_items
        for _ in range(max(0, over)):
            self._queue.popleft()
        return over

    def _notify_if_idle(self) -> None:
        if not self._flying:
            self._idle.notify_all()
            self._cond.notify_all()  # the sender may wait for the flight to settle

    def _enqueue(self, item: Pending) -> None:
        with self._cond:
            self._queue.append(item)
            over = self._trim()
            self._cond.notify_all()
        if over > 0:
            self._count_dropped(over, "output buffer full: oldest outputs dropped")

    # -- drops, flush, stop --------------------------------------------------------------------------

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
        """Wait until every output is acknowledged; False when time ran out first."""
        with self._cond:
            return self._idle.wait_for(lambda: not self._unsettled(), max(0.0, timeout))

    def stop(self) -> int:
        """Stop the sender; returns how many outputs were not acknowledged yet, now counted as not
        delivered (at least once: some of those in flight may still arrive)."""
        with self._cond:
            self._stopping = True
            left = self._unsettled()
            self._queue.clear()
            self._flying.clear()
            self._cond.notify_all()
            self._idle.notify_all()
            self._room.notify_all()
        if left:
            self._count_dropped(left, "outputs not delivered at shutdown", force_log=True)
        return left

    # -- the sender thread: the buffer, in order -----------------------------------------------------

    def _next(self) -> Pending | None:
        with self._cond:
            # Outputs still in flight go first: one that fails is put back ahead of the buffer.
            self._cond.wait_for(lambda: (self._queue and not self._flying) or self._stopping)
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
                    self._buffering = False  # all delivered: outputs go straight out again
                self._idle.notify_all()

    def _deliver(self, item: Pending) -> None:
        """Send one output and wait for its acknowledgement, retrying with backoff until it goes,
        is refused for good, or we stop."""
        delay = RETRY_FIRST_S
        failures = 0
        while True:
            try:
                self._send_and_wait(item)
            except ValueError as exc:  # the SDK's size check: retrying cannot help
                self.discard(item.output, str(exc))
                return
            except Stopped:
                return
            except Exception as exc:  # edgeHub unreachable or the link dropped: keep it, retry in order
                failures += 1
                if failures == 1:
                    log.warning("edgeHub unreachable: buffering outputs", extra={"error": repr(exc)[:300],
                                                                                  "buffered": len(self)})
                with self._cond:
                    self._buffering = True
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

    def _send_and_wait(self, item: Pending) -> None:
        answered = threading.Event()
        errors: list[BaseException | None] = []

        def done(error=None, **_):
            errors.append(error)
            answered.set()

        self._send(item.message, item.output, done)
        while not answered.wait(STOP_POLL_S):
            if self._stopping:
                raise Stopped
        if errors[0] is not None:
            raise errors[0]
