"""Rollback without a download: POST /admin/rollback, a desired version equal to the previous one, reload."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.helpers.http_fault_server import FaultServer

from .conftest import settle


TOKEN = "rollback-test-token-0123456789"


def post(agent, path, token: str | None = TOKEN, server=None) -> tuple[int, dict]:
    server = server or agent.http
    req = urllib.request.Request(f"http://{server.host}:{server.port}{path}", data=b"", method="POST")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
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


def _two_versions(start_agent, served, loopback, **kw):
    server, (b2, b3) = served
    agent = start_agent(http=True, host=loopback, http_settings={"admin_token": TOKEN}, **kw)
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
    return start_agent(http=True, host=loopback, data_dir=agent.settings.agent.data_dir,
                       http_settings={"admin_token": TOKEN})


def test_desired_version_equal_to_previous_rolls_back_without_a_download(start_agent, served, loopback):
    agent, server, b2, b3 = _two_versions(start_agent, served, loopback)
    agent.handle_desired({"model": b2.section, "$version": 3})
    state = settle(agent)
    assert state["status"] == "rolled_back" and agent.slot.current.version == "2"
    assert len(server.log) == 2


def test_rollback_with_no_previous_version_is_a_409(start_agent, loopback):
    agent = start_agent(http=True, host=loopback, http_settings={"admin_token": TOKEN})
    before = agent.slot.current
    status, body = post(agent, "/admin/rollback")
    assert status == 409 and "no previous version" in body["error"]
    status, body = post(agent, "/admin/reload")
    assert status == 409 and "no current version" in body["error"]
    assert agent.slot.current is before


def test_admin_routes_are_off_over_http_by_default_and_say_how_to_enable_them(start_agent, served, loopback):
    server, (b2, b3) = served
    agent = start_agent(http=True, host=loopback)  # neither http.admin_token nor http.admin_host
    for version, b in ((1, b2), (2, b3)):
        agent.handle_desired({"model": b.section, "$version": version})
        settle(agent)
    for path in ("/admin/rollback", "/admin/reload"):
        for token in (None, TOKEN):
            status, body = post(agent, path, token=token)
            assert status == 403 and "http.admin_token" in body["error"] and "http.admin_host" in body["error"]
            assert "direct methods" in body["error"]
    assert agent.slot.current.version == "3"  # a neighbour on the module network changed nothing


def test_a_missing_or_wrong_token_is_a_401_and_changes_nothing(start_agent, served, loopback):
    agent, server, b2, b3 = _two_versions(start_agent, served, loopback)
    for token in (None, "x" * len(TOKEN), TOKEN + "x", TOKEN[:-1]):
        status, body = post(agent, "/admin/rollback", token=token)
        assert status == 401 and "Authorization: Bearer" in body["error"]
    req = urllib.request.Request(f"http://{agent.http.host}:{agent.http.port}/admin/rollback", data=b"", method="POST")
    req.add_header("Authorization", f"Basic {TOKEN}")  # the right secret under another scheme
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req)
    assert refused.value.code == 401 and refused.value.headers["WWW-Authenticate"].startswith("Bearer")
    assert agent.slot.current.version == "3"
    assert post(agent, "/admin/rollback")[0] == 200 and agent.slot.current.version == "2"


def test_the_loopback_admin_listener_needs_no_token_and_the_public_one_refuses(start_agent, served, loopback):
    server, (b2, b3) = served
    agent = start_agent(http=True, host=loopback, http_settings={"admin_host": "127.0.0.1", "admin_port": 0})
    for version, b in ((1, b2), (2, b3)):
        agent.handle_desired({"model": b.section, "$version": version})
        settle(agent)
    admin = agent.admin_http
    assert admin.host == "127.0.0.1" and admin.port != agent.http.port
    status, body = post(agent, "/admin/rollback", token=None)
    assert status == 403 and f"admin listener 127.0.0.1:{admin.port}" in body["error"]
    assert agent.slot.current.version == "3"
    status, body = post(agent, "/admin/rollback", token=None, server=admin)
    assert status == 200 and agent.slot.current.version == "2"
    with urllib.request.urlopen(f"http://127.0.0.1:{admin.port}/model") as resp:
        assert json.loads(resp.read())["update"]["status"] == "rolled_back"  # the full view, no token


@pytest.fixture
def signed(bundle, loopback, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = tmp_path / "private.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with FaultServer(loopback) as server:
        out = []
        for version, seed in (("2", 2), ("3", 3)):
            b = bundle(version, seed=seed, url=server.url(f"/{version}.zst"), sign_key=private)
            server.add(f"/{version}.zst", (b.directory / "payload.zst").read_bytes())
            out.append(b)
        yield server, out, public.decode("ascii")


def test_with_signing_on_a_manual_rollback_to_an_older_version_needs_a_signed_rollback(start_agent, signed, loopback):
    from module.edge.methods import MethodHandler

    server, (b2, b3), public = signed
    agent, *_ = _two_versions(start_agent, (server, (b2, b3)), loopback, updates={"public_key": public})
    status, body = post(agent, "/admin/rollback")
    assert status == 409 and "older than the active 3" in body["error"] and "rollback: true" in body["error"]
    status, body = MethodHandler(agent, counters=dict).handle("rollback", None)  # IoT Hub's door: the same rule
    assert status == 409 and "older than the active 3" in body["error"]
    assert agent.slot.current.version == "3"
    assert agent.updater.store.pointers().get("rolled_back_from") is None  # nothing sticks against the twin


def test_direct_method_rollback_works_without_any_http_credential(start_agent, served, loopback):
    from module.edge.methods import MethodHandler

    server, (b2, b3) = served
    agent = start_agent(http=True, host=loopback)
    for version, b in ((1, b2), (2, b3)):
        agent.handle_desired({"model": b.section, "$version": version})
        settle(agent)
    status, body = MethodHandler(agent, counters=dict).handle("rollback", None)
    assert status == 200 and body["status"] == "rolled_back" and agent.slot.current.version == "2"
