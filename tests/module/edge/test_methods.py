"""Direct methods through the real SDK: score, status, rollback, reload, and bad payloads."""

from __future__ import annotations

import pytest

from .test_routes import NORMAL, ODD


@pytest.fixture
def hub(shared):
    return shared[0]


@pytest.fixture
def agent(shared):
    return shared[1]


def test_score_one_message(hub, agent):
    status, body = hub.invoke_method("score", NORMAL)
    assert status == 200
    assert body["anomaly"] is False and "score" in body


def test_score_a_list(hub, agent):
    status, body = hub.invoke_method("score", [NORMAL, ODD, {"machine": 1}])
    assert status == 200
    assert [r.get("anomaly") for r in body[:2]] == [False, True]
    assert "error" in body[2]


def test_score_bad_payloads_get_400_with_a_reason(hub, agent):
    for payload, words in (
        (None, "no payload"),
        ("\"just a string\"", "str"),  # raw str/bytes go as they are: send JSON text
        (42, "int"),
        ([], "empty list"),
    ):
        status, body = hub.invoke_method("score", payload)
        assert status == 400, (payload, body)
        assert words in body["error"]
    status, body = hub.invoke_method("score", {"machine": {"temperature": "hot"}})
    assert status == 400
    assert body["field"] == "machine.temperature"
    # Still serving after all of that.
    assert hub.invoke_method("score", NORMAL)[0] == 200


def test_status_names_the_model_and_counts(hub, agent):
    hub.send_input(NORMAL, correlation_id="for-status")
    hub.wait_correlated("scores", "for-status")
    status, body = hub.invoke_method("status", {})
    assert status == 200
    assert body["model"]["version"]
    assert body["counters"]["messages_scored"] >= 1
    assert body["counters"]["bytes_received"] > 0
    assert body["counters"]["connected"] is True
    assert body["upstream"]["mode"] == "anomalies"


def test_unknown_method_is_404(hub, agent):
    status, body = hub.invoke_method("selfDestruct", {})
    assert status == 404
    assert "score" in body["error"]

