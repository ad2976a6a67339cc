"""The upstream policy: which results leave the device on output `upstream` (all, anomalies, or summaries).

A cellular link pays for every byte, so `summary` mode sends one message per `summary_every_s` window
(count, anomalies, and mean/min/max/last per feature) instead of one per reading. Windows with no
readings are still sent: upstream can tell a quiet device from a dead one. Set live from the desired
`upstream` section through agent.on_settings.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any, Callable, Sequence

from ..errors import BadInput
from ..scoring.features import FeatureExtractor
from ..settings import UpstreamSection

log = logging.getLogger(__name__)

#: The ticker wakes at least this often, so a shortened window takes effect quickly.
TICK_MAX_S = 1.0


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int((ts % 1) * 1000):03d}Z"


class FeatureStats:
    __slots__ = ("n", "total", "low", "high", "last")

    def __init__(self) -> None:
        self.n, self.total, self.low, self.high, self.last = 0, 0.0, math.inf, -math.inf, math.nan

    def add(self, value: float) -> None:
        self.n += 1
        self.total += value
        self.low = min(self.low, value)
        self.high = max(self.high, value)
        self.last = value

    def as_dict(self) -> dict:
        return {"mean": self.total / self.n, "min": self.low, "max": self.high, "last": self.last}


class Window:
    """What one summary covers; built by the scoring threads, closed by the ticker."""

    def __init__(self, start: float):
        self.start = start
        self.count = 0
        self.anomalies = 0
        self.model_version: str | None = None
        self.features: dict[str, FeatureStats] = {}

    def add(self, row: dict[str, float], result: dict) -> None:
        self.count += 1
        self.anomalies += bool(result.get("anomaly"))
        self.model_version = result.get("model_version", self.model_version)
        for name, value in row.items():
            self.features.setdefault(name, FeatureStats()).add(value)

    def summary(self, end: float, seq: int) -> dict:
        return {
            "type": "summary",
            "seq": seq,
            "window_start": iso(self.start),
            "window_end": iso(end),
            "count": self.count,
            "anomalies": self.anomalies,
            "model_version": self.model_version,
            "features": {name: s.as_dict() for name, s in self.features.items()},
        }


class UpstreamPolicy:
    def __init__(self, section: UpstreamSection, emit: Callable[[dict], None], clock: Callable[[], float] = time.time):
        self._section = section
        self._emit = emit
        self._clock = clock
        self._lock = threading.Lock()
        self._window = Window(clock())
        self._seq = 0
        self._extractor: FeatureExtractor | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick_loop, name="edge-upstream", daemon=True)

    @property
    def mode(self) -> str:
        return self._section.mode

    def apply(self, section: UpstreamSection) -> None:
        """A new desired `upstream` section; leaving summary mode sends the open window first."""
        if section == self._section:
            return
        with self._lock:
            old, self._section = self._section, section
            closing = old.mode == "summary" and section.mode != "summary"
            summary = self._close_locked() if closing else None
            if section.mode == "summary" and old.mode != "summary":
                self._window = Window(self._clock())
        if summary:
            self._emit(summary)
        log.info("upstream policy set", extra={"mode": section.mode, "summary_every_s": section.summary_every_s})

    def offer(self, message: Any, result: dict, features: Sequence[str]) -> bool:
        """A scored message; True when it goes upstream now (all / anomalies), else it joins the summary."""
        mode = self._section.mode
        if mode == "all":
            return True
        if mode == "anomalies":
            return bool(result.get("anomaly"))
        row = self._row(message, features)
        with self._lock:
            self._window.add(row, result)
        return False

    def _row(self, message: Any, features: Sequence[str]) -> dict[str, float]:
        extractor = self._extractor
        if extractor is None or extractor.paths != tuple(features):
            extractor = self._extractor = FeatureExtractor(features)
        try:
            return dict(zip(extractor.paths, extractor.row(message)))
        except BadInput:  # scored under other feature settings a moment ago; count it, skip its values
            return {}

    def tick(self) -> None:
        """Send the summary of a window that has run its length."""
        with self._lock:
            due = (
                self._section.mode == "summary"
                and self._clock() - self._window.start >= self._section.summary_every_s
            )
            summary = self._close_locked() if due else None
        if summary:
            self._emit(summary)

    def close(self) -> None:
        """On shutdown: send the open window if it holds readings (they would be lost otherwise)."""
        with self._lock:
            summary = self._close_locked() if self._section.mode == "summary" and self._window.count else None
        if summary:
            self._emit(summary)

    def _close_locked(self) -> dict:
        now = self._clock()
        self._seq += 1
        summary = self._window.summary(now, self._seq)
        self._window = Window(now)
        return summary

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2.0)

    def _tick_loop(self) -> None:
        while not self._stop.wait(min(TICK_MAX_S, self._section.summary_every_s / 4)):
            try:
                self.tick()
            except Exception:  # a failed summary must not end the ticker
                log.exception("upstream summary failed")
