"""`python -m bench.http_route [--requests N] [--rounds N] [--model nab-forest|simulated-sensor]`: where a
single-message POST /score spends its time past the web stack, in-process, no sockets.

The agent's Flask app and the web stack ceiling's (bench/naive_flask.py, constant score) are called as
WSGI applications on the same prepared request, in alternating rounds, then the agent again with its
scorer answering a constant (what the agent's own plumbing costs) and with its scorer timed inside the
route beside the same scorer in a loop. waitress is left out: it costs both servers the same.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Callable

import numpy as np
from werkzeug.test import EnvironBuilder

from module.agent import Agent
from module.api.app import Core, create_app
from module.scoring.features import FeatureExtractor
from module.settings.sources import load

from . import workload
from .naive_flask import create_app as ceiling_app


def agent_app(model: str):
    agent = Agent(load(None, {"AGENT_AGENT_LOG_LEVEL": "warning", "AGENT_AGENT_DEFAULT_MODEL": model}))
    agent.activate(agent.load_embedded_default())
    return agent, create_app(Core(agent.service, agent.slot, agent.metrics), 1 << 20)


def caller(app, body: bytes) -> Callable[[], None]:
    """One POST /score through the WSGI app, answered in full (the environ is copied, not rebuilt)."""
    template = EnvironBuilder(method="POST", path="/score", data=body, content_type="application/json").get_environ()
    stream = template["wsgi.input"]

    def call() -> None:
        stream.seek(0)
        status = []
        b"".join(app(dict(template), lambda s, h, exc=None: status.append(s)))
        if not status[0].startswith("200"):
            raise RuntimeError(f"POST /score answered {status[0]}")
    call()
    return call


def per_call_us(call: Callable[[], None], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - t0) / n * 1e6


class TimedScorer:
    """Wraps a scorer's score() to record how long each call took inside the route."""

    def __init__(self, scorer):
        self.inner, self.times = scorer.score, []

    def __call__(self, X):
        t0 = time.perf_counter()
        out = self.inner(X)
        self.times.append(time.perf_counter() - t0)
        return out


def measure(model: str, n: int, rounds: int) -> dict[str, float]:
    agent, app = agent_app(model)
    body = workload.body(0) if model == "nab-forest" else b'{"machine":{"temperature":30.5,"pressure":2.9},' \
        b'"ambient":{"temperature":20.9,"humidity":25},"timeCreated":"2026-12-04T00:00:00Z"}'
    agent_call, ceiling_call = caller(app, body), caller(ceiling_app(model_free=True), body)
    scorer = agent.slot.current.scorer
    runs: dict[str, list[float]] = {k: [] for k in ("ceiling", "agent", "agent, constant scorer")}
    for _ in range(rounds):
        runs["ceiling"].append(per_call_us(ceiling_call, n))
        runs["agent"].append(per_call_us(agent_call, n))
        real = scorer.score
        scorer.score = lambda X: np.full(len(X), -0.5)
        runs["agent, constant scorer"].append(per_call_us(agent_call, n))
        scorer.score = real
    timed = TimedScorer(scorer)
    scorer.score = timed
    per_call_us(agent_call, n)
    in_route = statistics.median(timed.times) * 1e6
    timed.times.clear()
    X = _row(agent, body)[None, :]
    for _ in range(n):
        timed(X)
    in_loop = statistics.median(timed.times) * 1e6
    scorer.score = timed.inner
    out = {k: statistics.median(v) for k, v in runs.items()}
    out.update({"scorer in the route": in_route, "scorer in a loop": in_loop})
    return out


def _row(agent, body: bytes) -> np.ndarray:
    """The feature row the route scores for `body` (point-wise models; a windowed one gets a zero row)."""
    model = agent.slot.current
    if model.features is not None:
        return np.zeros(model.features.width)
    [parsed] = FeatureExtractor(agent.service.settings.features).parse([json.loads(body)])
    return np.asarray(parsed.row, dtype=np.float64)


def render(model: str, m: dict[str, float]) -> str:
    base = m["ceiling"]
    lines = [f"model {model}, in-process WSGI calls, medians",
             "| per request | µs | of the ceiling's req/s |", "|---|---:|---:|"]
    for key in ("ceiling", "agent", "agent, constant scorer"):
        lines.append(f"| {key} | {m[key]:.1f} | {base / m[key]:.0%} |")
    lines += [f"| scorer in the route | {m['scorer in the route']:.1f} | |",
              f"| the same scorer in a loop | {m['scorer in a loop']:.1f} | |"]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.http_route", description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=5000, help="requests per subject per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--model", choices=("nab-forest", "simulated-sensor"), default="nab-forest")
    args = p.parse_args(argv)
    print(render(args.model, measure(args.model, args.requests, args.rounds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
