"""Level-triggered reconciliation: patches and whole documents agree, stale $versions are ignored, a newer
desired model supersedes one still downloading."""

from __future__ import annotations

import numpy as np

from tests.helpers.http_fault_server import Fault, FaultServer

from .conftest import nab_rows, settle, wait_for


def _result(agent) -> tuple:
    model = agent.slot.current
    return model.version, model.sha256, tuple(agent.service.score_matrix(nab_rows()[:50]).scores.tolist())


def test_patches_and_the_whole_document_end_in_the_same_model(start_agent, bundle, tmp_path):
    b2, b3 = bundle("2", seed=2), bundle("3", seed=3, trees=8)
    assert len([c for c in b3.section["inline"]["chunks"].values() if c]) != len(
        [c for c in b2.section["inline"]["chunks"].values() if c]) or b3.section["canary"] != b2.section["canary"]
    by_patch = start_agent(data_dir=tmp_path / "a")
    by_patch.handle_desired({"model": b2.section, "$version": 1, "scoring": {"max_batch": 64}})
    settle(by_patch)
    by_patch.handle_desired({"model": b3.section, "$version": 2})  # a patch over the older section
    settle(by_patch)
    whole = start_agent(data_dir=tmp_path / "b")
    whole.handle_desired({"model": b3.section, "$version": 2, "scoring": {"max_batch": 64}})  # after a reconnect
    settle(whole)
    assert _result(by_patch) == _result(whole)
    assert by_patch.slot.current.version == "3"


def test_a_partial_patch_merges_into_the_desired_section(start_agent, bundle):
    b2 = bundle("2", seed=2)
    agent = start_agent()
    broken = {**b2.section, "sha256": "0" * 64}
    agent.handle_desired({"model": broken, "$version": 1})
    assert settle(agent)["status"] == "failed"
    agent.handle_desired({"model": {"sha256": b2.section["sha256"]}, "$version": 2})  # only the fixed key
    assert settle(agent)["status"] == "active" and agent.slot.current.version == "2"


def test_a_desired_version_at_or_below_the_applied_one_is_ignored(start_agent, bundle):
    b2, b3 = bundle("2", seed=2), bundle("3", seed=3)
    agent = start_agent()
    agent.handle_desired({"model": b2.section, "$version": 5})
    settle(agent)
    agent.handle_desired({"model": b3.section, "$version": 4})  # late, out-of-order delivery
    settle(agent)
    assert agent.slot.current.version == "2"
    agent.handle_desired({"model": b3.section, "$version": 6})
    settle(agent)
    assert agent.slot.current.version == "3"


def test_deleting_the_model_section_keeps_the_active_model(start_agent, bundle):
    agent = start_agent()
    agent.handle_desired({"model": bundle("2").section, "$version": 1})
    settle(agent)
    agent.handle_desired({"model": None, "$version": 2})
    state = settle(agent)
    assert agent.slot.current.version == "2" and state["status"] == "active"


def test_a_newer_desired_model_supersedes_a_download_in_progress(start_agent, bundle, loopback):
    with FaultServer(loopback) as server:
        slow = bundle("4", seed=4, trees=20, samples=256, url=server.url("/4.zst"))
        payload = (slow.directory / "payload.zst").read_bytes()
        server.add("/4.zst", payload)
        server.always = Fault("drip", chunk=2048, seconds=0.2)
        agent = start_agent()
        agent.handle_desired({"model": slow.section, "$version": 1})
        wait_for(lambda: server.log and server.log[0].sent > 0, what="the slow download to start")
        fast = bundle("5", seed=5)
        agent.handle_desired({"model": fast.section, "$version": 2})
        state = settle(agent)
        assert state["status"] == "active" and agent.slot.current.version == "5"
        assert len(server.log) == 1 and server.log[0].sent < len(payload)
        assert not (agent.settings.agent.data_dir / "models" / "4").exists()


def test_scores_after_an_update_are_the_new_models_own(start_agent, bundle):
    from module.updates import safe_load

    b = bundle("2", seed=21, trees=10)
    agent = start_agent()
    agent.handle_desired({"model": b.section, "$version": 1})
    settle(agent)
    X = nab_rows()
    own = safe_load.load(b.directory / "model.pkl", "pickle").score_samples(X)
    assert np.array_equal(agent.service.score_matrix(X).scores, own)


def test_a_failed_download_is_retried_later_without_a_new_desired_state(start_agent, bundle, loopback, monkeypatch):
    from module.updates import reconciler

    monkeypatch.setattr(reconciler, "RETRY_FAILED_DOWNLOAD_S", 0.3)
    with FaultServer(loopback) as server:
        b = bundle("4", seed=4, url=server.url("/4.zst"))
        server.add("/4.zst", (b.directory / "payload.zst").read_bytes())
        server.fail_next(Fault("status", code=503), Fault("status", code=503))
        agent = start_agent(updates={"retries": 1})
        agent.handle_desired({"model": b.section, "$version": 1})
        wait_for(lambda: agent.reported.snapshot("model").get("status") == "failed", what="the first failure")
        wait_for(lambda: agent.slot.current.version == "4", what="the retry to succeed")
        assert [e.status for e in server.log] == [503, 503, 200]


def test_reusing_a_version_name_for_other_bytes_is_refused(start_agent, bundle):
    agent = start_agent()
    agent.handle_desired({"model": bundle("2", seed=2).section, "$version": 1})
    settle(agent)
    other = bundle("2", seed=99)
    agent.handle_desired({"model": other.section, "$version": 2})
    state = settle(agent)
    assert state["status"] == "failed" and "already in the store with another sha256" in state["error"]
    assert agent.slot.current.sha256 != other.manifest["sha256"]
