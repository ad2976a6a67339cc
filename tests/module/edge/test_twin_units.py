"""Twin plumbing without a broker: desired ordering by $version, reported patches merged and retried."""

from __future__ import annotations

import threading

from module.edge.twin import DesiredApplier, ReportedPusher, combine


def test_combine_keeps_nulls_and_merges_nested():
    assert combine({"a": {"x": 1, "y": 2}, "b": 1}, {"a": {"y": None}, "c": 3}) == {
        "a": {"x": 1, "y": None}, "b": 1, "c": 3}


def test_stale_desired_documents_are_ignored():
    seen = []
    apply = DesiredApplier(lambda doc, whole: seen.append((doc["$version"], whole)))
    apply({"$version": 5, "upstream": {"mode": "all"}})
    apply({"$version": 4, "upstream": {"mode": "anomalies"}})  # late, from another handler thread
    apply({"$version": 5, "upstream": {"mode": "all"}}, whole=True)  # get_twin() after a reconnect
    assert seen == [(5, False), (5, True)]  # the twin read replaces: whole reaches the agent


def test_a_failing_agent_never_raises_into_the_sdk():
    def boom(doc, whole):
        raise RuntimeError("bad")

    DesiredApplier(boom)({"$version": 1})
    DesiredApplier(boom)("not a dict")


def test_reported_patches_wait_for_the_connection_and_retry_in_order():
    sent, up = [], threading.Event()
    done = threading.Event()

    def patch_twin(patch):
        if not up.is_set():
            raise ConnectionError("down")
        sent.append(patch)
        done.set()

    pusher = ReportedPusher(patch_twin)
    pusher.start()
    pusher.offer({"model": {"status": "loading"}})
    pusher.connected()
    pusher.offer({"model": {"status": "active", "error": None}})
    threading.Event().wait(0.3)
    up.set()
    assert pusher.flush(10)
    merged = {}
    for patch in sent:
        merged = combine(merged, patch)
    assert merged == {"model": {"status": "active", "error": None}}
    pusher.stop()
