"""The canonical manifest and its Ed25519 signature: the one code the bundler signs with and the agent verifies.

Canonical manifest: the JSON of {version, format, sha256, size} (plus "rollback": true when the update is a
signed rollback, and "features": the canonical feature spec when the model has one) with sorted keys, no
spaces, UTF-8. Nothing else is signed: the URL may move (mirrors,
CDNs) without re-signing, because the sha256 it must deliver is signed.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..errors import UpdateError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

# cryptography is imported only where a key is used: about 6.5 MB of RSS that a device without a
# configured public key never needs.

SIGNED_FIELDS = ("version", "format", "sha256", "size")


def canonical_manifest(manifest: Mapping[str, Any]) -> bytes:
    fields = {name: manifest[name] for name in SIGNED_FIELDS}
    fields["version"] = str(fields["version"])
    fields["size"] = int(fields["size"])
    if manifest.get("rollback"):
        fields["rollback"] = True
    if manifest.get("features"):  # the spec travels with the model: a changed column breaks the signature
        fields["features"] = manifest["features"]
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign(manifest: Mapping[str, Any], private_key: Ed25519PrivateKey) -> str:
    return base64.b64encode(private_key.sign(canonical_manifest(manifest))).decode("ascii")


def load_private_key(path: Path) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def load_public_key(text: str) -> Ed25519PublicKey:
    """settings updates.public_key: PEM text, a path to a PEM file, or the raw 32-byte key in base64."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    text = text.strip()
    if not text.startswith("-----BEGIN") and Path(text).is_file():
        text = Path(text).read_text(encoding="utf-8").strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode("ascii"))
        else:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error, TypeError) as exc:
        raise UpdateError(f"updates.public_key is not a usable Ed25519 public key: {exc}", stage="verify") from None
    if not isinstance(key, Ed25519PublicKey):
        raise UpdateError("updates.public_key is not an Ed25519 public key", stage="verify")
    return key


def verify(manifest: Mapping[str, Any], signature: str | None, public_key: Ed25519PublicKey) -> None:
    """Raises UpdateError (stage "verify") unless `signature` signs this manifest's canonical form."""
    from cryptography.exceptions import InvalidSignature

    if not signature:
        raise UpdateError("a signature is required (updates.public_key is set) but the update has none", "verify")
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key.verify(raw, canonical_manifest(manifest))
    except (InvalidSignature, binascii.Error, ValueError):
        raise UpdateError("the signature does not match the manifest (version, format, sha256, size, features)", "verify") from None
