"""A deterministic gzip'd tar layer: sorted entries, mtime 0, owner 0:0 with no names, gzip without a timestamp.

The same files give the same bytes (for a given zlib), hence the same layer digest and the same image digest.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from dataclasses import dataclass

#: Where the agent looks for a baked model (settings `updates.baked_model_dir`).
MODEL_DIR = "app/model"


@dataclass(frozen=True)
class Layer:
    """A layer blob: `blob` is the gzip'd tar; `diff_id` is the digest of the uncompressed tar."""

    blob: bytes
    digest: str
    diff_id: str


def deterministic_tar(files: dict[str, bytes]) -> bytes:
    """Tar of `files` (path -> content) with their parent directories; every varying field fixed."""
    dirs = {"/".join(path.split("/")[:i]) for path in files for i in range(1, path.count("/") + 1)}
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(dirs | set(files)):
            info = tarfile.TarInfo(name)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if name in files:
                info.mode, info.size = 0o644, len(files[name])
                tar.addfile(info, io.BytesIO(files[name]))
            else:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
    return out.getvalue()


def layer_from_files(files: dict[str, bytes]) -> Layer:
    raw = deterministic_tar(files)
    blob = gzip.compress(raw, compresslevel=9, mtime=0)
    return Layer(blob, sha256_digest(blob), sha256_digest(raw))


def model_layer(manifest: bytes, model_name: str, model: bytes) -> Layer:
    return layer_from_files({f"{MODEL_DIR}/manifest.json": manifest, f"{MODEL_DIR}/{model_name}": model})


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()
