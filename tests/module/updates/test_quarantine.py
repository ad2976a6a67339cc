"""A candidate that kills the agent while it is activated (MODEL_AGENT_TEST_KILL_AT=activating:2, a SIGKILL
of the live process after the activating mark): one crash, then the old model serves, the reported state
says 2 is quarantined, and the agent stays up although the desired state still asks for 2. A new desired
version or a reload lifts the quarantine."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
import requests

from tests.helpers.local_agent import ADMIN_HEADERS

from .agent_process import AgentProcess
from .conftest import wait_for

KILLER = {"MODEL_AGENT_TEST_KILL_AT": "activating:2"}
#: How long the restarted agent must stay up with the desired state asking for the quarantined version.
STAYS_UP_S = 6.0


@pytest.fixture
def crashed_once(tmp_path, bundle, loopback):
    """An agent that served 1, was asked for 2 and died activating it; then restarted, still asked for 2."""
    one, two = bundle("1", seed=1), bundle("2", seed=2)
    desired = tmp_path / "desired.json"
    desired.write_text(json.dumps({"model": one.section}))
    proc = AgentProcess(tmp_path, desired, tmp_path / "data", loopback, env=KILLER)
    proc.desire = lambda section: _write(desired, {"model": section})
    proc.bundle = bundle
    try:
        proc.start()
        proc.wait_version("1")
        proc.desire(two.section)
        assert proc.proc.wait(timeout=60) == -signal.SIGKILL  # the one crash
        assert (proc.data_dir / "models" / "activating.json").exists()
        proc.start()
        yield proc
    finally:
        proc.stop()


def _write(path, doc) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, path)


def _quarantine_reported(proc: AgentProcess) -> dict:
    wait_for(lambda: proc.model()["update"].get("status") == "failed", what="the refusal of the quarantined 2")
    return proc.model()


def test_one_crash_then_the_old_model_serves_and_the_quarantine_is_reported(crashed_once):
    proc = crashed_once
    body = _quarantine_reported(proc)
    assert body["version"] == "1" and body["source"] == "store"
    update = body["update"]
    assert update["desired_version"] == "2"
    assert update["error"].startswith("quarantined: version 2: the agent stopped while activating")
    quarantined = update["quarantined"]
    assert quarantined["version"] == "2" and len(quarantined["sha256"]) == 64
    # The twin takes no arrays: the reported value is an object of scalars.
    assert all(isinstance(v, (str, int, float, bool)) for v in quarantined.values()), quarantined
    time.sleep(STAYS_UP_S)
    assert proc.proc.poll() is None, "a second crash"
    assert proc.model()["version"] == "1"
    assert not proc.logged('"msg": "test kill"')  # this run never activated 2
    record = json.loads((proc.data_dir / "models" / "quarantine.json").read_text())
    assert record["version"] == "2"
    pointers = json.loads((proc.data_dir / "models" / "pointers.json").read_text())
    assert pointers["current"] == "1"  # 2 never became current


def test_the_quarantine_outlives_a_restart_and_a_reload_lifts_it(crashed_once):
    proc = crashed_once
    _quarantine_reported(proc)
    proc.stop()
    proc.env.pop("MODEL_AGENT_TEST_KILL_AT")  # the next load of 2 would not kill: only a reload may try it
    proc.start()
    assert _quarantine_reported(proc)["update"]["quarantined"]["version"] == "2"
    reload = requests.post(f"http://{proc.host}:{proc.port}/admin/reload", headers=ADMIN_HEADERS, timeout=30)
    assert reload.status_code == 200, reload.text
    proc.wait_version("2")
    assert not (proc.data_dir / "models" / "quarantine.json").exists()


def test_a_new_desired_version_lifts_the_quarantine(crashed_once):
    proc = crashed_once
    _quarantine_reported(proc)
    proc.desire(proc.bundle("3", seed=3).section)
    proc.wait_version("3")
    wait_for(lambda: "quarantined" not in proc.model()["update"], what="the quarantine to be lifted")
    assert proc.model()["update"]["status"] == "active"
