"""Percentiles of one trial, and the median with its spread over repeated trials."""

from __future__ import annotations

import statistics
import time
from typing import Iterable, Sequence

import numpy as np


def percentile_ms(latencies_s: Sequence[float], q: float) -> float | None:
    if not latencies_s:
        return None
    return float(np.percentile(np.asarray(latencies_s, dtype=np.float64), q) * 1000.0)


def summary(values: Iterable[float | None]) -> dict:
    """{"median", "min", "max", "trials"} over the trials that produced a number."""
    trials = [float(v) for v in values if v is not None]
    if not trials:
        return {"median": None, "min": None, "max": None, "trials": []}
    return {
        "median": statistics.median(trials),
        "min": min(trials),
        "max": max(trials),
        "trials": [round(t, 6) for t in trials],
    }


def metric_rows(trials: list[dict], keys: Sequence[str]) -> dict:
    """Per-trial dicts of numbers -> one summary per key."""
    return {k: summary(t.get(k) for t in trials) for k in keys}


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def median_call_ms(call, arg, calls: int) -> float:
    """The median wall time of `calls` calls of `call(arg)`, in milliseconds."""
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        call(arg)
        times.append(time.perf_counter() - started)
    times.sort()
    return times[len(times) // 2] * 1000
