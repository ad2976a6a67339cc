"""edgeHub unreachable: outputs wait in a bounded buffer, are sent in order once it is back, and what the
buffer could not hold is counted (agent_outputs_dropped) and logged, never silently lost."""

from __future__ import annotations

import time

DOWN_FOR_S = 4.0


def test_outputs_buffered_in_order_and_overflow_counted(hub, broker, start_agent):
    agent = start_agent(env={"AGENT_EDGE_BUFFER_MAX": "4"})
    # Summaries leave every window even when empty: a steady stream of outputs, no input needed.
    version = hub.set_desired({"upstream": {"mode": "summary", "summary_every_s": 0.25}})
    hub.wait_reported(lambda r: r.get("upstream", {}).get("desired_version") == version)
    before = len(hub.wait_outputs("upstream", 2))
    broker.stop()
    time.sleep(DOWN_FOR_S)  # ~16 windows close while edgeHub is away; the buffer holds 4
    broker.start()
    hub.wait_connected()
    hub.wait_outputs("upstream", before + 5, timeout=90)

    # MQTT QoS 1 is at least once: a publish cut by the broker's stop may arrive again after the
    # reconnect, but only as the same message (same message id), so a consumer can drop the copy.
    delivered = hub.outputs("upstream")
    by_id: dict[str, int] = {}
    for output in delivered:
        assert by_id.setdefault(output.message_id, output.json()["seq"]) == output.json()["seq"]
    seqs = [seq for _, seq in dict.fromkeys((o.message_id, o.json()["seq"]) for o in delivered)]
    assert seqs == sorted(set(seqs)), "delivered out of order, or the same summary under two message ids"
    dropped = agent.metric("agent_outputs_dropped_total")
    assert dropped > 0
    top = max(seqs)
    assert len(seqs) + dropped == top, "every summary up to the newest was delivered or counted as dropped"
    assert any(e.get("msg") == "output buffer full: oldest outputs dropped" for e in agent.logs())

    # Back on the connected path (scored and sent on the SDK's handler thread): every input answered.
    reading = {"machine": {"temperature": 85.0, "pressure": 8.29}, "ambient": {"temperature": 21.0, "humidity": 25}}
    for i in range(20):
        hub.send_input(reading, correlation_id=f"after-{i}")
    for i in range(20):
        hub.wait_correlated("scores", f"after-{i}")
    assert agent.metric("agent_outputs_dropped_total") == dropped


def test_sigterm_while_edgehub_is_down_exits_in_time_and_counts_what_was_lost(hub, broker, start_agent):
    agent = start_agent()
    version = hub.set_desired({"upstream": {"mode": "summary", "summary_every_s": 0.2}})
    hub.wait_reported(lambda r: r.get("upstream", {}).get("desired_version") == version)
    broker.stop()
    time.sleep(1.0)  # a few summaries now wait in the buffer
    agent.terminate()
    started = time.monotonic()
    assert agent.wait_exit(timeout=30) == 0
    assert time.monotonic() - started < 10.0  # edgeAgent's kill deadline
    lost = [e for e in agent.logs() if e.get("msg") == "outputs not delivered at shutdown"]
    assert lost and lost[0]["dropped"] > 0


def test_agent_started_before_edgehub_connects_when_it_comes_up(hub, broker, start_agent):
    broker.stop()
    agent = start_agent(connected=False)  # HTTP serves meanwhile; the SDK connection is retried
    agent.wait_log("cannot connect to edgeHub yet; retrying")
    broker.start()
    hub.wait_connected()
    agent.wait_connected(timeout=60)
    hub.send_input({"machine": {"temperature": 85.0, "pressure": 8.29},
                    "ambient": {"temperature": 21.0, "humidity": 25}}, correlation_id="late")
    hub.wait_correlated("scores", "late")
    hub.wait_reported(lambda r: r.get("upstream", {}).get("status") == "applied")
