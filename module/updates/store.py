"""The model store in the data dir: one directory per version, and one pointer file naming current/previous.

Layout (`<data_dir>/models/`):
  <version>/manifest.json, <version>/<model file>   complete versions, each made by one directory rename
  <version>/trial.json  the candidate passed its trial child (trial.py) with this sha256: not tried again
  pointers.json        {"current": v, "previous": v, "rolled_back_from": {...}}, replaced by temp+fsync+rename
  .staging-*/          a version being written; deleted at start (a half-written file is never loaded)
  partial/             downloads in progress, resumed with HTTP Range after a restart
Every write goes through a temp file, fsync and rename, then an fsync of the directory, so a power cut
leaves either the old state or the new one.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

POINTERS = "pointers.json"
MANIFEST = "manifest.json"
TRIAL_RECORD = "trial.json"
STAGING_PREFIX = ".staging-"
FILE_NAMES = {"pickle": "model.pkl", "joblib": "model.joblib", "skops": "model.skops"}


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


class Store:
    def __init__(self, data_dir: Path, keep_versions: int):
        self.root = Path(data_dir) / "models"
        self.partial_dir = self.root / "partial"
        self.keep = keep_versions
        self.partial_dir.mkdir(parents=True, exist_ok=True)
        self._clean_staging()

    def _clean_staging(self) -> None:
        for leftover in self.root.glob(STAGING_PREFIX + "*"):
            version = leftover.name[len(STAGING_PREFIX):].rpartition("-")[0]
            log.info("removing a half-written version left by a stop",
                     extra={"model_version": version, "path": str(leftover)})
            shutil.rmtree(leftover, ignore_errors=True)
        for leftover in self.root.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)  # a pointer file whose rename never happened

    # -- pointers -----------------------------------------------------------------------------------

    def pointers(self) -> dict[str, Any]:
        try:
            data = json.loads((self.root / POINTERS).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.error("pointer file unreadable; starting without it", extra={"model_version": None, "error": str(exc)})
            return {}
        return data if isinstance(data, dict) else {}

    def set_pointers(self, current: str | None, previous: str | None, rolled_back_from: dict | None = None) -> None:
        """Switch current and previous together: one file, replaced atomically."""
        doc = {"current": current, "previous": previous, "rolled_back_from": rolled_back_from}
        write_atomic(self.root / POINTERS, json.dumps(doc, sort_keys=True).encode("utf-8"))

    # -- versions -----------------------------------------------------------------------------------

    def version_dir(self, version: str) -> Path:
        return self.root / version

    def manifest(self, version: str) -> dict | None:
        try:
            return json.loads((self.version_dir(version) / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def model_path(self, version: str) -> Path | None:
        manifest = self.manifest(version)
        if not manifest:
            return None
        return self.version_dir(version) / manifest.get("file", FILE_NAMES.get(manifest.get("format"), "model.pkl"))

    def has(self, version: str, sha256: str) -> bool:
        manifest = self.manifest(version)
        return bool(manifest) and manifest.get("sha256") == sha256

    def trial_passed(self, version: str, sha256: str) -> bool:
        """The version in the store passed its trial with these bytes (a restart, a rollback or the twin
        asking again for it does not pay for a child process again)."""
        try:
            record = json.loads((self.version_dir(version) / TRIAL_RECORD).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(record, dict) and record.get("sha256") == sha256 and self.has(version, sha256)

    def record_trial(self, version: str, sha256: str, result: dict) -> None:
        doc = {"sha256": sha256, **result}
        write_atomic(self.version_dir(version) / TRIAL_RECORD, json.dumps(doc, sort_keys=True).encode("utf-8"))

    def stage(self, version: str, fmt: str) -> Path:
        """A fresh staging directory; the model file goes to the returned path."""
        staging = Path(tempfile.mkdtemp(dir=self.root, prefix=f"{STAGING_PREFIX}{version}-"))
        return staging / FILE_NAMES[fmt]

    def commit(self, model_file: Path, manifest: dict) -> Path:
        """fsync the staged file, write the manifest, and rename the directory into place (atomic)."""
        staging = model_file.parent
        fsync_file(model_file)
        manifest = {**manifest, "file": model_file.name}
        write_atomic(staging / MANIFEST, json.dumps(manifest, sort_keys=True, indent=1).encode("utf-8"))
        target = self.version_dir(str(manifest["version"]))
        if target.exists():
            # Same version name, other bytes (or a leftover): the new verified copy replaces it.
            shutil.rmtree(target)
        os.rename(staging, target)
        fsync_dir(self.root)
        return target / model_file.name

    def discard(self, model_file: Path) -> None:
        if model_file.parent.name.startswith(STAGING_PREFIX):
            shutil.rmtree(model_file.parent, ignore_errors=True)

    def remove(self, version: str) -> None:
        shutil.rmtree(self.version_dir(version), ignore_errors=True)

    def versions(self) -> list[str]:
        return [p.name for p in self.root.iterdir() if p.is_dir() and (p / MANIFEST).exists()]

    def prune(self) -> list[str]:
        """Keep current, previous and the newest others up to updates.keep_versions; returns what was removed."""
        pointers = self.pointers()
        keep = {pointers.get("current"), pointers.get("previous")}
        others = sorted(
            (v for v in self.versions() if v not in keep),
            key=lambda v: self.version_dir(v).stat().st_mtime,
            reverse=True,
        )
        room = max(0, self.keep - len(keep - {None}))
        removed = others[room:]
        for version in removed:
            shutil.rmtree(self.version_dir(version), ignore_errors=True)
        return removed
