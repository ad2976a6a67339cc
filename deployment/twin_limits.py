"""IoT Hub's twin limits, checked on the operator side before anything is sent: the 32 KB desired
document, 4 KB strings, no arrays, depth 10; and the patch that replaces a section instead of merging."""

from __future__ import annotations

import json
from typing import Any

from .errors import UsageError

DESIRED_LIMIT_BYTES = 32 * 1024  # all desired properties of one twin together
STRING_LIMIT_BYTES = 4 * 1024  # any one string value
MAX_DEPTH = 10  # nesting of objects under properties.desired


def json_bytes(doc: Any) -> int:
    """Size as the hub counts it here: compact UTF-8 JSON ($-metadata keys left out by the caller)."""
    return len(json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode())


def without_metadata(desired: dict) -> dict:
    return {k: v for k, v in (desired or {}).items() if not k.startswith("$")}


def merged(base: dict, patch: dict) -> dict:
    """The document after a twin merge patch (null deletes)."""
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def replacing(old: Any, new: dict) -> dict:
    """A merge patch that turns `old` into exactly `new`: keys `new` lacks are set to null.

    Twin patches merge, so sending a section alone would keep stale keys (an old `inline` beside a new
    `url`, chunk "7" of a bigger model) and the device would refuse or assemble the wrong bytes.
    """
    patch: dict = dict(new)
    if isinstance(old, dict):
        for key, value in old.items():
            if key.startswith("$"):
                continue
            if key not in new:
                patch[key] = None
            elif isinstance(value, dict) and isinstance(new[key], dict):
                patch[key] = replacing(value, new[key])
    return patch


def problems(doc: Any, path: str = "", depth: int = 0) -> list[str]:
    """Every place where `doc` breaks a twin rule (arrays, long strings, depth), as readable paths."""
    found = []
    if isinstance(doc, list):
        found.append(f"{path or 'document'}: twins allow no arrays; use an object with keys 0, 1, 2, ...")
    elif isinstance(doc, str) and len(doc.encode()) > STRING_LIMIT_BYTES:
        found.append(f"{path}: a string of {len(doc.encode()):,} bytes is over the {STRING_LIMIT_BYTES:,}-byte limit")
    elif isinstance(doc, dict):
        if depth > MAX_DEPTH:
            found.append(f"{path}: nested deeper than {MAX_DEPTH} levels")
        for key, value in doc.items():
            found.extend(problems(value, f"{path}.{key}" if path else key, depth + 1))
    return found


def check_desired(desired_after: dict, what: str) -> int:
    """Raise UsageError when the desired document would break a limit; return its size in bytes."""
    doc = without_metadata(desired_after)
    found = problems(doc)
    if found:
        raise UsageError(f"{what}: " + "; ".join(found[:5]))
    size = json_bytes(doc)
    if size > DESIRED_LIMIT_BYTES:
        raise UsageError(f"{what}: the desired properties would be {size:,} bytes, over IoT Hub's "
                         f"{DESIRED_LIMIT_BYTES:,}-byte (32 KB) limit; publish the model with --url instead")
    return size
