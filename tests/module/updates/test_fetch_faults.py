"""URL downloads against a real HTTP server on loopback that fails on purpose."""

from __future__ import annotations

import pytest

from tests.helpers.http_fault_server import Fault, FaultServer

from .conftest import desired_of, settle


@pytest.fixture
def server(loopback):
    with FaultServer(loopback) as srv:
        yield srv


@pytest.fixture
def big(bundle, server):
    """A URL bundle of ~74 KB zstd (254 KB model) served at /m.zst, and its plain model file at /m.pkl."""
    b = bundle("5", seed=11, trees=20, samples=256, url=server.url("/m.zst"))
    payload = (b.directory / "payload.zst").read_bytes()
    server.add("/m.zst", payload)
    server.add("/m.pkl", (b.directory / "model.pkl").read_bytes())
    return b, payload


def _apply(start_agent, section, **updates):
    agent = start_agent(updates=updates)
    before = agent.slot.current
    agent.handle_desired({"model": section, "$version": 1})
    return agent, before, settle(agent)


def test_dropped_connection_resumes_with_a_range_request(start_agent, server, big):
    b, payload = big
    half = len(payload) // 2
    server.fail_next(Fault("drop", after=half))
    agent, _, state = _apply(start_agent, b.section)
    assert state["status"] == "active" and agent.slot.current.version == "5"
    first, second = server.log
    assert first.range is None and first.sent == half
    assert second.range == f"bytes={half}-" and second.status == 206
    assert first.sent + second.sent == len(payload)
    assert state["bytes_fetched"] == len(payload)
    assert not list((agent.settings.agent.data_dir / "models" / "partial").iterdir())


def test_stall_past_the_read_timeout_is_retried_and_resumed(start_agent, server, big):
    b, payload = big
    server.fail_next(Fault("stall", after=10_000, seconds=5))
    agent, _, state = _apply(start_agent, b.section, read_timeout_s=0.3)
    assert state["status"] == "active"
    assert [e.range for e in server.log] == [None, "bytes=10000-"]
    assert sum(e.sent for e in server.log) == len(payload)


@pytest.mark.parametrize("path, error", [("/m.pkl", "verify: sha256 mismatch"), ("/m.zst", "verify: the payload is not valid zstd")])
def test_wrong_bytes_fail_verification_and_leave_the_old_model(start_agent, server, big, path, error):
    b, _ = big
    server.always = Fault("wrong")
    agent, before, state = _apply(start_agent, desired_of(b, url=server.url(path)))
    assert state["status"] == "failed" and state["error"].startswith(error)
    assert agent.slot.current is before
    models = agent.settings.agent.data_dir / "models"
    assert not (models / "5").exists() and not list((models / "partial").iterdir())


def test_server_that_ignores_range_is_read_again_from_the_start(start_agent, server, big):
    b, payload = big
    server.fail_next(Fault("drop", after=len(payload) // 3))
    server.always = Fault("ignore_range")
    agent, _, state = _apply(start_agent, b.section)
    assert state["status"] == "active"
    first, second = server.log
    assert second.range == f"bytes={len(payload) // 3}-" and second.status == 200
    assert second.sent == len(payload)


def test_404_and_500_then_success(start_agent, server, big):
    b, _ = big
    server.fail_next(Fault("status", code=404), Fault("status", code=500))
    agent, _, state = _apply(start_agent, b.section)
    assert state["status"] == "active"
    assert [e.status for e in server.log] == [404, 500, 200]


def test_errors_past_the_retry_limit_fail_with_the_status(start_agent, server, big):
    b, _ = big
    server.always = Fault("status", code=503)
    agent, before, state = _apply(start_agent, b.section, retries=2)
    assert state["status"] == "failed" and "HTTP 503" in state["error"]
    assert len(server.log) == 3 and agent.slot.current is before


def test_content_length_over_the_declared_size_is_refused_unread(start_agent, server, big):
    b, _ = big
    server.always = Fault("extra", extra=1 << 20)
    agent, before, state = _apply(start_agent, desired_of(b, url=server.url("/m.pkl")))
    assert state["status"] == "failed" and "more than the declared size" in state["error"]
    assert agent.slot.current is before
    assert len(server.log) == 1


def test_body_longer_than_declared_stops_reading(start_agent, server, big):
    b, payload = big
    extra = 64 << 20
    server.always = Fault("extra", extra=extra, no_length=True)
    agent, before, state = _apply(start_agent, desired_of(b, url=server.url("/m.pkl")))
    assert state["status"] == "failed" and "stopped reading" in state["error"]
    assert agent.slot.current is before
    size = b.manifest["size"]
    # The server managed to push only what the socket buffers held beyond the cap, not the 64 MB.
    assert server.log[0].sent < size + extra // 4


def test_plain_model_file_url_works_without_zstd(start_agent, server, big):
    b, _ = big
    agent, _, state = _apply(start_agent, desired_of(b, url=server.url("/m.pkl")))
    assert state["status"] == "active" and state["bytes_fetched"] == b.manifest["size"]


def test_slow_drip_completes_and_progress_is_rate_limited(start_agent, server, big):
    b, payload = big
    server.always = Fault("drip", chunk=8192, seconds=0.1)
    agent = start_agent()
    seen = []
    agent.reported.subscribe(lambda patch: seen.append(patch.get("model", {}).get("bytes_fetched")))
    import time

    started = time.monotonic()
    agent.handle_desired({"model": b.section, "$version": 1})
    state = settle(agent)
    elapsed = time.monotonic() - started
    assert state["status"] == "active" and state["bytes_fetched"] == len(payload)
    progress = [n for n in seen if n]
    assert len(set(progress)) >= 2  # the operator sees it move
    assert len(progress) <= elapsed / 1.0 + 3  # at most about one progress patch per second


def test_trickling_server_fails_at_the_download_deadline_and_the_old_model_serves(start_agent, server, big):
    """One small piece every 0.1 s never trips the per-read timeout; the overall deadline ends it."""
    b, payload = big
    server.always = Fault("drip", chunk=64, seconds=0.1)
    agent, before, state = _apply(start_agent, b.section, download_deadline_s=1.5, retries=2)
    assert state["status"] == "failed"
    assert "updates.download_deadline_s" in state["error"] and "1.5 s" in state["error"]
    assert 0 < server.sent("/m.zst") < len(payload)
    assert agent.slot.current is before


def test_default_download_deadline_scales_with_max_model_bytes():
    from module.settings import UpdatesSection

    assert UpdatesSection().effective_download_deadline_s() == (64 << 20) / (16 * 1024)
    assert UpdatesSection(max_model_bytes=1 << 20).effective_download_deadline_s() == 300.0
    assert UpdatesSection(download_deadline_s=7).effective_download_deadline_s() == 7
