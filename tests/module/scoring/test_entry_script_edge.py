"""An entry script's results on the edge outputs: the real SDK over MQTT/TLS (mosquitto + edgeHub stand-in),
the agent as `python -m module` with AGENT_AGENT_ENTRY_SCRIPT, as a device runs it."""

from __future__ import annotations

import pytest

from tests.helpers.edgehub_standin import EdgeHubStandin
from tests.helpers.mosquitto import Mosquitto
from tests.module.edge.harness import REPO, AgentProcess

EXAMPLE = REPO / "examples" / "azureml_iot_score" / "iot_score.py"

COLD = {"machine": {"temperature": 21.32, "pressure": 1.04}, "ambient": {"temperature": 20.86, "humidity": 25},
        "timeCreated": "2024-01-01T00:00:00.0000000Z"}
WARM = {"machine": {"temperature": 85.0, "pressure": 8.29}, "ambient": {"temperature": 21.0, "humidity": 25},
        "timeCreated": "2024-01-01T00:00:05.0000000Z"}


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    folder = tmp_path_factory.mktemp("entry-edge")
    with Mosquitto(folder / "broker") as broker, EdgeHubStandin(broker, desired={}) as hub:
        with AgentProcess(hub, folder / "data", env={"AGENT_AGENT_ENTRY_SCRIPT": str(EXAMPLE), "AGENT_AGENT_DEFAULT_MODEL": "nab-forest"}) as agent:
            agent.wait_connected()
            yield hub, agent


def test_script_result_goes_to_scores_and_anomalies(edge):
    hub, _ = edge
    hub.send_input(COLD, correlation_id="cold-1")
    [score] = hub.wait_correlated("scores", "cold-1")
    [anomaly] = hub.wait_correlated("anomalies", "cold-1")
    assert score.json() == {**COLD, "anomaly": True, "model_version": "embedded-default-1"}
    assert score.properties["anomaly"] == "true" and score.properties["modelVersion"] == "embedded-default-1"
    assert anomaly.json()["message"] == COLD


def test_a_normal_reading_goes_to_scores_only(edge):
    hub, _ = edge
    hub.send_input(WARM, correlation_id="warm-1")
    [score] = hub.wait_correlated("scores", "warm-1")
    assert score.json()["anomaly"] is False
    hub.send_input(COLD, correlation_id="after-warm")  # sent after, in order: warm's outputs are all out
    hub.wait_correlated("scores", "after-warm")
    assert hub.correlated("anomalies", "warm-1") == []


def test_run_raising_goes_to_errors_and_the_module_carries_on(edge):
    hub, agent = edge
    hub.send_input({"no": "machine"}, correlation_id="bad-1")
    [error] = hub.wait_correlated("errors", "bad-1")
    body = error.json()
    assert body["error_type"] == "ScoringFailed" and "KeyError('machine')" in body["error"]
    assert body["model_version"] == "embedded-default-1"
    hub.send_input(WARM, correlation_id="good-after-bad")
    assert hub.wait_correlated("scores", "good-after-bad")[0].json()["model_version"] == "embedded-default-1"
    assert agent.process.poll() is None


PLAIN_SCRIPT = """
import json

def init():
    pass

def run(input_str):
    message = json.loads(input_str)
    return [json.dumps({"reading": message["machine"]["temperature"]})]
"""


def test_a_script_result_without_anomaly_goes_to_scores_only(tmp_path):
    script = tmp_path / "plain_score.py"
    script.write_text(PLAIN_SCRIPT)
    with Mosquitto(tmp_path / "broker") as broker, EdgeHubStandin(broker, desired={}) as hub:
        with AgentProcess(hub, tmp_path / "data", env={"AGENT_AGENT_ENTRY_SCRIPT": str(script)}) as agent:
            agent.wait_connected()
            hub.send_input(COLD, correlation_id="plain-1")
            hub.send_input(WARM, correlation_id="plain-2")
            [score] = hub.wait_correlated("scores", "plain-1")
            hub.wait_correlated("scores", "plain-2")
            assert score.json() == {"reading": 21.32, "model_version": "embedded-default-1"}
            assert "anomaly" not in score.properties
            assert hub.correlated("anomalies", "plain-1") == [] and hub.correlated("errors", "plain-1") == []
