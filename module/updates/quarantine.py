"""The activating mark and the quarantine: a candidate that kills the agent while it is being activated
is never loaded again automatically.

Before the live process opens a candidate (unpickle, prepare, canary) and swaps it in, the manager writes
`<data_dir>/models/activating.json` naming it; the mark is removed once the candidate serves and the
store's pointers name it, or once it was refused cleanly. A mark found at start means the process died
in between (a crash in the model's code, the OOM killer, a power cut): the version it names goes into
`quarantine.json`, the last good model serves, and the twin asking for that version again is refused
until a new desired version or a reload (POST /admin/reload, the reload direct method) clears it.
Without this, a model that crashes the agent on load would crash it again on every restart.

Both files are written as the store writes its pointers (temp file, fsync, rename, fsync of the
directory), so a power cut leaves the old file or the new one.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from .store import write_atomic

log = logging.getLogger(__name__)

MARK = "activating.json"
QUARANTINE = "quarantine.json"
CRASH_REASON = ("the agent stopped while activating this version (a crash in the model, the OOM killer, "
                "a kill or a power cut); it is not loaded again until a new desired version or a reload")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _read(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.error("unreadable file in the store", extra={"model_version": None, "path": str(path), "error": str(exc)})
        return None
    return data if isinstance(data, dict) else None


class Quarantine:
    def __init__(self, root: Path):
        self.mark_path = Path(root) / MARK
        self.path = Path(root) / QUARANTINE

    # -- the mark: one candidate being activated --------------------------------------------------

    def mark(self, version: str, sha256: str, source: str) -> None:
        doc = {"version": version, "sha256": sha256, "source": source, "started_at": _now()}
        write_atomic(self.mark_path, json.dumps(doc, sort_keys=True).encode("utf-8"))

    def clear_mark(self) -> None:
        self.mark_path.unlink(missing_ok=True)

    def after_crash(self) -> dict | None:
        """At start: a mark left by a process that died activating a candidate becomes its quarantine
        record (returned); no mark, None."""
        mark = _read(self.mark_path)
        if mark is None:
            self.clear_mark()  # an unreadable mark names nothing to quarantine
            return None
        record = {"version": str(mark.get("version")), "sha256": str(mark.get("sha256")),
                  "reason": CRASH_REASON, "at": _now()}
        write_atomic(self.path, json.dumps(record, sort_keys=True).encode("utf-8"))
        self.clear_mark()
        log.error("a candidate stopped the agent while it was activated; quarantined", extra={
            "model_version": record["version"], "sha256": record["sha256"], "started_at": mark.get("started_at")})
        return record

    # -- the quarantine record: one version, scalars only (reported as is; twins allow no arrays) ---

    def record(self) -> dict | None:
        return _read(self.path)

    def blocks(self, version: str | None) -> bool:
        record = self.record()
        return bool(record) and version is not None and record.get("version") == version

    def clear(self, why: str) -> dict | None:
        """Lift the quarantine (a new desired version, a reload); returns the record lifted, if any."""
        record = self.record()
        if record is None:
            return None
        self.path.unlink(missing_ok=True)
        log.info("quarantine lifted", extra={"model_version": record.get("version"), "why": why})
        return record
