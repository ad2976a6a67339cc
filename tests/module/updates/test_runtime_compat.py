"""The runtime fingerprint rule: a model written for other versions is refused before it is unpickled."""

from __future__ import annotations

import pytest

from module.runtime import fingerprint
from module.updates import compat

from .conftest import settle
from .malicious import payloads, section_for

OWN = {"python": "3.11.2", "scikit-learn": "1.2.1", "numpy": "1.24.2", "scipy": "1.10.1", "joblib": "1.2.0"}


@pytest.mark.parametrize("change, ok", [
    ({}, True),
    ({"numpy": "1.24.4", "scipy": "1.10.0", "python": "3.12.1", "joblib": "1.4.0"}, True),
    ({"scikit-learn": "1.2.2"}, False),
    ({"scikit-learn": "1.3.1"}, False),
    ({"numpy": "1.26.4"}, False),
    ({"scipy": "1.11.1"}, False),
])
def test_rule(change, ok):
    recorded = {**OWN, **change}
    assert (compat.mismatches(recorded, OWN) == []) is ok


def test_unrecorded_runtime_is_refused():
    with pytest.raises(Exception, match="records no runtime"):
        compat.check(None, OWN)


def _wrong_runtime() -> dict:
    return {**fingerprint(), "scikit-learn": "1.5.2"}


def test_a_pickle_that_would_run_runs_when_allowed_and_compatible(start_agent, tmp_path):
    """The control for the test below: with posix.system allowed by settings, this pickle does run."""
    marker = tmp_path / "marker"
    agent = start_agent(updates={"allowed_globals": ["posix.system"]})
    agent.handle_desired({"model": section_for(payloads(marker)["os.system"], "6"), "$version": 1})
    settle(agent)
    assert marker.exists()


def test_runtime_mismatch_is_refused_before_unpickling(start_agent, tmp_path):
    marker = tmp_path / "marker"
    agent = start_agent(updates={"allowed_globals": ["posix.system"]})
    before = agent.slot.current
    section = section_for(payloads(marker)["os.system"], "6", runtime=_wrong_runtime())
    agent.handle_desired({"model": section, "$version": 1})
    state = settle(agent)
    assert state["status"] == "failed" and state["error"].startswith("runtime: ")
    assert "scikit-learn 1.5.2 (this agent has 1.2.1)" in state["error"]
    assert not marker.exists()
    assert agent.slot.current is before
    assert not (agent.settings.agent.data_dir / "models" / "6").exists()


def test_runtime_is_reported_and_on_get_model(start_agent):
    import json
    import urllib.request

    agent = start_agent(http=True, http_settings={"admin_token": "runtime-test-token-0123"})
    assert agent.reported.snapshot("runtime") == fingerprint()
    req = urllib.request.Request(f"http://127.0.0.1:{agent.http.port}/model",
                                 headers={"Authorization": "Bearer runtime-test-token-0123"})
    with urllib.request.urlopen(req) as resp:
        assert json.loads(resp.read())["runtime"]["scikit-learn"] == fingerprint()["scikit-learn"]
    with urllib.request.urlopen(f"http://127.0.0.1:{agent.http.port}/model") as resp:
        assert "runtime" not in json.loads(resp.read())  # not for a caller without the token
