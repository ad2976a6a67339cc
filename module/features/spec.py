"""A feature spec as data: parse and validate a YAML/JSON dict into the columns a model reads, in order.

Pure functions of the dict: the same validation runs in the bundle command, in a candidate's checks
(in whichever process loads the candidate) and in the live agent.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from . import grammar
from .errors import SpecError

SPEC_VERSION = 1
MAX_COLUMNS = 64
#: The longest count window (and lag) a spec may ask for, in messages: bounds memory per partition.
MAX_WINDOW_MESSAGES = 10_000
#: The longest duration window, in seconds (one day). A duration window also holds at most
#: MAX_WINDOW_MESSAGES values: a faster stream makes it cover less than its duration.
MAX_WINDOW_SECONDS = 86_400.0
#: ewma is warm once the weight left on values before the partition's first is below this.
EWMA_RESIDUAL = 0.01
ARRIVAL = "arrival"
KEYS = ("version", "columns", "fields", "partition", "time")
HEADER_PREFIX = "header:"


@dataclass(frozen=True)
class Column:
    """One column of the model's input: its text as written and the expression on a field path."""

    name: str
    function: str
    path: str
    count: int | None = None
    seconds: float | None = None
    alpha: float | None = None

    @property
    def needs_values(self) -> int:
        """Values of the field a partition must hold before this column is warm."""
        if self.function == "lag":
            return self.count + 1
        if self.function == "diff":
            return 2
        if self.function == "ewma":
            return ewma_warm_count(self.alpha)
        return self.count or 1

    @property
    def window(self) -> tuple | None:
        """The key of the running window this column reads (mean and std share one)."""
        if self.function in ("mean", "std"):
            return ("sums", self.path, self.count, self.seconds)
        if self.function in ("min", "max"):
            return (self.function, self.path, self.count, self.seconds)
        if self.function == "ewma":
            return ("ewma", self.path, self.alpha, None)
        return None


def ewma_warm_count(alpha: float) -> int:
    if alpha >= 1.0:
        return 1
    return max(1, math.ceil(math.log(EWMA_RESIDUAL) / math.log(1.0 - alpha)))


@dataclass(frozen=True)
class Partition:
    """Whose history a message joins: the sender (default), a field path, or an HTTP header."""

    kind: str  # "sender", "field" or "header"
    name: str | None = None


@dataclass(frozen=True)
class TimeSource:
    """Where duration windows take a message's time: a field (else arrival time) or arrival time only."""

    field: str | None
    fallback: str = ARRIVAL  # "arrival" or "reject"


@dataclass(frozen=True)
class FeatureSpec:
    columns: tuple[Column, ...]
    partition: Partition
    time: TimeSource
    document: dict
    """The canonical form (what the manifest holds and the sha256/signature cover)."""
    # Derived values are cached: the scoring path asks for them on every message, and a spec never
    # changes once parsed (cached_property writes the instance dict, so frozen=True does not stop it).

    @cached_property
    def width(self) -> int:
        return len(self.columns)

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @cached_property
    def paths(self) -> tuple[str, ...]:
        """The fields a message must carry, each once, in first-use order."""
        return tuple(dict.fromkeys(c.path for c in self.columns))

    @cached_property
    def path_parts(self) -> tuple[tuple[str, ...], ...]:
        """`paths`, each split at its dots."""
        return tuple(tuple(p.split(".")) for p in self.paths)

    @cached_property
    def windows(self) -> tuple[tuple, ...]:
        return tuple(dict.fromkeys(c.window for c in self.columns if c.window))

    @cached_property
    def needs_values(self) -> int:
        return max(c.needs_values for c in self.columns)

    @cached_property
    def needs_seconds(self) -> float:
        return max((c.seconds or 0.0 for c in self.columns), default=0.0)

    @cached_property
    def stateful(self) -> bool:
        return any(c.function != "value" for c in self.columns)

    @cached_property
    def digest(self) -> str:
        return hashlib.sha256(canonical_json(self.document).encode()).hexdigest()

    def describe(self) -> dict:
        return {"source": "model", "columns": list(self.names), "partition": self.document["partition"],
                "time": self.document["time"], "sha256": self.digest}


def canonical_json(document: dict) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def parse_spec(document: Any) -> FeatureSpec:
    """A spec dict (as read from YAML/JSON, or a manifest's `features`) -> FeatureSpec, or SpecError."""
    if not isinstance(document, dict):
        raise SpecError(f"a spec must be a mapping, got {type(document).__name__}")
    unknown = sorted(set(document) - set(KEYS))
    if unknown:
        raise SpecError(f"unknown key(s) {', '.join(map(repr, unknown))} (known: {', '.join(KEYS)})")
    version = document.get("version", SPEC_VERSION)
    if version != SPEC_VERSION:
        raise SpecError(f"version {version!r} is not supported (this agent reads version {SPEC_VERSION})")
    fields = _fields(document.get("fields"))
    columns = tuple(_column(text, fields) for text in _column_list(document.get("columns")))
    partition = _partition(document.get("partition"))
    time = _time(document.get("time"))
    canonical = {
        "version": SPEC_VERSION,
        "columns": [c.name for c in columns],
        "fields": fields,
        "partition": _partition_text(partition),
        "time": {"field": time.field, "fallback": time.fallback},
    }
    return FeatureSpec(columns, partition, time, canonical)


def _column_list(raw: Any) -> list:
    if isinstance(raw, dict):  # numbered keys, as twins (which allow no arrays) carry lists
        try:
            raw = [raw[k] for k in sorted(raw, key=int)]
        except (TypeError, ValueError):
            raise SpecError("columns given as a mapping must have numbered keys 0, 1, ...") from None
    if not isinstance(raw, list) or not raw:
        raise SpecError("columns must be a non-empty list of column expressions")
    if len(raw) > MAX_COLUMNS:
        raise SpecError(f"{len(raw)} columns is over the cap of {MAX_COLUMNS}")
    names = [str(c).strip() if isinstance(c, str) else c for c in raw]
    for c in names:
        if isinstance(c, str) and names.count(c) > 1:
            raise SpecError("appears twice", c)
    return names


def _fields(raw: Any) -> dict | None:
    """Optional names for field paths; when given, columns may only use these names."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or not raw:
        raise SpecError("fields must be a mapping of names to field paths")
    for name, path in raw.items():
        if not grammar.is_path(path):
            raise SpecError(f"fields: {name!r} maps to {path!r}, which is not a field path")
    return {str(k): v for k, v in raw.items()}


def _column(text: Any, fields: dict | None) -> Column:
    expr = grammar.parse(text)
    name = text.strip()
    if fields is not None:
        if expr.field not in fields:
            raise SpecError(f"field {expr.field!r} is not one of the spec's fields ({', '.join(fields)})", name)
        path = fields[expr.field]
    else:
        path = expr.field
    if expr.count is not None and expr.count > MAX_WINDOW_MESSAGES:
        raise SpecError(f"{expr.count} messages is over the cap of {MAX_WINDOW_MESSAGES}", name)
    if expr.seconds is not None and expr.seconds > MAX_WINDOW_SECONDS:
        raise SpecError(f"{expr.seconds:g} s is over the cap of {MAX_WINDOW_SECONDS:g} s", name)
    if expr.alpha is not None and ewma_warm_count(expr.alpha) > MAX_WINDOW_MESSAGES:
        raise SpecError(f"alpha {expr.alpha:g} needs more than {MAX_WINDOW_MESSAGES} messages to warm up", name)
    return Column(name, expr.function, path, expr.count, expr.seconds, expr.alpha)


def _partition(raw: Any) -> Partition:
    if raw is None or raw == "sender":
        return Partition("sender")
    if not isinstance(raw, str):
        raise SpecError(f"partition must be a field path or 'header:NAME', got {json.dumps(raw)[:60]}")
    if raw.startswith(HEADER_PREFIX):
        header = raw[len(HEADER_PREFIX):]
        if not header or not all(ch.isalnum() or ch in "-_" for ch in header):
            raise SpecError(f"partition {raw!r}: the header name must be letters, digits, '-' or '_'")
        return Partition("header", header)
    if not grammar.is_path(raw):
        raise SpecError(f"partition {raw!r} is not a field path (names joined by dots) or 'header:NAME'")
    return Partition("field", raw)


def _partition_text(p: Partition) -> str:
    return {"sender": "sender", "field": p.name, "header": f"{HEADER_PREFIX}{p.name}"}[p.kind]


def _time(raw: Any) -> TimeSource:
    if raw is None or raw == ARRIVAL:
        return TimeSource(None, ARRIVAL)
    if isinstance(raw, str):
        raw = {"field": raw}
    if not isinstance(raw, dict) or set(raw) - {"field", "fallback"}:
        raise SpecError("time must be a field path, 'arrival', or {field: PATH, fallback: arrival|reject}")
    field, fallback = raw.get("field"), raw.get("fallback", ARRIVAL)
    if field is not None and not grammar.is_path(field):
        raise SpecError(f"time field {field!r} is not a field path")
    if fallback not in (ARRIVAL, "reject"):
        raise SpecError(f"time fallback must be 'arrival' or 'reject', got {fallback!r}")
    return TimeSource(field, fallback)
