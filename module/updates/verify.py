"""Checks an update must pass before anything is loaded: runtime, signature, downgrade, then sha256 and size.

The manifest checks (runtime, signature, downgrade) run before the download, so a refused update costs
no bandwidth; the file checks run on the decompressed model file before it enters the store.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Mapping

from ..errors import UpdateError
from ..runtime import fingerprint
from . import compat, signing

HASH_CHUNK = 1 << 20


def version_key(version: str) -> tuple:
    """Natural order: "10" > "9", "1.10" > "1.9", "7b" > "7a"; digits compare as numbers, text as text."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.findall(r"\d+|[^\d.\-_]+", version))


def is_older(version: str, than: str) -> bool:
    return version_key(version) < version_key(than)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(HASH_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def check_file(path: Path, sha256: str, size: int) -> None:
    """Raises UpdateError (stage "verify") unless the file is exactly the pinned bytes."""
    actual_size = path.stat().st_size
    if actual_size != size:
        raise UpdateError(f"the model file is {actual_size} bytes, the manifest says {size}", stage="verify")
    actual = sha256_of(path)
    if actual != sha256:
        raise UpdateError(f"sha256 mismatch: got {actual}, the desired state pins {sha256}", stage="verify")


def check_manifest(manifest: Mapping[str, Any], public_key: str | None, active_version: str | None) -> None:
    """Runtime fingerprint, then (when signing is on) signature and downgrade; raises UpdateError."""
    compat.check(manifest.get("runtime"), fingerprint())
    if not public_key:
        return
    key = signing.load_public_key(public_key)
    signing.verify(manifest, manifest.get("signature"), key)
    check_downgrade(manifest, public_key, active_version)


def check_downgrade(manifest: Mapping[str, Any], public_key: str | None, active_version: str | None) -> None:
    """With signing on, a version older than the active one needs `rollback: true` in its signed manifest,
    whoever asks for it: the desired state or a manual rollback (the signature itself is checked on load)."""
    if not public_key or not active_version:
        return
    if is_older(str(manifest["version"]), active_version) and not manifest.get("rollback"):
        raise UpdateError(
            f"version {manifest['version']} is older than the active {active_version}; with signing on, a downgrade "
            "needs a signed manifest with rollback: true (python -m deployment bundle --rollback)",
            stage="verify",
        )
