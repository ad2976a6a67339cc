"""Pushes a model image: each blob the registry lacks is mounted from the base's repository or uploaded, then the manifest."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .image import Image
from .registry import RegistryClient


@dataclass
class PushReport:
    digest: str = ""
    present: list[str] = field(default_factory=list)
    mounted: list[str] = field(default_factory=list)
    uploaded: dict[str, int] = field(default_factory=dict)
    """digest -> bytes sent."""


def push(client: RegistryClient, repository: str, tag: str, image: Image, new_blobs: dict[str, bytes],
         base_blob: Callable[[str], bytes], mount_from: str | None) -> PushReport:
    """`new_blobs` are the model layer and config; other blobs come from the base: mounted when `mount_from`
    names a repository of the same registry, else read with `base_blob` and uploaded."""
    report = PushReport()
    for desc in image.blob_descriptors():
        digest = desc["digest"]
        if client.blob_exists(repository, digest):
            report.present.append(digest)
            continue
        location = None
        if digest not in new_blobs and mount_from and mount_from != repository:
            location = client.mount_blob(repository, digest, mount_from)
            if location is None:
                report.mounted.append(digest)
                continue
        data = new_blobs[digest] if digest in new_blobs else base_blob(digest)
        client.upload_blob(repository, digest, data, location)
        report.uploaded[digest] = len(data)
    report.digest = client.put_manifest(repository, tag, image)
    return report
