"""`layer`: builds a model image (the runtime image + one tiny model layer) and pushes it, without Docker."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from module.settings import DEFAULT_MAX_MODEL_BYTES

from ..layers import LayerError, oci_layout
from ..layers.bundle import read_model
from ..layers.image import model_image
from ..layers.push import push
from ..layers.reference import Reference, parse
from ..layers.registry import RegistryClient
from ..layers.source import LayoutBase, RegistryBase, parse_layout
from ..layers.tar import MODEL_DIR, model_layer

EXIT_FAILED = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("layer", help="build and push a model image: the runtime base + one model layer",
                              description=__doc__.split(":", 1)[1].strip())
    p.add_argument("bundle", type=Path, help="the model bundle folder (manifest.json + the model file)")
    p.add_argument("--base", required=True,
                   help="the runtime image: REGISTRY/REPO:TAG, or oci:DIR:NAME for an OCI layout")
    p.add_argument("--tag", required=True, help="the model image to write: REGISTRY/REPO:TAG")
    p.add_argument("--oci-layout", type=Path, help="write an OCI layout to this folder instead of pushing")
    p.add_argument("--username", default=os.environ.get("REGISTRY_USERNAME"),
                   help="registry user (or REGISTRY_USERNAME); for ACR a token name or service principal")
    p.add_argument("--password", default=os.environ.get("REGISTRY_PASSWORD"),
                   help="registry password (or REGISTRY_PASSWORD)")
    p.add_argument("--insecure", action="store_true", help="plain HTTP to the registry (a trusted test network)")
    p.add_argument("--max-model-bytes", type=int, default=DEFAULT_MAX_MODEL_BYTES,
                   help=f"refuse bigger model files (default {DEFAULT_MAX_MODEL_BYTES}, the agent's limit)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        result = build_and_deliver(args)
    except LayerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        args.error = str(exc)
        return EXIT_FAILED
    args.result = result
    if not args.json:
        print("\n".join(f"{k}: {v}" for k, v in result.items()))
    return 0


def build_and_deliver(args: argparse.Namespace) -> dict:
    # Everything local is checked before the first request: a bad model never half-reaches a registry.
    files = read_model(args.bundle, args.max_model_bytes)
    target = parse(args.tag, tag_required=True)
    layer = model_layer(files.manifest, files.model_name, files.model)
    client = RegistryClient(target.registry, insecure=args.insecure, username=args.username, password=args.password)
    base = base_source(args, target, client)
    created_by = f"COPY manifest.json {files.model_name} /{MODEL_DIR}/ # model {files.version}"
    image = model_image(base.image(), layer, created_by)
    new_blobs = {layer.digest: layer.blob, image.parsed["config"]["digest"]: image.config}
    result = {"model_version": files.version, "digest": image.digest, "layer": layer.digest,
              "layer_bytes": len(layer.blob), "config_bytes": len(image.config), "manifest_bytes": len(image.manifest),
              "device_pull_bytes": len(layer.blob) + len(image.config) + len(image.manifest)}
    if args.oci_layout:
        blob = lambda d: new_blobs[d] if d in new_blobs else base.blob(d)  # noqa: E731
        result["written_bytes"] = oci_layout.write_image(args.oci_layout, target.reference, image, blob)
        result["oci_layout"] = f"{args.oci_layout}:{target.reference}"
        return result
    mount_from = base.ref.repository if isinstance(base, RegistryBase) and base.client is client else None
    report = push(client, target.repository, target.reference, image, new_blobs, base.blob, mount_from)
    result.update(pushed=str(target), uploaded_blobs=len(report.uploaded), uploaded_bytes=sum(report.uploaded.values()),
                  mounted_blobs=len(report.mounted), present_blobs=len(report.present))
    return result


def base_source(args: argparse.Namespace, target: Reference, client: RegistryClient) -> RegistryBase | LayoutBase:
    """The base image's source; on the target's registry it shares the client (and so its credentials)."""
    if args.base.startswith("oci:"):
        return parse_layout(args.base)
    ref = parse(args.base)
    if ref.registry != target.registry:
        return RegistryBase(RegistryClient(ref.registry, insecure=args.insecure), ref)
    if ref.repository != target.repository:
        client.auth.extra_scopes = [f"repository:{ref.repository}:pull"]  # a Bearer token must cover the mount
    return RegistryBase(client, ref)
