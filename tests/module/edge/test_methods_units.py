"""The direct-method table without a broker: a build without model updates, and oversized answers."""

from __future__ import annotations

from types import SimpleNamespace

from module.edge.methods import MethodHandler


class Service:
    def score_messages(self, messages, transport):
        return [{"score": -0.5, "anomaly": False, "threshold": -0.6, "model_version": "1", "pad": "x" * 200}
                for _ in messages]


def handler(updater=None):
    return MethodHandler(SimpleNamespace(updater=updater, service=Service()), counters=dict)


def test_an_answer_over_128_kb_is_413():
    status, body = handler().handle("score", [{}] * 1000)
    assert status == 413 and "128 KB" in body["error"]


def test_an_updater_that_crashes_is_500_not_an_exception():
    class Broken:
        def rollback(self):
            raise KeyError("store")

    status, body = handler(Broken()).handle("rollback", {})
    assert status == 500 and "KeyError" in body["error"]
