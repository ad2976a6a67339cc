"""Section: the windowed feature path (module/features) against the point-wise one, in the same run.

In process: the cost of one message through ScoringService.score_messages (feature row + compiled
IsolationForest of 100 trees) with a 6-column windowed spec, its partitions warm, at 1, 1,000 and
100,000 partitions, beside the same path with a point-wise model (scoring.features); and the feature
row alone. Memory: tracemalloc over N warm partitions of that spec. Over HTTP: two agent processes, one
serving a point-wise and one a windowed model of the same size (both baked bundles, updates.baked_model_dir),
single messages at concurrency 8 and 1,000-message lists; on the edgeHub path (the edgehub section's
harness), a burst from one sending module. Target: the windowed agent's msg/s >= 90% of the point-wise
agent's, on each.
"""

from __future__ import annotations

import json
import pickle
import sys
import time
import tracemalloc
from functools import lru_cache

from module.features import FeatureState, load_spec, parse_spec, training_matrix
from module.metrics import Metrics
from module.scoring.features import FeatureExtractor
from module.scoring.prepare import prepare
from module.scoring.service import ScoringService
from module.scoring.slot import ModelSlot
from module.settings import ScoringSection

from . import procs, workload
from .context import Context, row, target
from .http_path import model_field
from .httpclient import Connection, post_request, scored
from .loadgen import closed_loop
from .net import free_port, loopback_address
from .stats import metric_rows, ratio, summary

NAME = "features"
TITLE = "Windowed features: per-message cost, memory per partition, HTTP msg/s vs point-wise"
#: Six columns over three fields, one of each window kind a count spec can hold.
SPEC = {
    "columns": [
        "machine.temperature",
        "diff(machine.temperature)",
        "mean(machine.temperature, 12)",
        "std(machine.temperature, 12)",
        "max(machine.pressure, 12)",
        "ewma(ambient.temperature, 0.2)",
    ],
    "time": {"field": "timeCreated", "fallback": "arrival"},
}
TREES = 100
THROUGHPUT_GOAL = 0.9
"""Windowed agent msg/s / point-wise agent msg/s, same run."""
TRIALS = 7
"""Trials per model over HTTP and on the edgeHub path (a full run): one trial's msg/s varies by +-15%
here, more than the gap the 90% goal allows, so the median takes more of them than other sections do."""
CONCURRENCY = 8
BATCH = 1000
POINT_WISE, WINDOWED = "point-wise model", "windowed model (6 columns)"


def _turns(subjects: dict, trials: int):
    """(name, subject) in an A B B A order: neither model always runs first after a pause."""
    names = list(subjects)
    for trial in range(trials):
        for name in (names if trial % 2 == 0 else names[::-1]):
            yield name, subjects[name]


@lru_cache(maxsize=1)
def spec():
    return parse_spec(SPEC)


def messages(n: int) -> list[dict]:
    return [workload.message(i) for i in range(n)]


@lru_cache(maxsize=2)
def windowed_forest(rows: int):
    """The same IsolationForest recipe as the point-wise default, on the spec's training matrix."""
    from sklearn.ensemble import IsolationForest

    m = training_matrix(spec(), messages(rows))
    return IsolationForest(n_estimators=TREES, contamination=0.01, random_state=0).fit(m.X[m.warm])


def _model(estimator, features):
    width = features.width if features is not None else 4
    manifest = {"version": "windowed" if features is not None else "point-wise", "sha256": "", "format": "pickle"}
    return prepare(estimator, manifest, "bench", width, compiled=True, features=features)


def _service(model, partitions: int) -> ScoringService:
    """A scoring core on `model` with a fresh history that holds `partitions` without dropping one."""
    slot = ModelSlot()
    slot.swap(model)
    history = FeatureState(max_partitions=partitions + 1, idle_ttl_s=None)
    if model.features is not None:
        history.require(model.features)
    return ScoringService(slot, ScoringSection(), Metrics(), history)


def _warm(service: ScoringService, partitions: int, depth: int) -> None:
    """Every partition holds `depth` messages of history (warm for every column)."""
    sample = messages(depth)
    for p in range(partitions):
        key = f"sensor-{p}"
        for m in sample:
            service.history.update(spec(), key, m)


def _per_message_us(call, bodies: list[dict], keys: list[str], n: int) -> dict:
    """Median and mean wall time of one call per message, in microseconds."""
    times = []
    for i in range(n):
        message, key = bodies[i % len(bodies)], keys[i % len(keys)]
        t0 = time.perf_counter()
        call(message, key)
        times.append(time.perf_counter() - t0)
    times.sort()
    return {"median_us": times[len(times) // 2] * 1e6, "mean_us": sum(times) / len(times) * 1e6}


def per_message(ctx: Context) -> tuple[list[dict], dict]:
    partition_counts = (1, 10, 100) if ctx.quick else (1, 1000, 100_000)
    n = 300 if ctx.quick else 20_000
    depth = spec().needs_values
    bodies = messages(500)
    out: dict = {}
    point = _service(_model(workload.model(), None), 1)
    windowed = _model(windowed_forest(2000 if ctx.quick else 20_000), spec())
    extractor = FeatureExtractor(ScoringSection().features)
    for _ in range(ctx.trials):
        out.setdefault(("score", POINT_WISE, 1), []).append(
            _per_message_us(lambda m, k: point.score_messages([m], "bench"), bodies, ["-"], n))
        out.setdefault(("row", POINT_WISE, 1), []).append(
            _per_message_us(lambda m, k: extractor.parse([m]), bodies, ["-"], n))
    for partitions in partition_counts:
        service = _service(windowed, partitions)
        _warm(service, partitions, depth)
        keys = [f"sensor-{p}" for p in range(partitions)]
        for _ in range(ctx.trials):
            out.setdefault(("score", WINDOWED, partitions), []).append(_per_message_us(
                lambda m, k: service.score_messages([m], "bench", sender=k), bodies, keys, n))
            out.setdefault(("row", WINDOWED, partitions), []).append(_per_message_us(
                lambda m, k: service.history.update(spec(), k, m), bodies, keys, n))
        assert len(service.history.partitions) == partitions and service.history.dropped == 0
        service.stop()
    point.stop()
    rows, shown = [], {}
    for (what, subject, partitions), trials in out.items():
        case = ("one message through score_messages (row + compiled forest)" if what == "score"
                else "feature row only") + f", {partitions:,} partition{'s' if partitions > 1 else ''}"
        rows.append(row(case, subject, metric_rows(trials, ("median_us", "mean_us"))))
        shown[(what, subject, partitions)] = summary(t["median_us"] for t in trials)["median"]
    return rows, {"shown": shown, "partitions": partition_counts}


def memory_per_partition(ctx: Context) -> tuple[list[dict], float]:
    """Bytes traced per warm partition of the spec (raw history, windows, dicts, the key), N partitions."""
    n = 100 if ctx.quick else 20_000
    depth = 2 * spec().needs_values  # full windows, and a raw history at its retention
    sample = messages(depth)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        state = FeatureState(max_partitions=n + 1, idle_ttl_s=None)
        state.require(spec())
        for p in range(n):
            key = f"sensor-{p}"
            for m in sample:
                state.update(spec(), key, m)
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    per = (after - before) / n
    held = sum(len(f.raw) for f in next(iter(state.partitions.values())).fields.values())
    rows = [row(f"memory per warm partition over {n:,} partitions (tracemalloc)", WINDOWED,
                {"bytes_per_partition": per, "raw_values_held": held, "fields": len(spec().paths)})]
    return rows, per


def _bake(folder, estimator, version: str, features: bool):
    """A bundle directory the agent adopts at start (updates.baked_model_dir): manifest.json + model.pkl."""
    from deployment.bundling import build_bundle

    folder.mkdir(parents=True, exist_ok=True)
    model_file = folder / "model-in.pkl"
    model_file.write_bytes(pickle.dumps(estimator, protocol=5))
    spec_file = None
    if features:
        spec_file = folder / "spec.json"
        spec_file.write_text(json.dumps(SPEC), encoding="utf-8")
        load_spec(spec_file)
    out = folder / "bundle"
    build_bundle(model_file, version, out, features=spec_file)
    return out


def baked_models(ctx: Context) -> dict:
    """Subject name -> (bundle directory, version): the two models, baked once for every transport."""
    folder = ctx.folder(NAME)
    models = {POINT_WISE: (workload.model(), "bench-point-wise", False),
              WINDOWED: (windowed_forest(2000 if ctx.quick else 20_000), "bench-windowed", True)}
    return {name: (_bake(folder / version, estimator, version, features), version)
            for name, (estimator, version, features) in models.items()}


def _env(baked) -> dict:
    return {"AGENT_UPDATES_BAKED_MODEL_DIR": str(baked), "AGENT_AGENT_LOG_LEVEL": "warning"}


def _agents(ctx: Context, baked: dict) -> dict:
    servers = {}
    for name, (bundle, version) in baked.items():
        sub = ctx.folder(f"{NAME}/http-{version}")
        host = loopback_address()
        servers[name] = (procs.agent(host, free_port(host), sub, env=_env(bundle)), version)
    return servers


def _served_version(server: procs.Server) -> str:
    return model_field(server, "version", unanswered="no 200 answer to GET /model")


def _batch_msgs_per_s(server: procs.Server, body: bytes, repeats: int) -> float:
    conn = Connection(server.host, server.port)
    request = post_request(server.host, server.port, "/score", body)
    times = []
    try:
        for _ in range(repeats + 1):
            t0 = time.perf_counter()
            status, reply = conn.send(request)
            times.append(time.perf_counter() - t0)
            if not scored(status, reply) or len(json.loads(reply)) != BATCH:
                raise RuntimeError(f"batch request failed: HTTP {status} {reply[:200]!r}")
    finally:
        conn.close()
    times = sorted(times[1:])
    return BATCH / times[len(times) // 2]


def http(ctx: Context, baked: dict) -> tuple[list[dict], dict]:
    seconds = 0.7 if ctx.quick else 4.0
    repeats = 3 if ctx.quick else 10
    servers = _agents(ctx, baked)
    single: dict = {n: [] for n in servers}
    batch: dict = {n: [] for n in servers}
    try:
        for name, (server, version) in servers.items():
            server.wait_ready()
            served = _served_version(server)
            if served != version:
                raise RuntimeError(f"{name}: the agent serves {served}, not the baked {version}; see {server.log_path}")
        body, big = workload.body(0), workload.batch_body(BATCH)
        # Interleaved, so a noisy neighbour hits both alike.
        for name, (server, _) in _turns(servers, ctx.trials if ctx.quick else TRIALS):
            single[name].append(closed_loop(server.host, server.port, body, CONCURRENCY, seconds).summary())
            batch[name].append({"msgs_per_s": _batch_msgs_per_s(server, big, repeats)})
    finally:
        for server, _ in servers.values():
            server.stop()
    rows = []
    for name in servers:
        metrics = metric_rows(single[name], ("rps", "p50_ms", "p99_ms"))
        metrics["failed"] = sum(t["failed"] for t in single[name])
        rows.append(row(f"HTTP single message, concurrency {CONCURRENCY}", name, metrics))
        rows.append(row(f"HTTP list of {BATCH:,} messages", name, metric_rows(batch[name], ("msgs_per_s",))))
    medians = {(kind, name): summary(t[key] for t in trials[name])["median"]
               for kind, trials, key in (("single", single, "rps"), ("batch", batch, "msgs_per_s"))
               for name in servers}
    return rows, medians


def _output_version(output) -> str:
    doc = output.json()
    return (doc[0] if isinstance(doc, list) else doc).get("model_version", "?")


def edge(ctx: Context, baked: dict) -> tuple[list[dict], dict]:
    """Bursts through the SDK and mosquitto (the edgehub section's harness), one sender: one partition."""
    from .edgehub_path import Subject

    burst = 100 if ctx.quick else 3000
    subjects = {}
    try:
        for name, (bundle, version) in baked.items():
            sub = ctx.folder(f"{NAME}/edge-{version}")
            argv = [sys.executable, "-m", "module", "--http-host", "127.0.0.1", "--http-port", "0",
                    "--data-dir", str(sub / "data")]
            subjects[name] = Subject(name, argv, sub, _env(bundle))
        for name, s in subjects.items():
            s.wait_serving()
            served = _output_version(s.hub.outputs("scores")[-1])
            if served != baked[name][1]:
                raise RuntimeError(f"{name}: the edge agent serves {served}, not the baked {baked[name][1]}; "
                                   f"see {s.proc.log_path}")
        results: dict = {name: [] for name in subjects}
        for name, s in _turns(subjects, ctx.trials if ctx.quick else TRIALS):  # interleaved, as on HTTP
            r = s.measure(burst, None)
            r["msgs_per_s"] = None if not r["span"] else (burst - r["unscored"]) / r["span"]
            results[name].append(r)
    finally:
        for s in subjects.values():
            s.stop()
    rows = []
    for name, trials in results.items():
        metrics = metric_rows(trials, ("msgs_per_s", "p50_ms", "p99_ms", "cpu_ms_per_msg"))
        metrics["unscored"] = sum(t["unscored"] for t in trials)
        rows.append(row(f"edgeHub path, burst of {burst:,}", name, metrics))
    return rows, {("edge", name): summary(t["msgs_per_s"] for t in trials)["median"] for name, trials in results.items()}


def run(ctx: Context) -> dict:
    rows, cost = per_message(ctx)
    memory_rows, per_partition = memory_per_partition(ctx)
    baked = baked_models(ctx)
    http_rows, medians = http(ctx, baked)
    edge_rows, edge_medians = edge(ctx, baked)
    medians.update(edge_medians)
    rows += memory_rows + http_rows + edge_rows
    targets = []
    shown = cost["shown"]
    for partitions in cost["partitions"]:
        for what, label in (("score", "score_messages"), ("row", "feature row")):
            x = ratio(shown[(what, WINDOWED, partitions)], shown[(what, POINT_WISE, 1)])
            targets.append(target(f"per message, {label}: windowed at {partitions:,} partitions / point-wise (time)",
                                  "(shown, not a target)", x, None, None if x is None else f"{x:.2f}x"))
    targets.append(target("memory per warm partition of the 6-column spec (tracemalloc)", "(shown, not a target)",
                          per_partition, None, f"{per_partition:,.0f} bytes"))
    for kind, label in (("single", f"HTTP single message, concurrency {CONCURRENCY}"),
                        ("batch", f"HTTP list of {BATCH:,}"), ("edge", "edgeHub path, burst")):
        x = ratio(medians[(kind, WINDOWED)], medians[(kind, POINT_WISE)])
        targets.append(target(f"{label}: windowed / point-wise agent (msg/s)", f">= {THROUGHPUT_GOAL:.0%}", x,
                              None if x is None else x >= THROUGHPUT_GOAL, None if x is None else f"{x:.0%}"))
    notes = [
        f"Windowed spec: {', '.join(SPEC['columns'])}. Both models are IsolationForests of {TREES} trees "
        "(contamination 0.01, random_state 0) served by the compiled scorer; the point-wise one reads the four "
        "scoring.features paths. Partitions are warm before timing and visited round-robin.",
        "HTTP: every single message carries no X-Partition header, so they share the partition `http`; each "
        "agent adopts its model as a baked bundle (updates.baked_model_dir) and GET /model is checked first.",
        "edgeHub path: the edgehub section's harness (real SDK, mosquitto over TLS, an edgeHub stand-in), one "
        "sending module, so one partition; msg/s = answers / (last answer - first send).",
        f"HTTP and edgeHub msg/s: {TRIALS} trials per model, interleaved A B B A; the ratio is of the medians.",
        "Memory: tracemalloc's traced bytes after filling N partitions / N: raw (time, value) history per "
        "field, the windows' deques and sums, the partition's dicts and its key.",
    ]
    if ctx.quick:
        notes.append("--quick: 1, 10 and 100 partitions (not 1,000 and 100,000), few messages; the figures are a smoke "
                     "run, not a measurement.")
    return {"rows": rows, "targets": targets, "notes": notes}
