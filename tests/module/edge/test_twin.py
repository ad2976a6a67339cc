"""The module twin through the real SDK: live desired sections, reported properties, a model update, and
catching up after a broker restart (desired changes made while the module could not hear them)."""

from __future__ import annotations

import pickle

from sklearn.ensemble import IsolationForest

from deployment.bundling import build_bundle
from module.models import nab

from .test_routes import NORMAL, ODD


def small_model_section(tmp_path, version: str, seed: int = 1) -> dict:
    """A desired `model` section with the model inline, made by the operator's own bundling code."""
    rows = nab.to_features(nab.load_series()[1])[::50]
    path = tmp_path / f"model-{version}.pkl"
    path.write_bytes(pickle.dumps(IsolationForest(n_estimators=3, max_samples=16, random_state=seed).fit(rows)))
    bundle = build_bundle(path, version, tmp_path / "bundles" / version)
    assert bundle.inline
    return bundle.section


def status_of(section: str, version: int | None = None):
    def check(reported: dict) -> bool:
        s = reported.get(section, {})
        return s.get("status") == "applied" and (version is None or s.get("desired_version") == version)

    return check


def test_first_connection_has_tcp_nodelay_and_initial_sections_are_reported_applied(hub, agent):
    assert agent.wait_log("connected to edgeHub")["tcp_nodelay"] is True
    reported = hub.wait_reported(status_of("upstream"))
    assert reported["upstream"]["mode"] == "anomalies"


def test_desired_threshold_applies_live_and_is_reported(hub, agent):
    version = hub.set_desired({"scoring": {"threshold": 1.0}})  # every score is below 1.0: all anomalies
    reported = hub.wait_reported(status_of("scoring", version))
    assert reported["scoring"]["threshold"] == 1.0
    hub.send_input(NORMAL, correlation_id="after")
    [out] = hub.wait_outputs("anomalies", 1)
    assert out.correlation_id == "after"


def test_refused_section_is_reported_and_changes_nothing(hub, agent):
    version = hub.set_desired({"upstream": {"mode": "everything"}})
    reported = hub.wait_reported(lambda r: r.get("upstream", {}).get("status") == "refused")
    assert "mode" in reported["upstream"]["error"]
    assert reported["upstream"]["desired_version"] == version
    hub.send_input(NORMAL, correlation_id="n")
    hub.send_input(ODD, correlation_id="o")
    hub.wait_outputs("scores", 2)
    [up] = hub.wait_outputs("upstream", 1)
    assert up.correlation_id == "o"  # still "anomalies"


def test_upstream_all_then_summary(hub, agent):
    version = hub.set_desired({"upstream": {"mode": "all"}})
    hub.wait_reported(status_of("upstream", version))
    hub.send_input(NORMAL, correlation_id="n-all")
    [up] = hub.wait_outputs("upstream", 1)
    assert up.correlation_id == "n-all" and up.json()["message"] == NORMAL

    version = hub.set_desired({"upstream": {"mode": "summary", "summary_every_s": 1}})
    hub.wait_reported(status_of("upstream", version))
    for i in range(3):
        hub.send_input(NORMAL, correlation_id=f"s-{i}")
    hub.send_input(ODD, correlation_id="s-odd")
    hub.wait_outputs("scores", 5)
    hub.wait_for(lambda: any(o.json().get("count") == 4 for o in hub.outputs("upstream")))
    summary = next(o.json() for o in hub.outputs("upstream") if o.json().get("count") == 4)
    assert summary["type"] == "summary" and summary["anomalies"] == 1
    temperature = summary["features"]["machine.temperature"]
    assert temperature["min"] == 10.0 and temperature["max"] == 85.0 and temperature["last"] in (10.0, 85.0)
    assert temperature["mean"] == (3 * 85.0 + 10.0) / 4
    assert not [o for o in hub.outputs("upstream") if o.correlation_id and o.correlation_id.startswith("s-")]


def test_desired_model_inline_switches_the_model(hub, agent, tmp_path):
    section = small_model_section(tmp_path, "edge-7")
    hub.set_desired({"model": section})
    reported = hub.wait_reported(lambda r: r.get("model", {}).get("status") == "active"
                                 and r["model"].get("version") == "edge-7", timeout=60)
    assert reported["model"]["sha256"] == section["sha256"]
    hub.send_input(NORMAL, correlation_id="new-model")
    [out] = hub.wait_outputs("scores", 1)
    assert out.json()["model_version"] == "edge-7"


def test_broker_restart_while_desired_changes_agent_catches_up(hub, broker, agent, tmp_path):
    section = small_model_section(tmp_path, "edge-8", seed=2)
    # The first twin read is done (its reported snapshot arrived): every subscription is in the broker's
    # session store. The SDK never re-subscribes, so a SUBSCRIBE lost to the restart would stay lost.
    hub.wait_reported(status_of("upstream"))
    broker.stop()
    # Changed while the module cannot hear it: only the twin GET after the reconnect carries it.
    version = hub.set_desired({"model": section, "scoring": {"threshold": 1.0}}, publish=False)
    broker.start()
    hub.wait_connected()
    try:
        reported = hub.wait_reported(lambda r: r.get("model", {}).get("version") == "edge-8"
                                     and r["model"].get("status") == "active"
                                     and r.get("scoring", {}).get("desired_version") == version, timeout=90)
    except TimeoutError as exc:
        raise AssertionError("\n".join([str(exc), *agent.lines[-40:]])) from None
    assert reported["scoring"]["threshold"] == 1.0
    hub.send_input(NORMAL, correlation_id="after-restart")
    [out] = hub.wait_outputs("anomalies", 1, timeout=60)
    assert out.json()["model_version"] == "edge-8"
    # Still on TCP_NODELAY after the reconnect.
    reconnects = [e for e in agent.logs() if e.get("msg") == "edgeHub connection changed" and e.get("connected")]
    assert reconnects and reconnects[-1]["tcp_nodelay"] is True


def test_rollback_and_reload_methods_after_two_updates(hub, agent, tmp_path):
    status, body = hub.invoke_method("rollback", {})
    assert status == 409 and body["stage"] == "rollback"  # nothing in the store yet
    for version, seed in (("r-1", 1), ("r-2", 2)):
        hub.set_desired({"model": small_model_section(tmp_path, version, seed)})
        hub.wait_reported(lambda r, v=version: r.get("model", {}).get("version") == v
                          and r["model"].get("status") == "active", timeout=60)
    status, body = hub.invoke_method("rollback", {})
    assert status == 200 and body["version"] == "r-1" and body["status"] == "rolled_back"
    hub.wait_reported(lambda r: r.get("model", {}).get("status") == "rolled_back")
    assert hub.invoke_method("status", {})[1]["model"]["version"] == "r-1"
    status, body = hub.invoke_method("reload", {})
    assert status == 200 and body["status"] == "active"


def test_a_twin_get_lost_in_a_reconnect_is_asked_again(hub, broker, start_agent):
    agent = start_agent(env={"AGENT_EDGE_TWIN_TIMEOUT_S": "2"})
    hub.wait_reported(status_of("upstream"))
    hub.answer_twin_gets = False  # the SDK's own GET after the reconnect goes unanswered (it waits forever)
    broker.stop()
    version = hub.set_desired({"upstream": {"mode": "all"}}, publish=False)
    seen = hub.twin_gets
    broker.start()
    hub.wait_connected()
    hub.wait_for(lambda: hub.twin_gets >= seen + 2, timeout=60)  # the SDK's GET and ours, both unanswered
    hub.answer_twin_gets = True
    hub.wait_reported(status_of("upstream", version), timeout=60)
    assert any(e.get("msg") == "twin not read; retrying" for e in agent.logs())
