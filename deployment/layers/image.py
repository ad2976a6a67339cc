"""The model image's config and manifest: the base image's, with one layer's diff_id appended.

The config keeps only what a device needs to run the image (platform, the runtime's config, rootfs
diff_ids). The base's build history is dropped (optional in an OCI config): on the real runtime image it
was most of the config, and every device pulls the config with each model.

The manifest keeps the base's format (OCI, or Docker v2 schema 2 as Docker and buildah --format docker
write it) so a device's engine sees the same kind of image, and adds no timestamps or annotations: the
same base and model give the same digest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from . import LayerError
from .tar import Layer, sha256_digest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)

#: media types of (config, gzip'd layer) for each manifest format.
PART_TYPES = {
    OCI_MANIFEST: ("application/vnd.oci.image.config.v1+json", "application/vnd.oci.image.layer.v1.tar+gzip"),
    DOCKER_MANIFEST: ("application/vnd.docker.container.image.v1+json",
                      "application/vnd.docker.image.rootfs.diff.tar.gzip"),
}
EPOCH = "1970-01-01T00:00:00Z"
#: Config fields a device needs (OCI image spec: platform, execution parameters, rootfs); the rest
#: (history, Docker's container/container_config copy of the build step, builder info) only describes how
#: the base was built, and `skopeo inspect` of the base still shows it.
DEVICE_CONFIG_KEYS = ("created", "author", "architecture", "os", "os.version", "os.features", "variant",
                      "config", "rootfs")


@dataclass(frozen=True)
class Image:
    """An image as a registry holds it: the manifest's exact bytes, its media type, and the config bytes."""

    manifest: bytes
    media_type: str
    config: bytes

    @property
    def digest(self) -> str:
        return sha256_digest(self.manifest)

    @property
    def parsed(self) -> dict:
        return json.loads(self.manifest)

    def blob_descriptors(self) -> list[dict]:
        """The config then the layers: every blob the manifest references."""
        m = self.parsed
        return [m["config"], *m["layers"]]


def parse_manifest(raw: bytes, media_type: str | None, where: str) -> tuple[dict, str]:
    try:
        manifest = json.loads(raw)
    except ValueError as exc:
        raise LayerError(f"{where}: the manifest is not JSON ({exc})") from None
    kind = manifest.get("mediaType") or media_type or OCI_MANIFEST
    if kind in (OCI_INDEX, DOCKER_LIST):
        raise LayerError(f"{where} is a multi-platform index: pass the tag of one platform's image as --base")
    if kind not in MANIFEST_TYPES or "layers" not in manifest:
        raise LayerError(f"{where}: unsupported manifest type {kind!r}")
    return manifest, kind


def model_image(base: Image, layer: Layer, created_by: str) -> Image:
    """`created_by` (the step a Dockerfile would show) is not written: history is left out, see above."""
    manifest, kind = parse_manifest(base.manifest, base.media_type, "the base image")
    config = device_config(json.loads(base.config))
    config.setdefault("rootfs", {"type": "layers", "diff_ids": []})["diff_ids"].append(layer.diff_id)
    config_bytes = _compact(config)
    config_type, layer_type = PART_TYPES[kind]
    new = {
        "schemaVersion": 2,
        "mediaType": kind,
        "config": {"mediaType": config_type, "digest": sha256_digest(config_bytes), "size": len(config_bytes)},
        "layers": [*manifest["layers"], {"mediaType": layer_type, "digest": layer.digest, "size": len(layer.blob)}],
    }
    return Image(_compact(new), kind, config_bytes)


def device_config(config: dict) -> dict:
    """The base's config without what only describes its build (see DEVICE_CONFIG_KEYS)."""
    return {key: config[key] for key in DEVICE_CONFIG_KEYS if key in config}


def _compact(obj: dict) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
