"""Requests keep flowing over real HTTP while ten swaps happen: none fails, and each result's version was
active while that request was in flight (and its score is that version's own)."""

from __future__ import annotations

import threading
import time

import requests

from module.models import nab
from module.updates import safe_load

from .conftest import nab_rows, settle

SWAPS = 10
CLIENTS = 4


def test_ten_swaps_under_load_lose_no_request(start_agent, bundle, loopback):
    bundles = [bundle(str(v), seed=v) for v in range(2, 2 + SWAPS)]
    row = nab_rows()[1234]
    message = nab.to_message(row, "2024-01-01T00:00:00Z")
    expected = {b.manifest["version"]: float(safe_load.load(b.directory / "model.pkl", "pickle")
                                             .score_samples(row.reshape(1, -1))[0]) for b in bundles}
    agent = start_agent(http=True, host=loopback, default_model="nab-forest")  # point-wise, like the updates
    expected[agent.slot.current.version] = float(agent.service.score_matrix(row.reshape(1, -1)).scores[0])

    swaps: list[tuple[float, float, str]] = [(0.0, 0.0, agent.slot.current.version)]
    original = agent.activate

    def recorded(model):
        before = time.monotonic()
        old = original(model)
        swaps.append((before, time.monotonic(), model.version))
        return old

    agent.activate = recorded
    url = f"http://{loopback}:{agent.http.port}/score"
    stop = threading.Event()
    results: list[tuple[float, float, int, dict]] = []
    lock = threading.Lock()

    def client():
        with requests.Session() as session:
            while not stop.is_set():
                started = time.monotonic()
                resp = session.post(url, json=message, timeout=30)
                with lock:
                    results.append((started, time.monotonic(), resp.status_code, resp.json()))

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    try:
        for i, b in enumerate(bundles, start=1):
            agent.handle_desired({"model": b.section, "$version": i})
            assert settle(agent)["status"] == "active"
            time.sleep(0.05)  # let requests land on each version
    finally:
        stop.set()
        for t in threads:
            t.join()

    assert len(swaps) == SWAPS + 1 and agent.slot.current.version == bundles[-1].manifest["version"]
    failed = [r for r in results if r[2] != 200 or "error" in r[3]]
    assert not failed and len(results) > SWAPS
    for started, ended, _, body in results:
        version = body["model_version"]
        assert body["score"] == expected[version]
        assert _was_active(swaps, version, started, ended), (version, started, ended)
    assert len({r[3]["model_version"] for r in results}) >= 3


def _was_active(swaps, version, started, ended) -> bool:
    """True when `version` may have been in the slot at some moment of [started, ended] (a swap counts as
    in progress from just before the reference assignment until just after it)."""
    for i, (active_from, _, name) in enumerate(swaps):
        active_until = swaps[i + 1][1] if i + 1 < len(swaps) else float("inf")
        if name == version and active_from <= ended and started <= active_until:
            return True
    return False
