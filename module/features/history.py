"""One partition's raw history per field, and the windows the required specs read from it."""

from __future__ import annotations

from collections import deque

from . import windows
from .spec import MAX_WINDOW_MESSAGES, Column


class FieldHistory:
    """The raw (time, value) pairs of one field as far back as the longest required window, plus its windows."""

    __slots__ = ("raw", "count", "first_time", "windows", "kept")

    def __init__(self) -> None:
        self.raw: deque = deque()
        self.count = 0
        """Values since `first_time`, all held while fewer than the retention: the warm-up counts these."""
        self.first_time: float | None = None
        self.windows: dict[tuple, object] = {}
        self.kept = (0, 0.0)
        """(values, seconds) the raw history has been held for."""

    def sync(self, keys: tuple, keep_values: int, keep_seconds: float) -> None:
        """Hold exactly the windows in `keys`; a new one is filled from the raw history, in order.

        When the retention grows (a spec with longer windows is required), what was pruned is gone:
        the warm-up counts again from the oldest value held, so no column claims history it lacks.
        """
        if keep_values > self.kept[0] or keep_seconds > self.kept[1]:
            self.count = len(self.raw)
            self.first_time = self.raw[0][0] if self.raw else None
        self.kept = (keep_values, keep_seconds)
        for key in [k for k in self.windows if k not in keys]:
            del self.windows[key]
        for key in keys:
            if key not in self.windows:
                window = windows.make(key)
                for t, x in self.raw:
                    window.add(t, x)
                self.windows[key] = window

    def add(self, t: float, x: float, keep_values: int, keep_seconds: float) -> None:
        raw = self.raw
        raw.append((t, x))
        self.count += 1
        if self.first_time is None:
            self.first_time = t
        for window in self.windows.values():
            window.add(t, x)
        edge = t - keep_seconds
        while len(raw) > keep_values and (raw[0][0] <= edge or len(raw) > MAX_WINDOW_MESSAGES + 1):
            raw.popleft()

    def add_many(self, t: float, xs: list[float], keep_values: int, columns) -> list[list[float]]:
        """`add(t, x, keep_values, 0.0)` for each x, returning each column's value after each add.

        Only for a count-only retention (no duration window required), with every held time <= t: the
        raw history is then always its last `keep_values` values. Warm-up is the caller's: count only.
        """
        held = [x for _, x in self.raw]
        start = len(held)
        held.extend(xs)
        reads: dict[tuple, list[str]] = {}
        for c in columns:
            if c.window is not None:
                reads.setdefault(c.window, []).append(c.function)
        outputs = {key: windows.add_many(w, t, xs, reads.get(key, ())) for key, w in self.windows.items()}
        raw = self.raw
        raw.extend((t, x) for x in xs)
        while len(raw) > keep_values:
            raw.popleft()
        self.count += len(xs)
        if self.first_time is None:
            self.first_time = t
        return [_column_many(c, held, start, keep_values, outputs) for c in columns]

    def column(self, c: Column, latest: float) -> tuple[float, bool]:
        """(value, warm) of one column after the latest add."""
        raw = self.raw
        warm = self.count >= c.needs_values and (c.seconds is None or latest - self.first_time >= c.seconds)
        f = c.function
        if f == "value":
            return raw[-1][1], True
        if f == "diff":
            return (raw[-1][1] - raw[-2][1] if len(raw) > 1 else 0.0), warm
        if f == "lag":
            return (raw[-1 - c.count][1] if len(raw) > c.count else raw[0][1]), warm
        return self.windows[c.window].value(f), warm


def _column_many(c: Column, held: list[float], start: int, keep: int, outputs: dict) -> list[float]:
    """A column's values after each add: held[start:] were added, each add kept the last `keep`."""
    f, end = c.function, len(held)
    if f == "value":
        return held[start:]
    if f == "diff":
        return [held[p] - held[p - 1] if p >= 1 and keep >= 2 else 0.0 for p in range(start, end)]
    if f == "lag":
        k = c.count
        # After the add of held[p] the raw history is held[max(0, p + 1 - keep) : p + 1].
        return [held[p - k] if min(p + 1, keep) > k else held[max(0, p + 1 - keep)] for p in range(start, end)]
    return outputs[c.window][f]


class PartitionHistory:
    __slots__ = ("fields", "latest", "last_seen", "plan")

    def __init__(self, last_seen: float) -> None:
        self.fields: dict[str, FieldHistory] = {}
        self.latest: float | None = None
        """The latest message time; a message older than it is taken at this time (windows never go back)."""
        self.last_seen = last_seen
        """Arrival time of the latest message: the idle TTL counts from it."""
        self.plan = -1
        """The state's plan generation these fields' windows match."""
