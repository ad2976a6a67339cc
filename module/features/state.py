"""The online state: per-partition history, bounded, updated by one call per message in arrival order."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

from ..scoring.features import FieldError
from .errors import MessageError
from .history import FieldHistory, PartitionHistory
from .messages import MAX_ABS_VALUE, message_time, number_at
from .spec import FeatureSpec, TimeSource

DEFAULT_MAX_PARTITIONS = 1_000
DEFAULT_IDLE_TTL_S = 86_400.0


@dataclass(frozen=True)
class Row:
    """A message's feature row under one spec, and whether every column had the history it needs."""

    values: tuple[float, ...]
    warm: bool


@dataclass(frozen=True)
class _Plan:
    """What every partition keeps, from the union of the required specs."""

    generation: int
    windows: dict  # path -> tuple of window keys
    keep_values: dict  # path -> values to hold
    keep_seconds: dict  # path -> seconds to hold
    time: TimeSource | None  # how to read a message's time when some spec has a duration window


class FeatureState:
    """All partitions' history. Thread-safe; `update` is O(1) in the number of partitions.

    Specs are required (the active model's, and a candidate's as soon as it validated, so its windows
    fill before it swaps in) and released when they leave service; history is kept for the union.
    """

    def __init__(self, max_partitions: int | None = DEFAULT_MAX_PARTITIONS,
                 idle_ttl_s: float | None = DEFAULT_IDLE_TTL_S, clock: Callable[[], float] | None = time.time):
        """clock: arrival time for messages given none; None offline, where a series has no arrival."""
        self.max_partitions = max_partitions
        self.idle_ttl_s = idle_ttl_s
        self.clock = clock
        self.partitions: OrderedDict[str, PartitionHistory] = OrderedDict()  # least recently seen first
        self.dropped = 0
        """Partitions dropped for the cap or the idle TTL since start."""
        self.out_of_order = 0
        """Messages whose time was older than their partition's latest (taken at the latest)."""
        self._required: dict[str, tuple[FeatureSpec, int]] = {}
        self._lock = threading.Lock()
        self._plan = _plan({}, 0)

    # -- specs ------------------------------------------------------------------------------------
    def require(self, spec: FeatureSpec) -> None:
        with self._lock:
            held, n = self._required.get(spec.digest, (spec, 0))
            self._required[spec.digest] = (held, n + 1)
            self._plan = _plan(self._required, self._plan.generation + 1)

    def release(self, spec: FeatureSpec) -> None:
        with self._lock:
            held, n = self._required.get(spec.digest, (spec, 0))
            if n <= 1:
                self._required.pop(spec.digest, None)
            else:
                self._required[spec.digest] = (held, n - 1)
            self._plan = _plan(self._required, self._plan.generation + 1)

    @property
    def required(self) -> list[FeatureSpec]:
        return [spec for spec, _ in self._required.values()]

    # -- messages ---------------------------------------------------------------------------------
    def update(self, spec: FeatureSpec, key: str, message: Any, arrival: float | None = None) -> Row:
        """Add one message to partition `key`'s history and return its row under `spec` (required or not).

        Nothing changes when the message lacks a field of `spec` (MessageError/FieldError): a bad
        message never enters a window. Fields only other required specs read are added when present.
        """
        if not isinstance(message, dict):
            raise MessageError(f"a message must be a JSON object, got {type(message).__name__}")
        if spec.digest not in self._required:
            self.require(spec)
        plan = self._plan
        values = _values(message, spec, plan)
        now = arrival if arrival is not None or self.clock is None else self.clock()
        t = self._time(message, spec, plan, now)
        with self._lock:
            part = self._partition(key, now or 0.0)
            if part.latest is not None and t < part.latest:
                self.out_of_order += 1
                t = part.latest
            part.latest = t
            part.last_seen = now or 0.0
            if part.plan != plan.generation:
                _sync(part, plan)
            for path, x in values.items():
                field = part.fields[path]
                field.add(t, x, plan.keep_values[path], plan.keep_seconds[path])
            return _row(part, spec, t)

    def update_many(self, spec: FeatureSpec, key: str, messages: list, arrival: float | None = None) -> list:
        """`update` for each message in turn, all joining partition `key`: a Row or the error per message.

        The same rows and the same state as one `update` per message (tests/module/features/
        test_update_many.py), computed a column at a time: a list of 1,000 readings from one sender costs
        a few microseconds a message, not the ~15 of one update each. Plans with a duration window or a
        time field take the one-by-one path, since each message's time then moves the windows.
        """
        if spec.digest not in self._required:
            self.require(spec)
        plan = self._plan
        if spec.needs_seconds or plan.time is not None:
            return [self._update_or_error(spec, key, m, arrival) for m in messages]
        out: list = [None] * len(messages)
        series = _series(messages, spec, plan, out)
        if len(series[spec.paths[0]]):
            rows = iter(self._add_many(spec, plan, key, series, arrival))
            out = [next(rows) if r is None else r for r in out]
        return out

    def _update_or_error(self, spec: FeatureSpec, key: str, message: Any, arrival: float | None):
        try:
            return self.update(spec, key, message, arrival)
        except (MessageError, FieldError) as exc:
            return exc

    def _add_many(self, spec: FeatureSpec, plan: _Plan, key: str, series: dict, arrival) -> list[Row]:
        now = arrival if arrival is not None or self.clock is None else self.clock()
        t = 0.0 if now is None else now
        n = len(series[spec.paths[0]])
        with self._lock:
            part = self._partition(key, now or 0.0)
            if part.latest is not None and t < part.latest:
                self.out_of_order += n
                t = part.latest
            part.latest = t
            part.last_seen = now or 0.0
            if part.plan != plan.generation:
                _sync(part, plan)
            by_column: list[list[float]] = [[]] * spec.width
            warm_from = 0  # the first message whose row is warm in every column
            for path, field in part.fields.items():
                xs = series.get(path)
                if not xs:
                    continue
                mine = [(i, c) for i, c in enumerate(spec.columns) if c.path == path]
                count = field.count
                for (i, c), column in zip(mine, field.add_many(t, xs, plan.keep_values[path], [c for _, c in mine])):
                    by_column[i] = column
                    if c.function != "value":
                        warm_from = max(warm_from, c.needs_values - count - 1)
            return [Row(values, j >= warm_from) for j, values in enumerate(zip(*by_column))]

    def _time(self, message: Any, spec: FeatureSpec, plan: _Plan, arrival: float | None) -> float:
        if spec.needs_seconds:
            return message_time(message, spec.time, arrival)
        if plan.time is not None:
            return message_time(message, TimeSource(plan.time.field), arrival)
        return 0.0 if arrival is None else arrival

    def _partition(self, key: str, now: float) -> PartitionHistory:
        parts = self.partitions
        part = parts.get(key)
        if part is not None:
            parts.move_to_end(key)
            return part
        self._evict(now)
        part = parts[key] = PartitionHistory(now)
        return part

    def _evict(self, now: float) -> None:
        parts = self.partitions
        if self.idle_ttl_s is not None:
            while parts and now - next(iter(parts.values())).last_seen > self.idle_ttl_s:
                parts.popitem(last=False)
                self.dropped += 1
        if self.max_partitions is not None:
            while len(parts) >= self.max_partitions:
                parts.popitem(last=False)
                self.dropped += 1

    def expire(self, now: float | None = None) -> None:
        """Drop partitions idle for longer than the TTL (also done as new partitions arrive)."""
        with self._lock:
            if self.idle_ttl_s is not None:
                parts = self.partitions
                now = (self.clock() if self.clock else 0.0) if now is None else now
                while parts and now - next(iter(parts.values())).last_seen > self.idle_ttl_s:
                    parts.popitem(last=False)
                    self.dropped += 1

    def describe(self) -> dict:
        return {"partitions": len(self.partitions), "dropped": self.dropped, "out_of_order": self.out_of_order,
                "max_partitions": self.max_partitions, "idle_ttl_s": self.idle_ttl_s}


def _values(message: Any, spec: FeatureSpec, plan: _Plan) -> dict[str, float]:
    values = dict(zip(spec.paths, _numbers(message, spec.paths, spec.path_parts)))
    for path in plan.windows:
        if path not in values:
            x = _other_field(message, path)
            if x is not None:
                values[path] = x
    return values


def _other_field(message: Any, path: str) -> float | None:
    """A field only a required spec other than the serving one reads: that spec's windows skip a bad one."""
    try:
        return number_at(message, path)
    except ValueError:
        return None


def _series(messages: list, spec: FeatureSpec, plan: _Plan, errors: list) -> dict[str, list[float]]:
    """Each field's values over the good messages (a spec field has one per good message; a field only
    another required spec reads, one per message that carries it); errors[i] set for a bad message."""
    paths, parts = spec.paths, spec.path_parts
    series: dict[str, list[float]] = {p: [] for p in paths}
    columns = [series[p] for p in paths]
    others = [p for p in plan.windows if p not in series]
    for p in others:
        series[p] = []
    for i, message in enumerate(messages):
        try:
            row = _numbers(message, paths, parts)
        except (MessageError, FieldError) as exc:
            errors[i] = exc
            continue
        for values, x in zip(columns, row):
            values.append(x)
        for p in others:
            x = _other_field(message, p)
            if x is not None:
                series[p].append(x)
    return series


def _numbers(message: Any, paths: tuple[str, ...], parts: tuple[tuple[str, ...], ...]) -> list[float]:
    """The spec's fields of one message, as _values reads them; a finite float at a plain path is read
    directly, anything else (and every error) goes through number_at."""
    if not isinstance(message, dict):
        raise MessageError(f"a message must be a JSON object, got {type(message).__name__}")
    row = []
    for path, keys in zip(paths, parts):
        node = message
        try:
            for k in keys:
                node = node[k]
        except (KeyError, TypeError, IndexError):
            node = None
        if type(node) is not float or not -MAX_ABS_VALUE <= node <= MAX_ABS_VALUE:  # or NaN, or infinite
            node = number_at(message, path)
            if node is None:
                raise FieldError(path, "is missing")
        row.append(node)
    return row


def _sync(part: PartitionHistory, plan: _Plan) -> None:
    for path in [p for p in part.fields if p not in plan.windows]:
        del part.fields[path]
    for path, keys in plan.windows.items():
        field = part.fields.get(path)
        if field is None:
            field = part.fields[path] = FieldHistory()
        field.sync(keys, plan.keep_values[path], plan.keep_seconds[path])
    part.plan = plan.generation


def _row(part: PartitionHistory, spec: FeatureSpec, latest: float) -> Row:
    values, warm = [], True
    fields = part.fields
    for c in spec.columns:
        value, ok = fields[c.path].column(c, latest)
        values.append(value)
        warm = warm and ok
    return Row(tuple(values), warm)


def _plan(required: dict, generation: int) -> _Plan:
    windows: dict[str, dict] = {}
    keep_values: dict[str, int] = {}
    keep_seconds: dict[str, float] = {}
    time_source = None
    for spec, _ in required.values():
        for c in spec.columns:
            windows.setdefault(c.path, {})
            if c.window:
                windows[c.path][c.window] = None
            keep_values[c.path] = max(keep_values.get(c.path, 1), c.needs_values)
            keep_seconds[c.path] = max(keep_seconds.get(c.path, 0.0), c.seconds or 0.0)
        if spec.needs_seconds and time_source is None:
            time_source = spec.time
    return _Plan(generation, {p: tuple(k) for p, k in windows.items()}, keep_values, keep_seconds, time_source)
