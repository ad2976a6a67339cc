"""`python -m deployment bundle MODEL_FILE --version V`: write a model bundle and its desired section."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..bundling import BundleError, build_bundle

EXIT_USAGE = 2

EPILOG = """\
The bundle directory holds manifest.json, the model file, payload.zst (the model, zstd-compressed) and
desired.json (the desired "model" section). A model whose payload fits the twin (24,576 characters of
base64) travels inline; a larger one goes by URL: host payload.zst and put its URL in desired.json
(model.url), or give --url now.

Next: python -m deployment publish --device DEVICE --bundle DIR (or --fleet CONDITION).
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("bundle", help="bundle a trained model: manifest, payload.zst, desired.json",
                              description=__doc__, epilog=EPILOG)
    p.add_argument("model_file", type=Path, metavar="MODEL_FILE", help="the pickle, joblib or skops file")
    p.add_argument("--version", required=True, help="the model version the devices will report")
    p.add_argument("--format", choices=("pickle", "joblib", "skops"), help="default: from the file suffix")
    p.add_argument("--canary-data", type=Path, help="CSV of feature rows (with --features: a recorded series of "
                   "messages, like the training CSV); expected scores come from the model")
    p.add_argument("--features", type=Path, metavar="SPEC",
                   help="the model's feature spec (YAML or JSON; docs/features.md): signed and swapped with the model")
    p.add_argument("--sign-key", type=Path, help="Ed25519 private key PEM (python -m deployment keygen)")
    p.add_argument("--out", type=Path, help="bundle directory (default bundles/<version>)")
    p.add_argument("--url", help="where payload.zst will be hosted (forces a URL section)")
    p.add_argument("--rollback", action="store_true", help="mark a signed downgrade as an intended rollback")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout; the prose goes to stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = args.out or Path("bundles") / str(args.version)
    try:
        bundle = build_bundle(args.model_file, args.version, out, args.format, args.canary_data, args.sign_key,
                              args.url, args.rollback, args.features)
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        args.error = str(exc)
        return EXIT_USAGE
    m = bundle.manifest
    args.result = result(bundle, bool(args.url))
    how = "inline in the twin" if bundle.inline else (
        f"by URL {bundle.section['url']}" if args.url else "by URL, once payload.zst is hosted (publish --upload)")
    print(f"bundle {m['version']} ({m['format']}, {m['size']} bytes, sha256 {m['sha256'][:12]}...) in {bundle.directory}")
    print(f"delivery: {how}; signed: {'yes' if 'signature' in m else 'no'}; canary: {_canary_text(m)}")
    print(f"desired state: {bundle.directory / 'desired.json'}")
    for warning in bundle.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not bundle.inline and not args.url:
        print("too large for the twin: publish --upload CONTAINER_URL hosts payload.zst and publishes its SAS URL "
              "(or host it yourself and pass publish --url)", file=sys.stderr)
    return 0


def result(bundle, url_given: bool) -> dict:
    """The --json document's fields: what a release pipeline needs from the bundle."""
    import hashlib

    m, payload = bundle.manifest, bundle.directory / "payload.zst"
    needs_host = not bundle.inline and not url_given
    return {"bundle": str(bundle.directory), "version": m["version"], "format": m["format"],
            "model_file": str(bundle.directory / m["file"]), "size": m["size"], "sha256": m["sha256"],
            "payload": str(payload), "payload_bytes": payload.stat().st_size,
            "payload_sha256": hashlib.sha256(payload.read_bytes()).hexdigest(),
            "delivery": "inline" if bundle.inline else "url", "url": None if needs_host else bundle.section.get("url"),
            "needs_upload": needs_host, "signed": "signature" in m,
            "canary_rows": len((m.get("canary") or {}).get("inputs") or {}),
            "canary_sequences": len((m.get("canary") or {}).get("sequences") or {}),
            "desired": str(bundle.directory / "desired.json"), "warnings": list(bundle.warnings)}


def _canary_text(manifest: dict) -> str:
    """A point-wise canary holds rows; a windowed model's holds short sequences of messages."""
    canary = manifest.get("canary") or {}
    if canary.get("sequences"):
        return f"{len(canary['sequences'])} sequences"
    return f"{len(canary.get('inputs') or {})} rows"
