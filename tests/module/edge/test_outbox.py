"""The outbox without a broker: order kept across failures, overflow drops the oldest and counts it."""

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

    def send(self, message, output):
        self.attempts += 1
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
    # Wait until "first" is in flight (failing), then overfill the buffer behind it.
    while link.attempts == 0:
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
