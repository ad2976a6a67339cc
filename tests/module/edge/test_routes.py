"""Telemetry through the real SDK over MQTT/TLS: scores, anomalies, upstream, errors, and their properties.

The tests share one agent (upstream mode `anomalies`) and read their own outputs back by correlation id.
"""

from __future__ import annotations

import json

import pytest

#: In the middle of the NAB series the embedded default model learnt from.
NORMAL = {"machine": {"temperature": 85.0, "pressure": 8.29}, "ambient": {"temperature": 21.0, "humidity": 25},
          "timeCreated": "2024-01-01T00:00:00.0000000Z"}
#: Cold machine, dry cold air: far from anything in the series (score about -0.75, threshold about -0.69).
ODD = {"machine": {"temperature": 10.0, "pressure": 1.0}, "ambient": {"temperature": 15.0, "humidity": 10},
       "timeCreated": "2024-01-01T00:00:05.0000000Z"}


@pytest.fixture
def hub(shared):
    return shared[0]


@pytest.fixture
def agent(shared):
    return shared[1]


def settle(hub, correlation_id: str) -> None:
    """A later input's score has arrived, so anything the earlier ones caused has been sent too
    (one sender sends the outputs in order)."""
    hub.send_input(NORMAL, correlation_id=correlation_id)
    hub.wait_correlated("scores", correlation_id)


def test_telemetry_gets_a_score_with_its_correlation_and_source(hub, agent):
    hub.send_input(NORMAL, message_id="m-1", correlation_id="corr-1", properties={"site": "plant 7"})
    [out] = hub.wait_correlated("scores", "corr-1")
    body = out.json()
    assert set(body) >= {"score", "anomaly", "threshold", "model_version"}
    assert body["anomaly"] is False
    assert out.system["content_type"] == "application/json"
    assert out.system["content_encoding"] == "utf-8"
    assert out.properties["sourceModule"] == "SimulatedTemperatureSensor"
    assert out.properties["sourceDevice"] == hub.device_id
    assert out.properties["sourceMessageId"] == "m-1"
    assert out.properties["site"] == "plant 7"
    assert out.properties["anomaly"] == "false"
    assert out.properties["modelVersion"] == body["model_version"]


def test_message_id_is_the_correlation_when_the_input_has_none(hub, agent):
    hub.send_input(NORMAL, message_id="only-mid")
    [out] = hub.wait_correlated("scores", "only-mid")
    assert out.properties["sourceMessageId"] == "only-mid"


def test_anomaly_goes_to_scores_anomalies_and_upstream(hub, agent):
    hub.send_input(ODD, correlation_id="odd-1")
    [score] = hub.wait_correlated("scores", "odd-1")
    [anomaly] = hub.wait_correlated("anomalies", "odd-1")
    [upstream] = hub.wait_correlated("upstream", "odd-1")
    assert score.json()["anomaly"] is True
    assert anomaly.json()["message"] == ODD
    assert anomaly.json()["score"] == score.json()["score"]
    assert upstream.json()["message"] == ODD
    assert anomaly.properties["anomaly"] == "true"


def test_normal_reading_stays_off_anomalies_and_upstream(hub, agent):
    hub.send_input(NORMAL, correlation_id="n-1")
    hub.wait_correlated("scores", "n-1")
    settle(hub, "n-1-settle")
    assert hub.correlated("anomalies", "n-1") == []
    assert hub.correlated("upstream", "n-1") == []


def test_bad_message_goes_to_errors_and_the_next_one_is_scored(hub, agent):
    hub.send_input(b"{not json", message_id="bad-1", correlation_id="c-bad")
    hub.send_input({"machine": {"temperature": "hot"}}, message_id="bad-2")
    hub.send_input(NORMAL, message_id="good-1")
    [bad_json] = hub.wait_correlated("errors", "c-bad")
    [bad_field] = hub.wait_correlated("errors", "bad-2")
    hub.wait_correlated("scores", "good-1")
    assert "not valid JSON" in bad_json.json()["error"]
    assert bad_json.json()["message_id"] == "bad-1"
    assert bad_field.json()["field"] == "machine.temperature"
    assert hub.correlated("scores", "c-bad") == [] and hub.correlated("scores", "bad-2") == []
    assert agent.process.poll() is None


def test_unknown_input_is_answered_on_errors(hub, agent):
    hub.send_input(NORMAL, input_name="somethingElse", message_id="x-1")
    [err] = hub.wait_correlated("errors", "x-1")
    assert err.json()["error_type"] == "UnknownInput"
    assert err.json()["input"] == "somethingElse"
    hub.send_input(NORMAL, message_id="x-2")
    hub.wait_correlated("scores", "x-2")
    assert hub.correlated("scores", "x-1") == []


def test_a_list_body_gets_one_score_per_message(hub, agent):
    hub.send_input([NORMAL, ODD, {"machine": {}}], correlation_id="batch-1")
    scores = hub.wait_correlated("scores", "batch-1", 2)
    [err] = hub.wait_correlated("errors", "batch-1")
    assert sorted(o.json()["anomaly"] for o in scores) == [False, True]
    assert err.json()["field"] == "machine.temperature"


def test_bytes_received_and_sent_are_counted(hub, agent):
    before = agent.metric("agent_bytes_received_total")
    hub.send_input(NORMAL, correlation_id="bytes-1")
    [out] = hub.wait_correlated("scores", "bytes-1")
    # Counted before scoring, so it is in by the time the score has arrived.
    assert agent.metric("agent_bytes_received_total") >= before + len(b'{"machine"')
    assert agent.metric("agent_bytes_sent_total") >= len(out.body)


def test_an_anomaly_too_big_to_copy_still_goes_out_without_the_reading(hub, agent):
    # Just under edgeHub's 256 KB as it arrives; with the verdict added it would be over.
    big = {**ODD, "pad": ""}
    big["pad"] = "x" * (262_000 - len(json.dumps(big)))
    hub.send_input(big, correlation_id="big-1")
    [score] = hub.wait_correlated("scores", "big-1")
    [anomaly] = hub.wait_correlated("anomalies", "big-1")
    assert score.json()["anomaly"] is True
    body = anomaly.json()
    assert "message" not in body and "256 KB" in body["message_omitted"]
