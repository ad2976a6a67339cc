"""Telemetry through the real SDK over MQTT/TLS: scores, anomalies, upstream, errors, and their properties."""

from __future__ import annotations

#: In the middle of the NAB series the embedded default model learnt from.
NORMAL = {"machine": {"temperature": 85.0, "pressure": 8.29}, "ambient": {"temperature": 21.0, "humidity": 25},
          "timeCreated": "2024-01-01T00:00:00.0000000Z"}
#: Cold machine, dry cold air: far from anything in the series (score about -0.75, threshold about -0.69).
ODD = {"machine": {"temperature": 10.0, "pressure": 1.0}, "ambient": {"temperature": 15.0, "humidity": 10},
       "timeCreated": "2024-01-01T00:00:05.0000000Z"}


def test_telemetry_gets_a_score_with_its_correlation_and_source(hub, agent):
    hub.send_input(NORMAL, message_id="m-1", correlation_id="corr-1", properties={"site": "plant 7"})
    [out] = hub.wait_outputs("scores", 1)
    body = out.json()
    assert set(body) >= {"score", "anomaly", "threshold", "model_version"}
    assert body["anomaly"] is False
    assert out.correlation_id == "corr-1"
    assert out.system["content_type"] == "application/json"
    assert out.system["content_encoding"] == "utf-8"
    assert out.properties["sourceModule"] == "SimulatedTemperatureSensor"
    assert out.properties["sourceMessageId"] == "m-1"
    assert out.properties["site"] == "plant 7"
    assert out.properties["anomaly"] == "false"
    assert out.properties["modelVersion"] == body["model_version"]


def test_message_id_is_the_correlation_when_the_input_has_none(hub, agent):
    hub.send_input(NORMAL, message_id="only-mid")
    [out] = hub.wait_outputs("scores", 1)
    assert out.correlation_id == "only-mid"


def test_anomaly_goes_to_scores_anomalies_and_upstream(hub, agent):
    hub.send_input(ODD, correlation_id="odd-1")
    [score] = hub.wait_outputs("scores", 1)
    [anomaly] = hub.wait_outputs("anomalies", 1)
    [upstream] = hub.wait_outputs("upstream", 1)
    assert score.json()["anomaly"] is True
    assert anomaly.json()["message"] == ODD
    assert anomaly.json()["score"] == score.json()["score"]
    assert upstream.json()["message"] == ODD
    assert {o.correlation_id for o in (score, anomaly, upstream)} == {"odd-1"}
    assert anomaly.properties["anomaly"] == "true"


def test_normal_reading_stays_off_anomalies_and_upstream(hub, agent):
    hub.send_input(NORMAL, correlation_id="n-1")
    hub.send_input(ODD, correlation_id="o-1")
    hub.wait_outputs("scores", 2)
    hub.wait_outputs("upstream", 1)
    assert [o.correlation_id for o in hub.outputs("anomalies")] == ["o-1"]
    assert [o.correlation_id for o in hub.outputs("upstream")] == ["o-1"]


def test_bad_message_goes_to_errors_and_the_next_one_is_scored(hub, agent):
    hub.send_input(b"{not json", message_id="bad-1", correlation_id="c-bad")
    hub.send_input({"machine": {"temperature": "hot"}}, message_id="bad-2")
    hub.send_input(NORMAL, message_id="good-1")
    errors = hub.wait_outputs("errors", 2)
    [score] = hub.wait_outputs("scores", 1)
    by_id = {e.json()["message_id"]: e.json() for e in errors}
    assert "not valid JSON" in by_id["bad-1"]["error"]
    assert by_id["bad-1"]["correlation_id"] == "c-bad"
    assert by_id["bad-2"]["field"] == "machine.temperature"
    assert score.properties["sourceMessageId"] == "good-1"
    assert agent.process.poll() is None


def test_unknown_input_is_answered_on_errors(hub, agent):
    hub.send_input(NORMAL, input_name="somethingElse", message_id="x-1")
    [err] = hub.wait_outputs("errors", 1)
    assert err.json()["error_type"] == "UnknownInput"
    assert "somethingElse" in err.json()["error"]
    hub.send_input(NORMAL, message_id="x-2")
    hub.wait_outputs("scores", 1)


def test_a_list_body_gets_one_score_per_message(hub, agent):
    hub.send_input([NORMAL, ODD, {"machine": {}}], message_id="batch-1")
    scores = hub.wait_outputs("scores", 2)
    [err] = hub.wait_outputs("errors", 1)
    assert sorted(o.json()["anomaly"] for o in scores) == [False, True]
    assert err.json()["field"] == "machine.temperature"
