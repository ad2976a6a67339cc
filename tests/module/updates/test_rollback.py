"""Rollback without a download: POST /admin/rollback, a desired version equal to the previous one, reload."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.helpers.http_fault_server import FaultServer

from .conftest import settle


def post(agent, path) -> tuple[int, dict]:
    req = urllib.request.Request(f"http://{agent.settings.http.host}:{agent.http.port}{path}", data=b"", method="POST")
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def served(bundle, loopback):
    """Two URL bundles (2, 3) on a fault server, so any download shows in its log."""
    with FaultServer(loopback) as server:
        out = []
        for version, seed in (("2", 2), ("3", 3)):
            b = bundle(version, seed=seed, url=server.url(f"/{version}.zst"))
            server.add(f"/{version}.zst", (b.directory / "payload.zst").read_bytes())
            out.append(b)
        yield server, out


def _two_versions(start_agent, served, loopback):
    server, (b2, b3) = served
    agent = start_agent(http=True, host=loopback)
    agent.handle_desired({"model": b2.section, "$version": 1})
    settle(agent)
    agent.handle_desired({"model": b3.section, "$version": 2})
    settle(agent)
    assert agent.slot.current.version == "3" and len(server.log) == 2
    return agent, server, b2, b3


def test_admin_rollback_goes_back_without_a_download_and_sticks(start_agent, served, loopback):
    agent, server, b2, b3 = _two_versions(start_agent, served, loopback)
    status, body = post(agent, "/admin/rollback")
    assert status == 200 and body["model"]["status"] == "rolled_back"
    assert agent.slot.current.version == "2" and body["model"]["previous_version"] == "3"
    # The twin still says 3 (also after a reconnect): a manual rollback is not undone by it.
    agent.handle_desired({"model": b3.section, "$version": 3})
    settle(agent)
    assert agent.slot.current.version == "2" and len(server.log) == 2
    agent.stop()
    again = agent_restart(agent, start_agent, loopback)
    again.handle_desired({"model": b3.section, "$version": 1})
    settle(again)
    assert again.slot.current.version == "2"
    status, body = post(again, "/admin/reload")
    assert status == 200
    settle(again)
    assert again.slot.current.version == "3" and len(server.log) == 2  # 3 came from the store
    assert again.reported.snapshot("model")["status"] == "active"


def agent_restart(agent, start_agent, loopback):
    return start_agent(http=True, host=loopback, data_dir=agent.settings.agent.data_dir)


def test_desired_version_equal_to_previous_rolls_back_without_a_download(start_agent, served, loopback):
    agent, server, b2, b3 = _two_versions(start_agent, served, loopback)
    agent.handle_desired({"model": b2.section, "$version": 3})
    state = settle(agent)
    assert state["status"] == "rolled_back" and agent.slot.current.version == "2"
    assert len(server.log) == 2


def test_rollback_with_no_previous_version_is_a_409(start_agent, loopback):
    agent = start_agent(http=True, host=loopback)
    before = agent.slot.current
    status, body = post(agent, "/admin/rollback")
    assert status == 409 and "no previous version" in body["error"]
    status, body = post(agent, "/admin/reload")
    assert status == 409 and "no current version" in body["error"]
    assert agent.slot.current is before
