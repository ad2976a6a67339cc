"""HTTP load: closed loop at a fixed concurrency, and open loop at a fixed rate (latency from the
scheduled send time, so a stalled server cannot hide its queue: no coordinated omission)."""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field

from .httpclient import Connection, post_request, scored
from .stats import percentile_ms


@dataclass
class Sample:
    sent_at: float
    """Seconds since the run started: the scheduled time (open loop) or the send time (closed loop)."""
    latency: float
    ok: bool
    """HTTP 200 and a score in the body."""
    error: str | None = None
    body: bytes = b""


@dataclass
class Run:
    seconds: float
    samples: list[Sample] = field(default_factory=list)

    @property
    def ok(self) -> list[Sample]:
        return [s for s in self.samples if s.ok]

    def summary(self) -> dict:
        lat = [s.latency for s in self.ok]
        return {
            "rps": len(lat) / self.seconds if self.seconds else None,
            "p50_ms": percentile_ms(lat, 50),
            "p99_ms": percentile_ms(lat, 99),
            "requests": len(self.samples),
            "failed": len(self.samples) - len(lat),
            "first_error": next((s.error or "no score in the body" for s in self.samples if not s.ok), None),
        }


def closed_loop(host: str, port: int, body: bytes, concurrency: int, seconds: float, warmup: float = 0.3) -> Run:
    """`concurrency` threads, each sending its next request as soon as the last one is answered."""
    request = post_request(host, port, "/score", body)
    start_gate = threading.Barrier(concurrency + 1)
    results: list[list[Sample]] = [[] for _ in range(concurrency)]
    times: dict[str, float] = {}

    def worker(out: list[Sample]) -> None:
        conn = Connection(host, port)
        start_gate.wait()
        try:
            while True:
                t0 = time.perf_counter()
                if t0 >= times["end"]:
                    return
                try:
                    status, reply = conn.send(request)
                    ok, err = scored(status, reply), None if status == 200 else f"HTTP {status}"
                except Exception as exc:  # a failure is a sample, not a crash of the generator
                    ok, err, reply = False, repr(exc), b""
                if t0 >= times["measure"]:
                    out.append(Sample(t0 - times["measure"], time.perf_counter() - t0, ok, err))
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(r,), daemon=True) for r in results]
    for t in threads:
        t.start()
    now = time.perf_counter()
    times.update(measure=now + warmup, end=now + warmup + seconds)
    start_gate.wait()
    for t in threads:
        t.join(seconds + warmup + 60)
    return Run(seconds, [s for r in results for s in r])


def open_loop(host: str, port: int, bodies, rate: float, seconds: float, workers: int = 16) -> Run:
    """Requests scheduled at `rate`/s for `seconds`; `bodies(i)` gives request i's body."""
    total = int(rate * seconds)
    todo: queue.SimpleQueue = queue.SimpleQueue()
    samples: list[Sample] = []
    lock = threading.Lock()

    def worker() -> None:
        conn = Connection(host, port)
        try:
            while (item := todo.get()) is not None:
                i, scheduled = item
                try:
                    status, reply = conn.send(post_request(host, port, "/score", bodies(i)))
                    ok, err = scored(status, reply), None if status == 200 else f"HTTP {status}: {reply[:200]!r}"
                except Exception as exc:
                    ok, err, reply = False, repr(exc), b""
                sample = Sample(scheduled - t0, time.perf_counter() - scheduled, ok, err, reply)
                with lock:
                    samples.append(sample)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    t0 = time.perf_counter() + 0.05
    for i in range(total):
        scheduled = t0 + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        todo.put((i, scheduled))
    for _ in threads:
        todo.put(None)
    for t in threads:
        t.join(120)
    samples.sort(key=lambda s: s.sent_at)
    return Run(seconds, samples)
