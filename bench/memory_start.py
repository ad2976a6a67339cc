"""Section: memory and start. Seconds from spawn to the first /readyz 200, and the agent's resident set
at ready (model loaded, no traffic yet) and after serving traffic, beside the naive Flask scorer's."""

from __future__ import annotations

from . import procs, workload
from .context import Context, row, target
from .httpclient import Connection, post_request, scored
from .net import free_port, loopback_address
from .stats import metric_rows, summary

NAME = "memory"
TITLE = "Memory and start"
RSS_GOAL_MB = 150.0
READY_GOAL_S = 3.0


def _traffic(server: procs.Server, singles: int) -> None:
    """Single messages then one 1,000-message batch, so every buffer the serving path grows is grown."""
    conn = Connection(server.host, server.port)
    try:
        for i in range(singles):
            status, reply = conn.send(post_request(server.host, server.port, "/score", workload.body(i)))
            if not scored(status, reply):
                raise RuntimeError(f"score failed: HTTP {status} {reply[:200]!r}")
        if server is not None:
            conn.send(post_request(server.host, server.port, "/score", workload.batch_body(1000)))
    finally:
        conn.close()


def _trial(make, ctx: Context, label: str, singles: int, n: int) -> dict:
    folder = ctx.folder(f"{NAME}/{label}-{n}")
    host = loopback_address()
    with make(host, free_port(host), folder) as server:
        ready = server.wait_ready()
        at_ready = server.memory()["rss_mb"]
        _traffic(server, singles)
        after = server.memory()
    return {"ready_s": ready, "rss_ready_mb": at_ready, "rss_mb": after["rss_mb"], "peak_rss_mb": after["peak_rss_mb"]}


def run(ctx: Context) -> dict:
    singles = 100 if ctx.quick else 500
    subjects = {
        "agent": lambda h, p, f: procs.agent(h, p, f, env={"AGENT_AGENT_LOG_LEVEL": "warning"}),
        "agent, compiled off": lambda h, p, f: procs.agent(
            h, p, f, env={"AGENT_AGENT_LOG_LEVEL": "warning", "AGENT_SCORING_COMPILED": "false"}),
        "naive Flask": lambda h, p, f: procs.naive_flask(h, p, f, threads=16),
        # Evidence for docs/benchmarks.md: joblib 1.2 imports distutils, which a pip-installed setuptools turns
        # into an import of setuptools and pkg_resources (~12 MB, ~0.3 s) unless told to use the stdlib's.
        "agent, SETUPTOOLS_USE_DISTUTILS=stdlib": lambda h, p, f: procs.agent(
            h, p, f, env={"AGENT_AGENT_LOG_LEVEL": "warning", "SETUPTOOLS_USE_DISTUTILS": "stdlib"}),
    }
    if ctx.quick:
        subjects = {"agent": subjects["agent"]}
    trials: dict = {name: [] for name in subjects}
    for n in range(ctx.trials):
        for name, make in subjects.items():
            label = "".join(c if c.isalnum() else "-" for c in name)
            trials[name].append(_trial(make, ctx, label, singles, n))
    rows = []
    keys = ("ready_s", "rss_ready_mb", "rss_mb", "peak_rss_mb")
    for name, t in trials.items():
        rows.append(row(f"start, then {singles:,} single + one 1,000-message batch", name, metric_rows(t, keys)))
    ready = summary(t["ready_s"] for t in trials["agent"])["median"]
    rss = summary(t["rss_mb"] for t in trials["agent"])["median"]
    targets = [
        target("agent RSS with the model loaded, after traffic (MB)", f"<= {RSS_GOAL_MB:g} MB", rss,
               rss <= RSS_GOAL_MB, f"{rss:.0f} MB"),
        target("agent start to /readyz 200 (s)", f"<= {READY_GOAL_S:g} s", ready, ready <= READY_GOAL_S,
               f"{ready:.2f} s"),
    ]
    notes = [
        "ready s: spawn of `python -m module --local` to its first /readyz 200 (imports, training the "
        "embedded default model, building its scorer, starting HTTP); RSS ready: at that moment; "
        "RSS: after the traffic; peak: VmHWM (includes the transient peak of training the default at start).",
    ]
    return {"rows": rows, "targets": targets, "notes": notes}
