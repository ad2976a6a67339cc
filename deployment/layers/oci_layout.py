"""An OCI image layout on disk (oci-layout, index.json, blobs/sha256/): read a base from it, write an image to it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

from . import LayerError
from .image import Image, parse_manifest
from .tar import sha256_digest

REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT = {"imageLayoutVersion": "1.0.0"}


def blob_path(root: Path, digest: str) -> Path:
    algorithm, _, hex_digest = digest.partition(":")
    return root / "blobs" / algorithm / hex_digest


def read_blob(root: Path, digest: str) -> bytes:
    try:
        data = blob_path(root, digest).read_bytes()
    except OSError as exc:
        raise LayerError(f"OCI layout {root}: cannot read blob {digest}: {exc.strerror}") from None
    if sha256_digest(data) != digest:
        raise LayerError(f"OCI layout {root}: blob {digest} is corrupt")
    return data


def read_image(root: Path, ref_name: str) -> Image:
    index = _index(root)
    for entry in index.get("manifests", []):
        if entry.get("annotations", {}).get(REF_NAME) == ref_name:
            manifest = read_blob(root, entry["digest"])
            parsed, kind = parse_manifest(manifest, entry.get("mediaType"), f"{root}:{ref_name}")
            return Image(manifest, kind, read_blob(root, parsed["config"]["digest"]))
    raise LayerError(f"OCI layout {root} has no image named {ref_name!r}")


def write_image(root: Path, ref_name: str, image: Image, blob: Callable[[str], bytes]) -> int:
    """Writes the image's missing blobs (asking `blob(digest)` for their bytes), then names it in index.json.

    Returns the bytes written for blobs; blobs already in the layout are not fetched again.
    """
    root.mkdir(parents=True, exist_ok=True)
    written = 0
    for desc in image.blob_descriptors():
        path = blob_path(root, desc["digest"])
        if not path.exists():
            written += _write(path, blob(desc["digest"]))
    _write(blob_path(root, image.digest), image.manifest)
    index = _index(root) if (root / "index.json").exists() else {"schemaVersion": 2, "manifests": []}
    index["manifests"] = [m for m in index.get("manifests", []) if m.get("annotations", {}).get(REF_NAME) != ref_name]
    index["manifests"].append({"mediaType": image.media_type, "digest": image.digest, "size": len(image.manifest),
                               "annotations": {REF_NAME: ref_name}})
    _write(root / "oci-layout", json.dumps(LAYOUT).encode())
    _write(root / "index.json", json.dumps(index, indent=None, separators=(",", ":")).encode())
    return written


def _index(root: Path) -> dict:
    try:
        return json.loads((root / "index.json").read_text())
    except (OSError, ValueError) as exc:
        raise LayerError(f"{root} is not a readable OCI layout (index.json: {exc})") from None


def _write(path: Path, data: bytes) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)  # a reader never sees half a blob
    return len(data)
