"""The stand-in's throttle: a token bucket per operation class (twin reads, twin updates, queries, jobs,
configurations), like IoT Hub's per-minute operation throttles; past the configured rate a request is
answered 429 with a Retry-After (whole seconds, as RFC 9110 writes it) saying when a token is back."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass


def operation_class(method: str, path: str) -> str:
    """The hub's throttle a request counts against (names as in IoT Hub's quotas page)."""
    if path.startswith("/jobs/"):
        return "jobs"
    if path == "/devices/query":
        return "queries"
    if path.startswith("/configurations"):
        return "configurations"
    if path.startswith("/twins/"):
        return "twin-reads" if method == "GET" else "twin-updates"
    return "other"


@dataclass
class _Bucket:
    rate: float  # tokens per second
    burst: float
    tokens: float
    stamp: float


class Throttle:
    """`limit("twin-updates", rate=50, burst=10)`; `check(method, path)` -> None (go on) or seconds to wait."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self.rejected: dict[str, int] = {}

    def limit(self, op_class: str, rate: float, burst: float = 1.0) -> None:
        with self._lock:
            self._buckets[op_class] = _Bucket(rate, burst, burst, self._clock())

    def check(self, method: str, path: str) -> float | None:
        op_class = operation_class(method, path)
        with self._lock:
            bucket = self._buckets.get(op_class) or self._buckets.get("*")
            if bucket is None:
                return None
            now = self._clock()
            bucket.tokens = min(bucket.burst, bucket.tokens + (now - bucket.stamp) * bucket.rate)
            bucket.stamp = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return None
            self.rejected[op_class] = self.rejected.get(op_class, 0) + 1
            return (1 - bucket.tokens) / bucket.rate

    @staticmethod
    def retry_after(seconds: float) -> str:
        return str(max(1, math.ceil(seconds)))
