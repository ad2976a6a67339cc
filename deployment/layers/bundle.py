"""Reads a model bundle's manifest and model file, refusing unreadable, oversized or mismatched ones."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from . import BundleError

MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class ModelFiles:
    """The two files a model layer carries, as bytes (a model is megabytes, not gigabytes)."""

    version: str
    manifest: bytes
    model_name: str
    model: bytes


def read_model(bundle_dir: Path, max_model_bytes: int) -> ModelFiles:
    manifest_path = bundle_dir / MANIFEST_NAME
    manifest_bytes = _read(manifest_path, max_bytes=1 << 20)
    try:
        manifest = json.loads(manifest_bytes)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{manifest_path}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise BundleError(f"{manifest_path}: expected a JSON object")
    for key in ("version", "file", "sha256", "size"):
        if key not in manifest:
            raise BundleError(f"{manifest_path}: missing {key!r}")
    name = str(manifest["file"])
    # The file lands in /app/model/: a path in the name would escape that folder.
    if "/" in name or "\\" in name or name in ("", ".", "..", MANIFEST_NAME):
        raise BundleError(f"{manifest_path}: 'file' must be a plain file name, got {name!r}")
    model_path = bundle_dir / name
    model = _read(model_path, max_bytes=max_model_bytes)
    if len(model) != manifest["size"]:
        raise BundleError(f"{model_path}: {len(model)} bytes, the manifest says {manifest['size']}")
    digest = hashlib.sha256(model).hexdigest()
    if digest != manifest["sha256"]:
        raise BundleError(f"{model_path}: sha256 {digest} differs from the manifest's {manifest['sha256']}")
    return ModelFiles(str(manifest["version"]), manifest_bytes, name, model)


def _read(path: Path, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise BundleError(f"{path}: {size} bytes is over the limit of {max_bytes} bytes")
        with path.open("rb") as f:
            return f.read(max_bytes + 1)
    except OSError as exc:
        raise BundleError(f"cannot read {path}: {exc.strerror or exc}") from None
