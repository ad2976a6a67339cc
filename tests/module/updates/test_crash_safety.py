"""SIGKILL mid-download, after the download before the rename, and during activation; then restart:
the agent serves a consistent model and finishes the update (resuming the download where it can), or,
killed while activating, quarantines the candidate (test_quarantine.py has the candidate that kills)."""

from __future__ import annotations

import json

import pytest
import requests

from module.models import embedded
from tests.helpers.http_fault_server import Fault, FaultServer
from tests.helpers.local_agent import ADMIN_HEADERS

from .agent_process import AgentProcess
from .conftest import wait_for

EMBEDDED = embedded.VERSION


@pytest.fixture
def setup(tmp_path, bundle, loopback):
    with FaultServer(loopback) as server:
        b = bundle("5", seed=5, trees=20, samples=256, url=server.url("/5.zst"))
        payload = (b.directory / "payload.zst").read_bytes()
        server.add("/5.zst", payload)
        desired = tmp_path / "desired.json"
        desired.write_text(json.dumps({"model": b.section}))
        proc = AgentProcess(tmp_path, desired, tmp_path / "data", loopback)
        try:
            yield server, b, payload, proc
        finally:
            proc.stop()


def _consistent(proc: AgentProcess, b) -> dict:
    """What /model says agrees with the store: either the embedded default or version 5 with its sha256."""
    body = proc.model()
    assert body["version"] in (EMBEDDED, "5")
    if body["version"] == "5":
        assert body["sha256"] == b.manifest["sha256"]
        pointers = json.loads((proc.data_dir / "models" / "pointers.json").read_text())
        assert pointers["current"] == "5"
    return body


def test_killed_mid_download_resumes_with_range_after_restart(setup):
    server, b, payload, proc = setup
    server.always = Fault("drip", chunk=4096, seconds=0.25)
    proc.start()
    partial_dir = proc.data_dir / "models" / "partial"
    wait_for(lambda: any(p.stat().st_size > 8192 for p in partial_dir.glob("*.part")), what="a partial download")
    proc.kill()
    (partial,) = partial_dir.glob("*.part")
    have = partial.stat().st_size
    assert 0 < have < len(payload)
    server.always = None
    proc.start()
    _consistent(proc, b)
    assert proc.wait_version("5")["sha256"] == b.manifest["sha256"]
    resumed = server.log[1]
    assert resumed.range == f"bytes={have}-" and resumed.status == 206
    assert resumed.sent == len(payload) - have
    assert not list(partial_dir.glob("*.part"))


def test_killed_after_download_before_rename(setup):
    server, b, payload, proc = setup
    proc.start(MODEL_AGENT_TEST_PAUSE_AT="before_rename")
    wait_for(lambda: proc.logged('"stage": "before_rename"'), what="the pause before the rename")
    proc.kill()
    models = proc.data_dir / "models"
    assert list(models.glob(".staging-*")) and not (models / "5").exists()
    assert not (models / "pointers.json").exists()
    proc.start()
    assert _consistent(proc, b)["version"] in (EMBEDDED, "5")
    proc.wait_version("5")
    assert not list(models.glob(".staging-*"))
    # The complete partial file survived: the restart asked for the rest and got "nothing left" (416).
    assert [e.status for e in server.log] == [200, 416]
    assert server.sent() == len(payload)


@pytest.mark.parametrize("stage", ["before_swap", "before_pointers"])
def test_killed_during_activation_quarantines_the_candidate(setup, stage):
    """Killed while 5 was being activated (loaded live, or already swapped in but not yet current in the
    store): the restart serves what served before, quarantines 5 and says so; a reload tries it again."""
    server, b, payload, proc = setup
    proc.start(MODEL_AGENT_TEST_PAUSE_AT=stage)
    wait_for(lambda: proc.logged(f'"stage": "{stage}"'), what=f"the pause at {stage}")
    if stage == "before_swap":
        assert proc.model()["version"] == EMBEDDED  # the old model served throughout
    assert (proc.data_dir / "models" / "activating.json").exists()
    proc.kill()
    proc.start()
    assert _consistent(proc, b)["version"] == EMBEDDED
    wait_for(lambda: proc.model()["update"].get("status") == "failed", what="the quarantine refusal")
    update = proc.model()["update"]
    assert update["quarantined"]["version"] == "5" and update["error"].startswith("quarantined: version 5")
    assert not (proc.data_dir / "models" / "activating.json").exists()
    reload = requests.post(f"http://{proc.host}:{proc.port}/admin/reload", headers=ADMIN_HEADERS, timeout=30)
    assert reload.status_code == 200, reload.text
    proc.wait_version("5")
    wait_for(lambda: proc.model()["update"].get("status") == "active", what="5 reported active")
    assert "quarantined" not in proc.model()["update"]
    assert len(server.log) == 1  # the stored version was reused, not downloaded again
