"""A whole desired document (get_twin() after a reconnect, each version of the --desired file) replaces
what came before; a patch merges over it. Keys deleted while the device was away must not linger."""

from __future__ import annotations

import json

from .conftest import settle, wait_for


def _without_nulls(value):
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def _chunks(section) -> int:
    return len([v for v in section["inline"]["chunks"].values() if v is not None])


def test_a_whole_document_with_fewer_chunks_replaces_the_last_one(start_agent, bundle):
    big, small = bundle("2", seed=2, trees=12, samples=32), bundle("3", seed=3, trees=3)
    assert _chunks(big.section) > _chunks(small.section)
    agent = start_agent()
    agent.handle_desired({"model": _without_nulls(big.section), "$version": 1}, whole=True)
    assert settle(agent)["status"] == "active" and agent.slot.current.version == "2"

    # As a hand-written file or a hub that deleted the extra chunks says it: no null padding.
    agent.handle_desired({"model": _without_nulls(small.section), "$version": 2}, whole=True)
    state = settle(agent)
    assert state["status"] == "active", state.get("error")
    assert agent.slot.current.version == "3"


def test_a_patch_still_merges_so_it_may_name_only_what_changes(start_agent, bundle):
    b = bundle("2")
    agent = start_agent()
    section = json.loads(json.dumps(b.section))
    canary = section.pop("canary")
    agent.handle_desired({"model": {**section, "canary": None}, "$version": 1})
    settle(agent)
    agent.handle_desired({"model": {"canary": canary}, "$version": 2})  # only the part that changed
    assert settle(agent)["status"] == "active" and agent.slot.current.version == "2"


def test_a_live_section_missing_from_a_whole_document_goes_back_to_the_base(start_agent):
    agent = start_agent()
    base = agent.settings.scoring.threshold
    agent.handle_desired({"scoring": {"threshold": -0.4}, "$version": 1}, whole=True)
    assert agent.settings.scoring.threshold == -0.4
    agent.handle_desired({"scoring": {"max_batch": 64}, "$version": 2})  # a patch keeps the threshold
    assert agent.settings.scoring.threshold == -0.4 and agent.settings.scoring.max_batch == 64
    agent.handle_desired({"scoring": {"max_batch": 32}, "$version": 3}, whole=True)  # threshold deleted
    assert agent.settings.scoring.threshold == base and agent.settings.scoring.max_batch == 32
    agent.handle_desired({"$version": 4}, whole=True)  # the section deleted
    wait_for(lambda: agent.settings.scoring == agent.base_settings.scoring, what="base scoring settings")
