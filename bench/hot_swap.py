"""Section: hot swap under load. Open-loop POST /score at a fixed rate while the model is swapped ten
times through the real update path (the --desired file with inline model sections made by
deployment/bundling.py: validate, decode, verify, restricted load, canary, compile check, swap)."""

from __future__ import annotations

import json
import threading
import time

import yaml

from . import bundles, procs, workload
from .context import Context, row, target
from .loadgen import open_loop
from .net import free_port, loopback_address
from .stats import percentile_ms

NAME = "swap"
TITLE = "Hot swap under load (HTTP, open loop)"
SETTLE_S = 0.5
"""A swap window runs from the desired-file write to this long after the first answer from the new model."""


def _write(desired, made: bundles.Made, previous: bundles.Made | None = None) -> None:
    """The new section, with the previous one's surplus chunk keys set to null as a twin patch must
    (the agent merges each desired document over the last one, twin style: a key left out is kept)."""
    section = made.section
    if previous is not None:
        stale = set(previous.section["inline"]["chunks"]) - set(section["inline"]["chunks"])
        chunks = {**section["inline"]["chunks"], **{k: None for k in stale}}
        section = {**section, "inline": {**section["inline"], "chunks": chunks}}
    tmp = desired.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump({"model": section}))
    tmp.replace(desired)  # one rename: the watcher never reads half a file


def _version_of(sample) -> str | None:
    try:
        return json.loads(sample.body).get("model_version")
    except ValueError:
        return None


def _wait_version(agent: procs.Server, version: str, timeout: float = 60.0) -> None:
    from .update_bytes import _model_version

    deadline = time.monotonic() + timeout
    while _model_version(agent) != version:
        if time.monotonic() > deadline:
            raise TimeoutError(f"agent never activated {version}; see {agent.log_path}")
        time.sleep(0.05)


def run(ctx: Context) -> dict:
    swaps = 2 if ctx.quick else 10
    seconds = 4.0 if ctx.quick else 30.0
    rate = 100 if ctx.quick else 200
    folder = ctx.folder(NAME)
    made = [bundles.make(f"swap {i}", bundles.forest(bundles.SWAP_TREES, bundles.SWAP_SAMPLES, seed=i),
                         f"swap-{i}", folder / "bundles") for i in range(swaps + 1)]
    if not all(m.inline for m in made):
        raise RuntimeError("swap models must travel inline; make them smaller")
    desired = folder / "desired.yaml"
    _write(desired, made[0])
    host = loopback_address()
    start_at, spacing = 1.5, (seconds - 3.0) / swaps
    written: list[float] = []
    with procs.agent(host, free_port(host), folder, extra=["--desired", str(desired)],
                     env={"AGENT_AGENT_DESIRED_POLL_S": "0.05", "AGENT_AGENT_LOG_LEVEL": "warning"}) as agent:
        agent.wait_ready()
        _wait_version(agent, "swap-0")
        t_run = time.perf_counter() + 0.05

        def swapper() -> None:
            for k in range(1, swaps + 1):
                delay = t_run + start_at + (k - 1) * spacing - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                written.append(time.perf_counter() - t_run)
                _write(desired, made[k], made[k - 1])

        thread = threading.Thread(target=swapper, daemon=True)
        thread.start()
        result = open_loop(agent.host, agent.port, workload.body, rate, seconds, workers=16)
        thread.join()
        final = None
        from .update_bytes import _model_version

        final = _model_version(agent)
    return _report(result, written, made, final, rate, seconds, swaps)


def _windows(samples, written: list[float], versions: list[str]) -> list[tuple[float, float, float | None]]:
    """(written at, window end, seconds to the first answer from the new model) per swap."""
    out = []
    for at, version in zip(written, versions):
        first = next((s.sent_at + s.latency for s in samples if s.sent_at >= at and _version_of(s) == version), None)
        end = (first if first is not None else at + 5.0) + SETTLE_S
        out.append((at, end, None if first is None else first - at))
    return out


def _report(result, written, made, final, rate, seconds, swaps) -> dict:
    samples = result.samples
    versions = [m.manifest["version"] for m in made[1:]]
    windows = _windows(samples, written, versions)
    in_swap = lambda s: any(a <= s.sent_at <= b for a, b, _ in windows)  # noqa: E731
    during = [s.latency for s in samples if s.ok and in_swap(s)]
    steady = [s.latency for s in samples if s.ok and not in_swap(s) and s.sent_at >= 0.5]
    failed = sum(1 for s in samples if s.error is not None)
    unscored = sum(1 for s in samples if not s.ok)
    seen = {_version_of(s) for s in samples if s.ok}
    activated = sum(1 for v in versions if v in seen)
    took = [w[2] for w in windows if w[2] is not None]
    metrics = {
        "requests": len(samples), "failed": failed, "unscored": unscored,
        "swaps_done": activated, "swap_s": max(took) if took else None,
        "p50_ms": percentile_ms([s.latency for s in samples if s.ok], 50),
        "p99_steady_ms": percentile_ms(steady, 99), "p99_swap_ms": percentile_ms(during, 99),
    }
    rows = [row(f"{swaps} swaps in {seconds:g} s at {rate} req/s", "agent", metrics,
                f"final model {final}; {len(during)} requests inside swap windows")]
    ok = failed == 0 and unscored == 0 and activated == swaps and final == versions[-1]
    targets = [target(f"{swaps} hot swaps under load: failed + unscored requests", "0 (all swaps applied)",
                      failed + unscored, ok, f"{failed} failed, {unscored} unscored, {activated}/{swaps} swaps")]
    notes = [
        f"Swap models: IsolationForest {bundles.SWAP_TREES} trees, max_samples {bundles.SWAP_SAMPLES} "
        "(small enough to travel inline in the twin), one per version, each written to the --desired file.",
        f"A swap window runs from the file write to {SETTLE_S} s after the first answer from the new model "
        "(the agent polls the file every 50 ms); swap s is the slowest write -> first answer.",
        "Latency is from each request's scheduled send time (open loop), so a stall shows in full.",
    ]
    return {"rows": rows, "targets": targets, "notes": notes}
