"""edge.output_batch over the real SDK and the edgeHub stand-in: N results per output message (or after
T ms), one JSON list, each result with the properties it would have carried alone; nothing lost."""

from __future__ import annotations

import time

from .test_routes import NORMAL, ODD


def test_results_go_out_as_lists_of_n_with_their_own_properties(start_agent, hub):
    agent = start_agent(env={"AGENT_EDGE_OUTPUT_BATCH": "5", "AGENT_EDGE_OUTPUT_BATCH_MS": "60000"})
    for i in range(10):
        hub.send_input(NORMAL, correlation_id=f"b{i}", message_id=f"m{i}", properties={"line": "7"})
    batches = hub.wait_outputs("scores", 2)
    assert [o.properties.get("batch") for o in batches] == ["5", "5"]
    results = [r for o in batches for r in o.json()]
    assert sorted(r["properties"]["correlationId"] for r in results) == sorted(f"b{i}" for i in range(10))
    for r in results:
        assert isinstance(r["score"], float) and r["anomaly"] is False and r["model_version"]
        props = r["properties"]
        assert props["line"] == "7" and props["sourceModule"] == "SimulatedTemperatureSensor"
        assert props["sourceMessageId"] == "m" + props["correlationId"][1:]
        assert props["anomaly"] == "false" and props["modelVersion"] == r["model_version"]
    assert agent.metric("agent_outputs_dropped_total") == 0


def test_a_batch_that_is_not_full_goes_out_after_its_time(start_agent, hub):
    start_agent(env={"AGENT_EDGE_OUTPUT_BATCH": "100", "AGENT_EDGE_OUTPUT_BATCH_MS": "300"})
    sent = time.monotonic()
    hub.send_input(ODD, correlation_id="odd")
    hub.send_input(NORMAL, correlation_id="normal")
    scores = hub.wait_outputs("scores", 1, timeout=30)
    assert time.monotonic() - sent >= 0.3
    got = sorted(r["properties"]["correlationId"] for o in scores for r in o.json())
    if got != ["normal", "odd"]:  # the two inputs straddled the timer: the second batch follows
        scores = hub.wait_outputs("scores", 2, timeout=30)
        got = sorted(r["properties"]["correlationId"] for o in scores for r in o.json())
    assert got == ["normal", "odd"]
    anomalies = hub.wait_outputs("anomalies", 1, timeout=30)
    [anomaly] = anomalies[0].json()
    assert anomaly["properties"]["correlationId"] == "odd" and anomaly["message"] == ODD


def test_sigterm_sends_the_open_batch(start_agent, hub):
    agent = start_agent(env={"AGENT_EDGE_OUTPUT_BATCH": "100", "AGENT_EDGE_OUTPUT_BATCH_MS": "60000"})
    for i in range(3):
        hub.send_input(NORMAL, correlation_id=f"s{i}")
    time.sleep(1.0)  # scored and waiting in the open batch
    assert hub.outputs("scores") == []
    agent.terminate()
    assert agent.wait_exit(timeout=30) == 0
    [batch] = hub.wait_outputs("scores", 1)
    assert sorted(r["properties"]["correlationId"] for r in batch.json()) == ["s0", "s1", "s2"]
