"""Section: the HTTP path. Single-message POST /score at concurrency 1, 8 and 32, the agent (compiled
scorer on and off) beside a naive Flask scorer on the same waitress thread count; a 1,000-message batch
request beside scikit-learn's own score_samples on the same rows in-process."""

from __future__ import annotations

import json
import time

from . import procs, workload
from .context import Context, row, target
from .httpclient import Connection, get_request, post_request, scored
from .loadgen import closed_loop
from .net import free_port, loopback_address
from .stats import metric_rows, ratio, summary

NAME = "http"
TITLE = "HTTP path: POST /score"
THREADS = 16
"""waitress threads for both servers (the agent's default http.threads)."""
BATCH = 1000
CEILING = "Flask + waitress, no model (web stack ceiling)"
SINGLE_GOAL = 5.0
BATCH_GOAL = 2.0
CEILING_GOAL = 0.8
"""Agent single-message req/s / the empty route's (same Flask + waitress, constant answer), same run."""


def _subjects(ctx: Context) -> dict:
    folder = ctx.folder(NAME)
    servers = {}
    agents = (("agent", "true"),) if ctx.quick else (("agent", "true"), ("agent, compiled off", "false"))
    for name, compiled in agents:
        host = loopback_address()
        sub = folder / name.replace(", ", "-").replace(" ", "-")
        sub.mkdir(exist_ok=True)
        env = {"AGENT_SCORING_COMPILED": compiled, "AGENT_HTTP_THREADS": str(THREADS), "AGENT_AGENT_LOG_LEVEL": "warning"}
        servers[name] = procs.agent(host, free_port(host), sub, env=env)
    host = loopback_address()
    servers["naive Flask"] = procs.naive_flask(host, free_port(host), folder, THREADS)
    host = loopback_address()
    servers[CEILING] = procs.naive_flask(host, free_port(host), folder, THREADS, model_free=True)
    return servers


def model_field(server: procs.Server, key: str, unanswered: str = "?") -> str:
    """One field of the server's GET /model answer (`unanswered` when it does not answer 200)."""
    conn = Connection(server.host, server.port)
    try:
        status, body = conn.send(get_request(server.host, server.port, "/model"))
    finally:
        conn.close()
    return json.loads(body).get(key, "?") if status == 200 else unanswered


def scorer_name(server: procs.Server) -> str:
    return model_field(server, "scorer")


def _batch_trial(server: procs.Server, body: bytes, repeats: int) -> float:
    """Median seconds for one 1,000-message POST /score, answered in full."""
    conn = Connection(server.host, server.port)
    request = post_request(server.host, server.port, "/score", body)
    times = []
    try:
        for _ in range(repeats + 1):
            t0 = time.perf_counter()
            status, reply = conn.send(request)
            elapsed = time.perf_counter() - t0
            if not scored(status, reply) or len(json.loads(reply)) != BATCH:
                raise RuntimeError(f"batch request failed: HTTP {status} {reply[:200]!r}")
            times.append(elapsed)
    finally:
        conn.close()
    times = sorted(times[1:])  # the first one warms the path
    return times[len(times) // 2]


def _sklearn_batch(repeats: int) -> float:
    model, X = workload.model(), workload.features()[:BATCH]
    times = []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        model.score_samples(X)
        times.append(time.perf_counter() - t0)
    times = sorted(times[1:])
    return times[len(times) // 2]


def run(ctx: Context) -> dict:
    concurrencies = (1, 8) if ctx.quick else (1, 8, 32)
    seconds = 0.7 if ctx.quick else 5.0
    repeats = 3 if ctx.quick else 10
    servers = _subjects(ctx)
    single: dict = {(n, c): [] for n in servers for c in concurrencies}
    batch: dict = {n: [] for n in servers if n.startswith("agent")}
    batch["scikit-learn in-process"] = []
    try:
        for server in servers.values():
            server.wait_ready()
        scorers = {n: scorer_name(s) for n, s in servers.items() if n.startswith("agent")}
        body, big = workload.body(0), workload.batch_body(BATCH)
        for _ in range(ctx.trials):  # trials interleaved so a noisy neighbour hits every subject alike
            for c in concurrencies:
                for name, server in servers.items():
                    single[(name, c)].append(closed_loop(server.host, server.port, body, c, seconds).summary())
            for name in batch:
                if name == "scikit-learn in-process":
                    batch[name].append({"ms": _sklearn_batch(repeats) * 1000})
                else:
                    batch[name].append({"ms": _batch_trial(servers[name], big, repeats) * 1000})
    finally:
        for server in servers.values():
            server.stop()
    return _report(single, batch, scorers, concurrencies)


def _label(name: str, scorers: dict) -> str:
    return f"{name} (scorer {scorers[name]})" if name in scorers else name


def _report(single: dict, batch: dict, scorers: dict, concurrencies) -> dict:
    rows, targets = [], []
    for (name, c), trials in single.items():
        metrics = metric_rows(trials, ("rps", "p50_ms", "p99_ms"))
        metrics["failed"] = sum(t["failed"] for t in trials)
        error = next((t["first_error"] for t in trials if t["first_error"]), "")
        rows.append(row(f"single message, concurrency {c}", _label(name, scorers), metrics, error))
    for c in concurrencies:
        agent = summary(t["rps"] for t in single[("agent", c)])["median"]
        naive = summary(t["rps"] for t in single[("naive Flask", c)])["median"]
        x = ratio(agent, naive)
        targets.append(target(f"HTTP single message, concurrency {c}: agent / naive Flask (req/s)",
                              f">= {SINGLE_GOAL:g}x", x, None if x is None else x >= SINGLE_GOAL,
                              None if x is None else f"{x:.1f}x"))
        if (CEILING, c) in single:
            top = summary(t["rps"] for t in single[(CEILING, c)])["median"]
            x = ratio(agent, top)
            targets.append(target(f"HTTP single message, concurrency {c}: agent / web stack ceiling (req/s)",
                                  f">= {CEILING_GOAL:.0%}", x, None if x is None else x >= CEILING_GOAL,
                                  None if x is None else f"{x:.0%}"))
    for name, trials in batch.items():
        metrics = metric_rows(trials, ("ms",))
        med = metrics["ms"]["median"]
        metrics["msgs_per_s"] = None if not med else BATCH / (med / 1000)
        rows.append(row(f"batch of {BATCH} messages", _label(name, scorers), metrics))
    agent_ms = summary(t["ms"] for t in batch["agent"])["median"]
    sk_ms = summary(t["ms"] for t in batch["scikit-learn in-process"])["median"]
    x = ratio(agent_ms, sk_ms)
    targets.append(target(f"batch of {BATCH} over HTTP / scikit-learn score_samples in-process (time)",
                          f"<= {BATCH_GOAL:g}x", x, None if x is None else x <= BATCH_GOAL,
                          None if x is None else f"{x:.2f}x"))
    notes = [f"Every server runs waitress with {THREADS} threads; the naive scorer calls score_samples once per "
             "request; the web stack ceiling is the same Flask route parsing the same JSON, with a constant score."]
    return {"rows": rows, "targets": targets, "notes": notes}
