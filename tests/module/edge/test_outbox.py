"""The outbox without a broker: handed over on the caller's thread while the link is up, settled when
the link acknowledges, order kept across failures (also of outputs already in flight), overflow drops
the oldest and counts it."""

from __future__ import annotations

import threading

import pytest

from module.edge import outbox
from module.edge.outbox import Outbox


class FlakyLink:
    """send() fails while `up` is clear, like the SDK while edgeHub is down."""

    def __init__(self):
        self.up = threading.Event()
        self.sent: list[tuple[str, object]] = []
        self.attempts = 0
        self.threads: set[str] = set()

    def send(self, message, output, done):
        self.attempts += 1
        self.threads.add(threading.current_thread().name)
        if not self.up.is_set():
            raise ConnectionError("edgeHub unreachable")
        self.sent.append((output, message))
        done()


class AckingLink:
    """Like the SDK's pipeline: send() returns at once, the acknowledgement (or an error) comes
    later from another thread, when the test answers; with `auto` set every send is answered at once."""

    def __init__(self):
        self.waiting: dict[object, object] = {}
        self.acked: list[object] = []
        self.attempts: list[object] = []
        self.auto = threading.Event()
        self.lock = threading.Lock()

    def send(self, message, output, done):
        with self.lock:
            self.attempts.append(message)
            if not self.auto.is_set():
                self.waiting[message] = done
                return
        self._answer_from_another_thread({message: done}, None)

    def answer(self, messages, error=None):
        with self.lock:
            dones = {m: self.waiting.pop(m) for m in messages}
        self._answer_from_another_thread(dones, error)

    def _answer_from_another_thread(self, dones, error):
        def run():
            for message, done in dones.items():
                if error is None:
                    with self.lock:
                        self.acked.append(message)
                done(error=error)

        t = threading.Thread(target=run)
        t.start()
        t.join(5)


@pytest.fixture
def link():
    return FlakyLink()


def make(link, max_items=100):
    dropped = []
    sent_bytes = []
    box = Outbox(link.send, max_items, lambda o, n: sent_bytes.append((o, n)), dropped.append)
    box.start()
    return box, dropped, sent_bytes


def test_sends_in_order_once_the_link_is_up(link):
    box, dropped, sent_bytes = make(link)
    for i in range(20):
        box.put("scores", i, 10)
    assert not box.flush(0.3)
    link.up.set()
    assert box.flush(10)
    assert [m for _, m in link.sent] == list(range(20))
    assert sum(n for _, n in sent_bytes) == 200
    assert dropped == [] and box.dropped == 0
    box.stop()


def test_overflow_drops_the_oldest_and_counts(link):
    box, dropped, _ = make(link, max_items=5)
    box.put("scores", "first", 1)
    # Wait until "first" is in flight in the sender thread (the caller's own try failed at once),
    # then overfill the buffer behind it.
    while link.attempts < 2:
        threading.Event().wait(0.01)
    for i in range(12):
        box.put("scores", i, 1)
    link.up.set()
    assert box.flush(10)
    assert [m for _, m in link.sent] == ["first", 7, 8, 9, 10, 11]
    assert sum(dropped) == 7 == box.dropped
    box.stop()


def test_too_large_is_discarded_not_retried(link):
    link.up.set()

    def send(message, output, done):
        if message == "huge":
            raise ValueError("Size of message can not exceed 256 KB.")
        link.send(message, output, done)

    dropped = []
    box = Outbox(send, 10, on_dropped=dropped.append)
    box.start()
    for m in ("a", "huge", "b"):
        box.put("upstream", m, 1)
    assert box.flush(10)
    assert [m for _, m in link.sent] == ["a", "b"]
    assert dropped == [1]
    box.stop()


def test_stop_counts_what_was_never_sent(link):
    box, dropped, _ = make(link)
    for i in range(3):
        box.put("scores", i, 1)
    assert box.stop() == 3
    assert sum(dropped) == 3


def test_connected_outputs_go_out_on_the_callers_thread(link):
    link.up.set()
    box, _, sent_bytes = make(link)
    for i in range(5):
        box.put("scores", i, 3)
    assert [m for _, m in link.sent] == list(range(5)), "sent before put() returned"
    assert link.threads == {threading.current_thread().name}
    assert box.sent == 5 and sum(n for _, n in sent_bytes) == 15 and len(box) == 0
    box.stop()


def test_connected_then_down_then_up_loses_and_reorders_nothing(link):
    link.up.set()
    box, dropped, _ = make(link)
    for i in range(10):
        box.put("scores", i, 1)
    link.up.clear()
    for i in range(10, 30):
        box.put("scores", i, 1)
    assert len(box) == 20
    link.up.set()
    # While the sender drains the buffer, new outputs must queue behind it, never overtake it.
    for i in range(30, 60):
        box.put("scores", i, 1)
    assert box.flush(10)
    assert [m for _, m in link.sent] == list(range(60))
    assert "edge-outbox" in link.threads and dropped == []
    for i in range(60, 65):  # drained: the caller's thread sends again
        box.put("scores", i, 1)
    assert [m for _, m in link.sent][-5:] == list(range(60, 65))
    assert len(box) == 0
    box.stop()


def test_many_producers_through_flapping_links_each_keep_their_order(link):
    link.up.set()
    box, dropped, _ = make(link, max_items=100_000)
    producers, per_producer = 4, 400
    start = threading.Barrier(producers + 1)

    def produce(p):
        start.wait()
        for i in range(per_producer):
            box.put("scores", (p, i), 1)
            if i % 40 == 0:
                threading.Event().wait(0.003)  # let the link flip under the producers

    threads = [threading.Thread(target=produce, args=(p,)) for p in range(producers)]
    for t in threads:
        t.start()
    start.wait()
    flips = 0
    while any(t.is_alive() for t in threads):
        (link.up.clear if flips % 2 == 0 else link.up.set)()
        flips += 1
        threading.Event().wait(0.002)
    link.up.set()
    assert box.flush(20)
    assert dropped == []
    assert "edge-outbox" in link.threads and len(link.threads) > 1, "both paths were exercised"
    for p in range(producers):
        assert [i for q, i in (m for _, m in link.sent) if q == p] == list(range(per_producer))
    box.stop()


def test_flush_waits_for_a_send_in_progress_on_a_callers_thread(link):
    link.up.set()
    release = threading.Event()
    started = threading.Event()

    def slow_send(message, output, done):
        started.set()
        release.wait(10)
        link.send(message, output, done)

    box = Outbox(slow_send, 10)
    box.start()
    sender = threading.Thread(target=box.put, args=("scores", "slow", 1))
    sender.start()
    assert started.wait(5)
    assert not box.flush(0.2)
    release.set()
    assert box.flush(5)
    assert [m for _, m in link.sent] == ["slow"]
    sender.join(5)
    box.stop()


def wait_until(predicate, timeout=5.0):
    deadline = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return True
        deadline.wait(0.01)
    return predicate()


def waiting_put(box, message):
    """put() on a thread of its own, which is still waiting for room after 0.2 s."""
    producer = threading.Thread(target=box.put, args=("scores", message, 1))
    producer.start()
    producer.join(0.2)
    assert producer.is_alive(), "put() waits for room"
    return producer


def acking(max_in_flight=outbox.IN_FLIGHT_MAX, puts=0):
    """An outbox on an AckingLink, started, with outputs 0..puts-1 put: (link, box, dropped counts)."""
    link = AckingLink()
    dropped: list[int] = []
    box = Outbox(link.send, 100, on_dropped=dropped.append, max_in_flight=max_in_flight)
    box.start()
    for i in range(puts):
        box.put("scores", i, 1)
    return link, box, dropped


def test_put_returns_before_the_acknowledgement_and_counts_on_it():
    link = AckingLink()
    sent_bytes = []
    box = Outbox(link.send, 100, lambda o, n: sent_bytes.append(n))
    box.start()
    for i in range(5):
        box.put("scores", i, 2)
    assert link.attempts == list(range(5)), "all handed over without waiting"
    assert len(box) == 5 and box.sent == 0 and sent_bytes == []
    assert not box.flush(0.2)
    link.answer(range(5))
    assert box.flush(5)
    assert box.sent == 5 and sum(sent_bytes) == 10 and len(box) == 0
    box.stop()


def test_outputs_that_fail_in_flight_go_again_in_order_before_later_ones():
    link, box, dropped = acking(puts=10)
    link.answer([0, 1, 2])
    # The link drops: the SDK fails what it still held, in whatever order its threads answer.
    link.answer([9, 8, 3], error=ConnectionError("dropped"))
    for i in range(10, 13):  # put while outputs wait: they queue behind them
        box.put("scores", i, 1)
    assert len(link.attempts) == 10, "nothing is sent past a failed output while others are in flight"
    link.auto.set()
    link.answer([4, 5, 6, 7], error=ConnectionError("dropped"))
    assert box.flush(10)
    assert link.acked == list(range(13))
    assert dropped == [] and box.sent == 13
    box.put("scores", 13, 1)  # drained: straight out from the caller's thread again
    assert box.flush(5) and link.acked[-1] == 13 and link.attempts.count(13) == 1
    box.stop()


def test_past_the_in_flight_limit_put_waits_for_an_acknowledgement():
    link, box, _ = acking(max_in_flight=3, puts=3)
    producer = waiting_put(box, 3)
    assert link.attempts == [0, 1, 2]
    link.answer([0])
    producer.join(5)
    assert not producer.is_alive() and link.attempts == [0, 1, 2, 3]
    link.answer([1, 2, 3])
    assert box.flush(5) and link.acked == [0, 1, 2, 3] and box.sent == 4
    box.stop()


def test_with_no_room_for_long_the_output_is_buffered_in_order(monkeypatch):
    monkeypatch.setattr(outbox, "ROOM_WAIT_S", 0.2)
    link, box, _ = acking(max_in_flight=2, puts=4)  # 2 and 3 wait 0.2 s each, then queue
    assert link.attempts == [0, 1] and len(box) == 4
    link.auto.set()
    link.answer([0, 1])
    assert box.flush(10)
    assert link.acked == [0, 1, 2, 3]
    box.stop()


def test_stop_counts_outputs_in_flight_and_a_late_answer_changes_nothing():
    link, box, dropped = acking(puts=4)
    link.answer([0])
    assert wait_until(lambda: box.sent == 1)
    assert box.stop() == 3 and sum(dropped) == 3
    link.answer([1, 2])
    link.answer([3], error=ConnectionError("cancelled by shutdown"))
    assert box.sent == 1 and box.dropped == 3 and len(box) == 0


def test_a_buffered_output_waits_for_its_acknowledgement_before_the_next():
    link, box, _ = acking(puts=1)
    link.answer([0], error=ConnectionError("down"))
    box.put("scores", 1, 1)
    assert wait_until(lambda: link.attempts == [0, 0])
    threading.Event().wait(0.3)
    assert link.attempts == [0, 0], "the sender waits for the answer before the next output"
    link.auto.set()
    link.answer([0])
    assert box.flush(5) and link.acked == [0, 1]
    box.stop()


def test_a_put_waiting_for_room_buffers_behind_an_output_that_failed():
    link, box, _ = acking(max_in_flight=1, puts=1)
    producer = waiting_put(box, 1)
    link.auto.set()
    link.answer([0], error=ConnectionError("dropped"))
    producer.join(5)
    assert not producer.is_alive()
    assert box.flush(10) and link.acked == [0, 1]
    box.stop()
