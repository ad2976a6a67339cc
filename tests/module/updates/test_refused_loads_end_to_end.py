"""A model that tries a loader door reaches the agent as a real update: the agent reports a clear `load`
error, keeps serving its old model and stays up, and the next honest update goes active."""

from __future__ import annotations

import json

from .agent_process import AgentProcess
from .conftest import settle, wait_for
from .crafted_pickles import patch_tree_predictor
from .crafted_skops import REFUSED, with_attribute
from .malicious import section_for


def test_a_class_patch_is_refused_and_the_next_honest_update_goes_active(start_agent, bundle):
    agent = start_agent()
    before = agent.slot.current
    agent.handle_desired({"model": section_for(patch_tree_predictor(), "6"), "$version": 1})
    state = settle(agent)
    assert state["status"] == "failed"
    assert state["error"].startswith("load: ") and "applies BUILD to sklearn.ensemble" in state["error"]
    assert agent.slot.current is before
    agent.handle_desired({"model": bundle("7", seed=7).section, "$version": 2})
    assert settle(agent)["status"] == "active" and agent.slot.current.version == "7"


def test_a_skops_method_node_is_refused_by_the_running_agent_process(tmp_path, loopback, bundle):
    evil = with_attribute(tmp_path / "evil.skops", REFUSED["MethodNode"]).read_bytes()
    desired = tmp_path / "desired.json"
    desired.write_text(json.dumps({"model": section_for(evil, "8", fmt="skops")}))
    proc = AgentProcess(tmp_path, desired, tmp_path / "data", loopback)
    try:
        proc.start()
        served = proc.model()["version"]
        wait_for(lambda: proc.model().get("update", {}).get("status") == "failed", timeout=60,
                 what="the skops update to fail")
        body = proc.model()
        assert body["update"]["error"].startswith("load: the skops file holds a MethodNode")
        assert body["version"] == served and proc.proc.poll() is None
        desired.write_text(json.dumps({"model": bundle("9", seed=9).section}))
        proc.wait_version("9")  # served first; the update state says active once the store's pointers moved
        wait_for(lambda: proc.model()["update"]["status"] == "active", timeout=30, what="update 9 active")
    finally:
        proc.stop()
