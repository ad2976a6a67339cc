"""Where the base image comes from: a registry (REGISTRY/REPO:TAG) or an OCI layout (oci:DIR:NAME)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import oci_layout
from .image import Image
from .reference import Reference
from .registry import RegistryClient


@dataclass
class RegistryBase:
    client: RegistryClient
    ref: Reference

    def image(self) -> Image:
        return self.client.get_image(self.ref.repository, self.ref.reference)

    def blob(self, digest: str) -> bytes:
        return self.client.get_blob(self.ref.repository, digest)


@dataclass
class LayoutBase:
    root: Path
    name: str

    def image(self) -> Image:
        return oci_layout.read_image(self.root, self.name)

    def blob(self, digest: str) -> bytes:
        return oci_layout.read_blob(self.root, digest)


def parse_layout(text: str) -> LayoutBase:
    """`oci:DIR:NAME` (NAME is the org.opencontainers.image.ref.name in DIR/index.json)."""
    path, _, name = text.removeprefix("oci:").rpartition(":")
    return LayoutBase(Path(path), name) if path else LayoutBase(Path(name), "latest")
