"""`python -m deployment keygen --out DIR`: an Ed25519 key pair for signing model bundles."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

PRIVATE = "private.pem"
PUBLIC = "public.pem"


def register(subparsers) -> None:
    p = subparsers.add_parser("keygen", help="make an Ed25519 signing key pair (private.pem, public.pem)",
                              description=__doc__)
    p.add_argument("--out", type=Path, required=True, help="directory for private.pem and public.pem")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out: Path = args.out
    if (out / PRIVATE).exists() or (out / PUBLIC).exists():
        print(f"error: {out} already holds a key pair; not overwritten", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    fd = os.open(out / PRIVATE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private)
    (out / PUBLIC).write_bytes(public)
    print(f"private key: {out / PRIVATE} (keep it off the devices)")
    print(f"public key:  {out / PUBLIC} (settings updates.public_key on every device)")
    return 0
