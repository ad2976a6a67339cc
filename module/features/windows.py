"""Running windows over one field of one partition: each add is O(1) (amortised for min/max and durations).

A window sees (time, value) pairs in arrival order. Count windows hold the last N values; duration
windows hold the values with time > latest - seconds, at most spec.MAX_WINDOW_MESSAGES of them.
`add_many(window, t, xs, functions)` is `add` then `value` for each x in turn, with the values it gave
per function: a list of messages from one sender updates each window in one call.
"""

from __future__ import annotations

from collections import deque

from .exact import ExactSums
from .spec import MAX_WINDOW_MESSAGES


class Sums:
    """mean and std over a count or duration window, from exact integer sums."""

    __slots__ = ("count", "seconds", "held", "sums")

    def __init__(self, count: int | None, seconds: float | None):
        self.count, self.seconds = count, seconds
        self.held: deque = deque()
        self.sums = ExactSums()

    def add(self, t: float, x: float) -> None:
        self.held.append((t, x))
        self.sums.add(x)
        held, sums = self.held, self.sums
        if self.count is not None:
            if len(held) > self.count:
                sums.remove(held.popleft()[1])
            return
        edge = t - self.seconds
        while held[0][0] <= edge or len(held) > MAX_WINDOW_MESSAGES:
            sums.remove(held.popleft()[1])

    def value(self, function: str) -> float:
        return self.sums.mean() if function == "mean" else self.sums.std()


class Extreme:
    """min or max over a count or duration window: a monotonic deque of (seq, time, value)."""

    __slots__ = ("count", "seconds", "is_min", "held", "seq")

    def __init__(self, function: str, count: int | None, seconds: float | None):
        self.count, self.seconds, self.is_min = count, seconds, function == "min"
        self.held: deque = deque()
        self.seq = 0

    def add(self, t: float, x: float) -> None:
        held = self.held
        self.seq += 1
        if self.is_min:
            while held and held[-1][2] >= x:
                held.pop()
        else:
            while held and held[-1][2] <= x:
                held.pop()
        held.append((self.seq, t, x))
        span = self.count if self.count is not None else MAX_WINDOW_MESSAGES
        oldest_seq = self.seq - span
        if self.seconds is None:
            while held[0][0] <= oldest_seq:
                held.popleft()
            return
        edge = t - self.seconds
        while held[0][1] <= edge or held[0][0] <= oldest_seq:
            held.popleft()

    def value(self, function: str) -> float:
        return self.held[0][2]


class Ewma:
    """Exponentially weighted mean: e = x for the first value, then e = alpha*x + (1-alpha)*e."""

    __slots__ = ("alpha", "current", "n")

    def __init__(self, alpha: float, current: float = 0.0, n: int = 0):
        self.alpha, self.current, self.n = alpha, current, n

    def add(self, t: float, x: float) -> None:
        self.current = x if self.n == 0 else self.alpha * x + (1.0 - self.alpha) * self.current
        self.n += 1

    def value(self, function: str) -> float:
        return self.current


def add_many(window, t: float, xs: list[float], functions) -> dict[str, list[float]]:
    """`window.add(t, x)` for each x in turn, and after each add the value of every function asked for."""
    out: dict[str, list[float]] = {f: [] for f in functions}
    for x in xs:
        window.add(t, x)
        for f, values in out.items():
            values.append(window.value(f))
    return out


def make(key: tuple):
    """A new, empty window for a key from spec.Column.window."""
    kind, _path, a, b = key
    if kind == "sums":
        return Sums(a, b)
    if kind == "ewma":
        return Ewma(a)
    return Extreme(kind, a, b)
