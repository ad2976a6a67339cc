"""Feature history on disk: a JSON snapshot written atomically, read back only when it is ours and sound.

JSON, never pickle: a snapshot is data from the disk, and a corrupt or foreign one (another format,
another agent's owner id, values that are not finite numbers, histories longer than any window) is
discarded with a log line. The exact window sums are not stored: they are rebuilt from the raw values,
exactly (see exact.py); only ewma, whose value depends on the whole past, is stored as it was.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

from ..updates.store import write_atomic
from . import windows
from .history import FieldHistory, PartitionHistory
from .spec import MAX_WINDOW_MESSAGES
from .state import FeatureState

log = logging.getLogger(__name__)
FORMAT = "edgemodelagent.features.snapshot"
FORMAT_VERSION = 1
FILE_NAME = "features.json"


class SnapshotError(ValueError):
    """The snapshot file is not one this agent wrote, or not whole."""


def save(state: FeatureState, path: Path, owner: str) -> int:
    """Write every partition's history to `path` (temp + fsync + rename); returns the partitions written."""
    with state._lock:
        parts = [(key, _dump_partition(p)) for key, p in state.partitions.items()]
    document = {"format": FORMAT, "version": FORMAT_VERSION, "owner": owner, "dropped": state.dropped,
                "partitions": [[key, body] for key, body in parts]}
    write_atomic(Path(path), json.dumps(document, separators=(",", ":"), allow_nan=False).encode())
    return len(parts)


def load(state: FeatureState, path: Path, owner: str) -> bool:
    """Restore the partitions from `path` into `state`; False (and a log line) when absent or refused."""
    path = Path(path)
    if not path.exists():
        return False
    try:
        document = json.loads(path.read_bytes(), parse_constant=_no_constants)
        parts = _parse(document, owner)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and SnapshotError are ValueErrors
        log.warning("feature snapshot discarded", extra={"path": str(path), "reason": str(exc)[:300]})
        return False
    with state._lock:
        for key, part in parts:
            state.partitions[key] = part
            state.partitions.move_to_end(key)
        state._evict(state.clock())
    log.info("feature snapshot restored", extra={"path": str(path), "partitions": len(parts)})
    return True


def _dump_partition(p: PartitionHistory) -> dict:
    return {"latest": p.latest, "last_seen": p.last_seen,
            "fields": {path: {"count": f.count, "first_time": f.first_time, "kept": list(f.kept), "raw": [list(tx) for tx in f.raw],
                              "ewma": [[k[2], w.current, w.n] for k, w in f.windows.items() if k[0] == "ewma"]}
                       for path, f in p.fields.items()}}


def _no_constants(name: str):
    raise SnapshotError(f"holds {name}")


def _parse(document, owner: str) -> list[tuple[str, PartitionHistory]]:
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise SnapshotError("not a feature snapshot")
    if document.get("version") != FORMAT_VERSION:
        raise SnapshotError(f"snapshot version {document.get('version')!r} is not {FORMAT_VERSION}")
    if document.get("owner") != owner:
        raise SnapshotError(f"written by {str(document.get('owner'))[:80]!r}, not by {owner!r}")
    parts = document.get("partitions")
    _check(isinstance(parts, list), "partitions is not a list")
    out = []
    for item in parts:
        _check(isinstance(item, list) and len(item) == 2 and isinstance(item[0], str), "a partition entry is malformed")
        out.append((item[0], _partition(item[1])))
    out.sort(key=lambda kp: kp[1].last_seen)
    return out


def _partition(body) -> PartitionHistory:
    _check(isinstance(body, dict) and isinstance(body.get("fields"), dict), "a partition has no fields")
    _check(all(isinstance(p, str) for p in body["fields"]), "a field path is not a string")
    part = PartitionHistory(_number(body.get("last_seen")))
    part.latest = None if body.get("latest") is None else _number(body["latest"])
    for path, fb in body["fields"].items():
        part.fields[path] = _field(path, fb)
    return part


def _field(path: str, fb) -> FieldHistory:
    _check(isinstance(fb, dict), "a field is not an object")
    field = FieldHistory()
    raw = fb.get("raw")
    _check(isinstance(raw, list) and len(raw) <= MAX_WINDOW_MESSAGES + 1, "a field's history is not a bounded list")
    for tx in raw:
        _check(isinstance(tx, list) and len(tx) == 2, "a history entry is not [time, value]")
        field.raw.append((_number(tx[0]), _number(tx[1])))
    count = fb.get("count")
    _check(isinstance(count, int) and not isinstance(count, bool) and count >= len(raw), "a field's count is wrong")
    field.count = count
    field.first_time = None if fb.get("first_time") is None else _number(fb["first_time"])
    _check(field.first_time is not None or not raw, "a field with history has no first time")
    kept = fb.get("kept")
    _check(isinstance(kept, list) and len(kept) == 2 and isinstance(kept[0], int), "a field's retention is malformed")
    field.kept = (kept[0], _number(kept[1]))
    for entry in fb.get("ewma", []):
        _check(isinstance(entry, list) and len(entry) == 3 and isinstance(entry[2], int), "an ewma entry is malformed")
        alpha, current, n = _number(entry[0]), _number(entry[1]), entry[2]
        _check(0.0 < alpha <= 1.0 and n >= 0, "an ewma entry is out of range")
        field.windows[("ewma", path, alpha, None)] = windows.Ewma(alpha, current, n)
    return field


def _number(x) -> float:
    _check(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x), f"{str(x)[:40]} is not a finite number")
    return float(x)


def _check(ok: bool, reason: str) -> None:
    if not ok:
        raise SnapshotError(reason)
