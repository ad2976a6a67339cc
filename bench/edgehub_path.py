"""Section: the edgeHub path, through the real azure-iot-device SDK and Debian's mosquitto (TLS, 8883),
as in the integration tests. Inputs go in on "telemetry", latency is input publish -> `scores` output
received, for the agent, for an echo module built on the SDK alone (the ceiling: bench/echo_module.py) and
for the naive module a user would write from the Azure ML sample. The targets are ratios to the echo
module measured in the same run."""

from __future__ import annotations

import os
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

from tests.helpers.edgehub_standin import EdgeHubStandin
from tests.helpers.mosquitto import Mosquitto

from . import procs, workload
from .context import Context, row, target
from .net import loopback_address
from .stats import metric_rows, percentile_ms, ratio, summary

NAME = "edgehub"
TITLE = "edgeHub path: input 'telemetry' -> output 'scores' (SDK + mosquitto)"
THROUGHPUT_GOAL = 20.0
ECHO = "SDK echo module (ceiling)"
ECHO_SHARE_GOAL = 0.8
"""Agent msg/s on a burst / the echo module's."""
CPU_GOAL = 1.25
"""Agent CPU per message / the echo module's."""
P99_RATE, P99_GOAL_MS = 300, 10.0
OUTPUT_BATCH = 50
BATCHED = f"agent, edge.output_batch {OUTPUT_BATCH} / 20 ms"
OUTPUT = "scores"
TICKS = os.sysconf("SC_CLK_TCK")
THREAD_NAMES = Path(__file__).with_name("thread_names")
"""On the local modules' PYTHONPATH: their threads carry their Python names into /proc (sitecustomize.py)."""


def cpu_seconds(pid: int, task: str = "") -> float:
    """User + system CPU the process (or one of its threads) has used so far (/proc/PID/stat utime, stime)."""
    with open(f"/proc/{pid}{task}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """Each live thread's name and CPU seconds so far; threads that end meanwhile are skipped."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm", encoding="utf-8", errors="replace") as fh:
                name = fh.read().strip()
            out[int(tid)] = (name, cpu_seconds(pid, f"/task/{tid}"))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return out


def by_thread_group(before: dict, after: dict, answered: int) -> dict[str, float]:
    """CPU µs per message per group of threads (a pool's workers together: "pool-2 x4"), busiest first;
    groups that used no CPU are left out."""
    used, members = defaultdict(float), defaultdict(int)
    for tid, (name, cpu) in after.items():
        group = re.sub(r"_\d+$" if name.startswith("pool-") else r"-\d+$", "", name)  # waitress-3: waitress
        used[group] += cpu - before.get(tid, (name, 0.0))[1]
        members[group] += 1
    named = {(f"{g} x{members[g]}" if members[g] > 1 else g): us * 1e6 / answered for g, us in used.items()}
    return dict(sorted(((g, us) for g, us in named.items() if us > 0), key=lambda kv: -kv[1]))


class Subject:
    """One module under test with a broker and an edgeHub stand-in of its own."""

    def __init__(self, name: str, argv: list[str], folder, env: dict, echo: bool = False):
        self.name = name
        self.echo = echo
        self.folder = folder
        self.broker = Mosquitto(folder / "broker", host=loopback_address()).start()
        self.hub = EdgeHubStandin(self.broker).start()
        module_env = {**env, **self.hub.module_environment()}
        self.proc = procs.Server(self._argv(module_env) if not argv else argv, self.broker.host, 0,
                                 folder / "module.log", module_env)
        self.runs = 0

    def _argv(self, env: dict) -> list[str]:
        """Subclasses that wrap the module (in an image) build their command line from its environment."""
        raise NotImplementedError

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def threads(self) -> dict[int, tuple[str, float]]:
        """Per-thread CPU of the module process; subclasses whose module is not that process give none."""
        return thread_cpu(self.proc.pid)

    def wait_serving(self, timeout: float = 90.0) -> None:
        """Probe inputs until the first score comes back (connect, twin, model load all done)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.proc.returncode}; see {self.proc.log_path}")
            self.hub.send_input(workload.message(0, "probe"))
            try:
                self.hub.wait_outputs(OUTPUT, 1, timeout=0.5)
                time.sleep(0.3)
                return
            except TimeoutError:
                continue
        raise TimeoutError(f"{self.name} never answered on {OUTPUT!r}; see {self.proc.log_path}")

    def measure(self, count: int, rate: float | None) -> dict:
        """Send `count` inputs at `rate`/s (None: as fast as possible), wait for every answer."""
        self.runs += 1
        prefix = f"r{self.runs}-"
        start_index = len(self.hub.outputs(OUTPUT))
        sent: dict[str, float] = {}
        cpu0 = self.cpu()
        threads0 = self.threads() if rate is None else {}
        t0 = time.monotonic() + 0.02
        for i in range(count):
            if rate:
                delay = t0 + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            mid = f"{prefix}{i}"
            sent[mid] = time.monotonic()
            self.hub.send_input(workload.message(i, mid), message_id=mid)
        self._wait_answers(start_index, count, drain_s=max(30.0, count / 10.0))
        cpu = self.cpu() - cpu0
        threads1 = self.threads() if rate is None else {}
        outputs = self.hub.outputs(OUTPUT)[start_index:]
        out = _summarise(outputs, sent, count, self.echo)
        out["outputs_per_1000"] = len(outputs) * 1000 / count
        answered = count - out["unscored"]
        out["cpu_ms_per_msg"] = cpu * 1000 / answered if answered else None
        if threads1 and answered:
            out["threads_us_per_msg"] = by_thread_group(threads0, threads1, answered)
        return out

    def _wait_answers(self, start_index: int, count: int, drain_s: float) -> None:
        """Until `count` results came back, counting each result inside a batched output (a list): waiting
        for `count` output messages instead made every batched run sit out the whole drain time."""
        deadline = time.monotonic() + drain_s
        seen, answered = start_index, 0
        while answered < count and time.monotonic() < deadline:
            time.sleep(0.02)  # latency is stamped by the stand-in on receipt; polling only ends the wait
            outputs = self.hub.outputs(OUTPUT)
            answered += sum(len(_ids(o, self.echo)) for o in outputs[seen:])
            seen = len(outputs)

    def stop(self) -> None:
        try:
            self.proc.stop()
        finally:
            self.hub.stop()
            self.broker.stop()


def _ids(output, echo: bool = False) -> list[tuple[str | None, bool]]:
    if echo:
        return [(output.correlation_id, True)]
    try:
        doc = output.json()
    except ValueError:
        return [(output.correlation_id, False)]
    items = doc if isinstance(doc, list) else [doc]
    return [(d.get("id") or output.correlation_id, "score" in d and "error" not in d) for d in items if isinstance(d, dict)]


def _summarise(outputs, sent: dict[str, float], count: int, echo: bool = False) -> dict:
    latencies, last = [], None
    first = min(sent.values(), default=None)
    for out in outputs:
        for mid, ok in _ids(out, echo):
            if ok and mid in sent:
                latencies.append(out.received_at - sent.pop(mid))
                last = out.received_at
    span = (last - first) if last is not None and first is not None else None
    return {
        "latencies": latencies,
        "p50_ms": percentile_ms(latencies, 50),
        "p99_ms": percentile_ms(latencies, 99),
        "unscored": count - len(latencies),
        "span": span,
    }


def _subjects(ctx: Context) -> dict[str, Subject]:
    folder = ctx.folder(NAME)
    quiet = {"AGENT_AGENT_LOG_LEVEL": "warning", **procs.AGENT_MODEL}
    specs = {}
    agents = (("agent", "true"),) if ctx.quick else (("agent", "true"), ("agent, compiled off", "false"))
    for name, compiled in agents:
        sub = folder / name.replace(", ", "-").replace(" ", "-")
        argv = [sys.executable, "-m", "module", "--http-host", "127.0.0.1", "--http-port", "0",
                "--data-dir", str(sub / "data")]
        specs[name] = (argv, sub, {**quiet, "AGENT_SCORING_COMPILED": compiled})
    sub = folder / "agent-batched"
    specs[BATCHED] = ([sys.executable, "-m", "module", "--http-host", "127.0.0.1", "--http-port", "0",
                       "--data-dir", str(sub / "data")], sub,
                      {**quiet, "AGENT_EDGE_OUTPUT_BATCH": str(OUTPUT_BATCH), "AGENT_EDGE_OUTPUT_BATCH_MS": "20"})
    specs[ECHO] = ([sys.executable, "-m", "bench.echo_module"], folder / "echo", {})
    specs["naive module"] = ([sys.executable, "-m", "bench.naive_module"], folder / "naive", {})
    named = {"PYTHONPATH": os.pathsep.join(filter(None, (str(THREAD_NAMES), os.environ.get("PYTHONPATH"))))}
    specs = {name: (argv, sub, {**named, **env}) for name, (argv, sub, env) in specs.items()}
    subjects = {}
    try:
        for name, (argv, sub, env) in specs.items():
            sub.mkdir(parents=True, exist_ok=True)
            subjects[name] = Subject(name, argv, sub, env, echo=name == ECHO)
    except Exception:
        for s in subjects.values():
            s.stop()
        raise
    return subjects


def run(ctx: Context) -> dict:
    rates = (50,) if ctx.quick else (20, 100, P99_RATE)
    seconds = 1.0 if ctx.quick else 6.0
    burst = 100 if ctx.quick else 3000
    subjects = _subjects(ctx)
    results: dict = {}
    try:
        for s in subjects.values():
            s.wait_serving()
        for _ in range(ctx.trials):
            for rate in (*rates, None):
                for name, s in subjects.items():
                    count = burst if rate is None else int(rate * seconds)
                    if name == "naive module" and (rate is None or rate > 50):
                        count = min(count, 200)  # ~25 msg/s: 3,000 would take two minutes a trial
                    r = s.measure(count, rate)
                    r["msgs_per_s"] = None if not r["span"] else (count - r["unscored"]) / r["span"]
                    results.setdefault((rate, name), []).append(r)
        memory = {name: s.proc.memory() for name, s in subjects.items()}
    finally:
        for s in subjects.values():
            s.stop()
    return _report(results, list(subjects), rates, burst, seconds, memory)


def _echo_targets(med, rates) -> list[dict]:
    """The agent against the SDK's own ceiling, both measured in this run."""
    out = []
    x = ratio(med(None, "agent", "msgs_per_s"), med(None, ECHO, "msgs_per_s"))
    out.append(target("edgeHub path, burst: agent / SDK echo module (msg/s)", f">= {ECHO_SHARE_GOAL:.0%}", x,
                      None if x is None else x >= ECHO_SHARE_GOAL, None if x is None else f"{x:.0%}"))
    x = ratio(med(None, BATCHED, "msgs_per_s"), med(None, "agent", "msgs_per_s"))
    out.append(target(f"edgeHub path, burst: agent with output_batch {OUTPUT_BATCH} / agent (msg/s)",
                      "(shown, not a target)", x, None, None if x is None else f"{x:.2f}x"))
    x = ratio(med(None, "agent", "cpu_ms_per_msg"), med(None, ECHO, "cpu_ms_per_msg"))
    out.append(target("edgeHub path, burst: agent / SDK echo module (CPU per message)", f"<= {CPU_GOAL:g}x", x,
                      None if x is None else x <= CPU_GOAL, None if x is None else f"{x:.2f}x"))
    if P99_RATE in rates:
        p99 = med(P99_RATE, "agent", "p99_ms")
        out.append(target(f"edgeHub path, open loop {P99_RATE} msg/s: agent p99", f"< {P99_GOAL_MS:g} ms", p99,
                          None if p99 is None else p99 < P99_GOAL_MS, None if p99 is None else f"{p99:.1f} ms"))
    return out


def _thread_notes(results: dict, names: list[str], top: int = 6) -> list[str]:
    """Where each module's CPU goes on a burst, thread by thread (medians over the trials, same run)."""
    notes = []
    for name in (n for n in ("agent", ECHO) if n in names):
        trials = [t["threads_us_per_msg"] for t in results[(None, name)] if t.get("threads_us_per_msg")]
        if not trials:
            continue
        groups = {g for t in trials for g in t}
        med = {g: summary(t.get(g, 0.0) for t in trials)["median"] for g in groups}
        busiest = sorted(med.items(), key=lambda kv: -kv[1])[:top]
        notes.append(f"Burst CPU µs per message by thread, {name}: "
                     + ", ".join(f"{g} {us:,.0f}" for g, us in busiest)
                     + " (\"python\" is the main thread and any unnamed one; a pool's workers are summed).")
    return notes


def _case(rate, burst, seconds) -> str:
    return f"burst of {burst}, as fast as possible" if rate is None else f"open loop {rate} msg/s for {seconds:g} s"


def _report(results: dict, names: list[str], rates, burst, seconds, memory: dict) -> dict:
    rows = []
    for rate in (*rates, None):
        for name in names:
            trials = results[(rate, name)]
            metrics = metric_rows(trials, ("msgs_per_s", "p50_ms", "p99_ms", "cpu_ms_per_msg", "outputs_per_1000"))
            metrics["unscored"] = sum(t["unscored"] for t in trials)
            rows.append(row(_case(rate, burst, seconds), name, metrics))
    for name in names:
        rows.append(row("process memory after every run above", name, memory[name]))
    targets = []
    if "agent" in names:
        med = lambda rate, name, key: summary(t[key] for t in results[(rate, name)])["median"]  # noqa: E731
        targets += _echo_targets(med, rates)
        x = ratio(med(None, "agent", "msgs_per_s"), med(None, "naive module", "msgs_per_s"))
        targets.append(target("edgeHub path, burst: agent / naive module (msg/s)", f">= {THROUGHPUT_GOAL:g}x", x,
                              None if x is None else x >= THROUGHPUT_GOAL, None if x is None else f"{x:.1f}x"))
        for rate in rates:
            x = ratio(med(rate, "naive module", "p50_ms"), med(rate, "agent", "p50_ms"))
            targets.append(target(f"edgeHub path at {rate} msg/s: naive p50 / agent p50 (latency)",
                                  "(shown, not a target)", x, None, None if x is None else f"{x:.1f}x"))
    notes = [
        "msg/s: answers received / (last answer - first send); latency: input publish -> `scores` output "
        "received by the edgeHub stand-in (TCP_NODELAY on its own socket), so broker, SDK and TLS are included.",
        "Open loop: inputs are sent on schedule whether or not answers came back; a module that falls behind "
        "shows it as growing latency. Every run waits until each input is answered (or counts it unscored).",
        "CPU ms/msg: the module process's user + system CPU (/proc/PID/stat) over the run / answers. The echo "
        "module is the SDK alone (bench/echo_module.py); the naive module's bursts and fast rates are capped "
        "at 200 messages (it manages ~25 msg/s). Outputs/1,000: messages on `scores` per 1,000 inputs (1,000 "
        f"without batching; the batched agent sends up to {OUTPUT_BATCH} results per message, or after 20 ms).",
    ]
    notes += _thread_notes(results, names)
    if "agent" not in names:
        notes.append("agent rows missing: module/edge/runtime.py is not in this tree yet")
    return {"rows": rows, "targets": targets, "notes": notes}
