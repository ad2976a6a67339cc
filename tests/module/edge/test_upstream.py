"""The upstream policy without a broker: modes, summary windows (count, anomalies, mean/min/max/last), live changes."""

from __future__ import annotations

from module.edge.upstream import UpstreamPolicy
from module.settings import UpstreamSection

FEATURES = ("a.x", "a.y")


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def msg(x, y):
    return {"a": {"x": x, "y": y}}


def result(anomaly=False):
    return {"score": -0.5, "anomaly": anomaly, "threshold": -0.6, "model_version": "3"}


def policy(mode="summary", every=10.0):
    sent, clock = [], Clock()
    return UpstreamPolicy(UpstreamSection(mode=mode, summary_every_s=every), sent.append, clock), sent, clock


def test_all_and_anomalies_modes():
    p, sent, _ = policy("all")
    assert p.offer(msg(1, 2), result(), FEATURES) is True
    p.apply(UpstreamSection(mode="anomalies"))
    assert p.offer(msg(1, 2), result(False), FEATURES) is False
    assert p.offer(msg(1, 2), result(True), FEATURES) is True
    assert sent == []


def test_summary_window_statistics():
    p, sent, clock = policy()
    for x, y, bad in ((1.0, 10.0, False), (3.0, 20.0, True), (2.0, 30.0, False)):
        assert p.offer(msg(x, y), result(bad), FEATURES) is False
    p.tick()
    assert sent == []  # the window is still open
    clock.now += 10
    p.tick()
    [s] = sent
    assert s["type"] == "summary" and s["seq"] == 1
    assert s["count"] == 3 and s["anomalies"] == 1 and s["model_version"] == "3"
    assert s["features"]["a.x"] == {"mean": 2.0, "min": 1.0, "max": 3.0, "last": 2.0}
    assert s["features"]["a.y"] == {"mean": 20.0, "min": 10.0, "max": 30.0, "last": 30.0}


def test_empty_windows_still_report_and_number_in_sequence():
    p, sent, clock = policy(every=1)
    for _ in range(3):
        clock.now += 1
        p.tick()
    assert [(s["seq"], s["count"], s["features"]) for s in sent] == [(1, 0, {}), (2, 0, {}), (3, 0, {})]


def test_leaving_summary_mode_sends_the_open_window():
    p, sent, _ = policy()
    p.offer(msg(5, 5), result(), FEATURES)
    p.apply(UpstreamSection(mode="anomalies"))
    assert [s["count"] for s in sent] == [1]


def test_close_sends_a_partial_window_only_if_it_has_readings():
    p, sent, _ = policy()
    p.close()
    assert sent == []
    p.offer(msg(5, 5), result(), FEATURES)
    p.close()
    assert [s["count"] for s in sent] == [1]


def test_a_message_that_no_longer_fits_the_features_counts_without_values():
    p, sent, clock = policy()
    p.offer({"other": 1}, result(), FEATURES)
    clock.now += 10
    p.tick()
    assert sent[0]["count"] == 1 and sent[0]["features"] == {}
