"""The store across restarts: current > previous > baked > embedded, half-written files, bounded versions."""

from __future__ import annotations

import json
import shutil

from .conftest import settle


def _update(agent, b, version):
    agent.handle_desired({"model": b.section, "$version": version})
    return settle(agent)


def _pointers(agent) -> dict:
    return json.loads((agent.settings.agent.data_dir / "models" / "pointers.json").read_text())


def test_restart_serves_the_stored_current_version(start_agent, bundle, tmp_path):
    agent = start_agent()
    _update(agent, bundle("2"), 1)
    _update(agent, bundle("3", seed=3), 2)
    assert _pointers(agent) == {"current": "3", "previous": "2", "rolled_back_from": None}
    agent.stop()
    again = start_agent()
    assert again.slot.current.version == "3" and again.slot.current.source == "store"
    state = again.reported.snapshot("model")
    assert state["status"] == "active" and state["previous_version"] == "2"


def test_a_damaged_current_falls_back_to_previous(start_agent, bundle):
    agent = start_agent()
    _update(agent, bundle("2"), 1)
    _update(agent, bundle("3", seed=3), 2)
    agent.stop()
    damaged = agent.settings.agent.data_dir / "models" / "3" / "model.pkl"
    damaged.write_bytes(damaged.read_bytes()[:-10] + b"0123456789")
    again = start_agent()
    assert again.slot.current.version == "2"


def test_a_half_written_version_is_never_loaded_and_is_cleaned(start_agent, bundle):
    agent = start_agent()
    _update(agent, bundle("2"), 1)
    agent.stop()
    models = agent.settings.agent.data_dir / "models"
    staging = models / ".staging-3-abc"
    staging.mkdir()
    (staging / "model.pkl").write_bytes(b"half a pickle")
    again = start_agent()
    assert again.slot.current.version == "2"
    assert not staging.exists()


def test_store_keeps_a_bounded_number_of_versions(start_agent, bundle):
    agent = start_agent(updates={"keep_versions": 3})
    for i in range(2, 7):
        _update(agent, bundle(str(i), seed=i), i)
    models = agent.settings.agent.data_dir / "models"
    kept = sorted(p.name for p in models.iterdir() if (p / "manifest.json").exists())
    assert len(kept) == 3 and {"6", "5"} <= set(kept)


def _bake(b, directory):
    directory.mkdir(parents=True)
    shutil.copy(b.directory / "manifest.json", directory / "manifest.json")
    shutil.copy(b.directory / "model.pkl", directory / "model.pkl")
    return directory


def test_baked_model_is_adopted_at_start_and_a_later_desired_update_wins(start_agent, bundle, tmp_path):
    baked = _bake(bundle("3", seed=3), tmp_path / "baked")
    agent = start_agent(updates={"baked_model_dir": baked})
    assert agent.slot.current.version == "3" and agent.slot.current.source == "baked"
    assert _pointers(agent)["current"] == "3"
    state = _update(agent, bundle("9", seed=9), 1)
    assert state["status"] == "active" and agent.slot.current.version == "9"
    assert state["previous_version"] == "3"
    agent.stop()
    again = start_agent(updates={"baked_model_dir": baked})
    assert again.slot.current.version == "9"  # the store holds something newer than the baked model


def test_a_newer_baked_model_wins_over_an_older_store(start_agent, bundle, tmp_path):
    agent = start_agent()
    _update(agent, bundle("2"), 1)
    agent.stop()
    baked = _bake(bundle("5", seed=5), tmp_path / "baked")
    again = start_agent(updates={"baked_model_dir": baked})
    assert again.slot.current.version == "5" and again.slot.current.source == "baked"
    assert again.reported.snapshot("model")["previous_version"] == "2"


def test_a_baked_model_with_wrong_bytes_is_refused(start_agent, bundle, tmp_path):
    baked = _bake(bundle("3", seed=3), tmp_path / "baked")
    (baked / "model.pkl").write_bytes((baked / "model.pkl").read_bytes() + b"x")
    agent = start_agent(updates={"baked_model_dir": baked})
    assert agent.slot.current.source == "embedded"
    state = agent.reported.snapshot("model")
    assert state["status"] == "failed" and state["error"].startswith("verify: ")


def test_a_baked_model_for_another_runtime_is_refused(start_agent, bundle, tmp_path):
    baked = _bake(bundle("3", seed=3), tmp_path / "baked")
    manifest = json.loads((baked / "manifest.json").read_text())
    manifest["runtime"]["numpy"] = "2.0.0"
    (baked / "manifest.json").write_text(json.dumps(manifest))
    agent = start_agent(updates={"baked_model_dir": baked})
    assert agent.slot.current.source == "embedded"
    assert agent.reported.snapshot("model")["error"].startswith("runtime: ")
