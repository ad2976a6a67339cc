"""The outbox without a broker: sent on the caller's thread while the link is up, order kept across
failures, overflow drops the oldest and counts it."""

from __future__ import annotations

import threading

import pytest

from module.edge.outbox import Outbox


class FlakyLink:
    """send() fails while `up` is clear, like the SDK while edgeHub is down."""

    def __init__(self):
        self.up = threading.Event()
        self.sent: list[tuple[str, object]] = []
        self.attempts = 0
        self.threads: set[str] = set()

    def send(self, message, output):
        self.attempts += 1
        self.threads.add(threading.current_thread().name)
        if not self.up.is_set():
            raise ConnectionError("edgeHub unreachable")
        self.sent.append((output, message))


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

    def send(message, output):
        if message == "huge":
            raise ValueError("Size of message can not exceed 256 KB.")
        link.send(message, output)

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

    def slow_send(message, output):
        started.set()
        release.wait(10)
        link.send(message, output)

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
