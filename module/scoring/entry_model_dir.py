"""The model directory an Azure ML entry script sees as AZUREML_MODEL_DIR: one per model version.

The file in it is a copy of the stored model that already passed sha256 (and signature) checks; the
copy is hashed again, so the bytes the script loads are the bytes that were verified.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import shutil
import uuid
from pathlib import Path
from typing import Any, Iterable

from ..errors import UpdateError

#: Under agent.data_dir; each model version gets <version>-<sha256 prefix>/ with its model file.
ROOT_NAME = "entry-script-models"
DEFAULT_FILE = "model.pkl"
#: Directories kept beside the ones in use, so a restart or a rollback finds them ready.
KEEP = 3


def materialize(data_dir: Path, manifest: dict, estimator: Any, source: Path | None) -> Path:
    """Copy the verified model file (or, for the embedded default, its pickle) into its own directory."""
    name = Path(str(manifest.get("file") or (source.name if source else DEFAULT_FILE))).name
    sha = str(manifest.get("sha256") or "")
    root = data_dir / ROOT_NAME
    target = root / f"{_safe(str(manifest['version']))}-{sha[:12] or 'unhashed'}"
    if source is not None and (target / name).is_file() and _sha256(target / name) == sha:
        return target  # made by an earlier start for the same verified bytes
    staging = root / f".staging-{uuid.uuid4().hex}"
    staging.mkdir(parents=True)
    try:
        if source is not None:
            shutil.copyfile(source, staging / name)
            if sha and _sha256(staging / name) != sha:
                raise UpdateError(f"model file {source} changed after it was verified", stage="load")
        else:  # the agent's own in-memory model (the embedded default): nothing external to verify
            (staging / name).write_bytes(pickle.dumps(estimator, protocol=5))
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def prune(data_dir: Path, in_use: Iterable[Path]) -> None:
    """Drop the oldest directories beyond KEEP, never one a live model's script was given."""
    root = data_dir / ROOT_NAME
    keep = {Path(p).resolve() for p in in_use}
    try:
        dirs = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return
    for old in dirs[KEEP:]:
        if old.resolve() not in keep:
            shutil.rmtree(old, ignore_errors=True)


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _safe(version: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", version)[:64] or "model"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
