"""Model images without a Docker daemon: a deterministic layer, its image config and manifest, a registry client.

`bundle.read_model` checks the bundle, `tar.model_layer` makes the layer, `image.model_image` puts it on a
base image, `registry.RegistryClient` pushes it and `oci_layout` writes it to disk instead.
"""

from __future__ import annotations


class LayerError(Exception):
    """Anything that stops a model image from being built or pushed; the message says what and where."""


class BundleError(LayerError, ValueError):
    """The model bundle is missing, unreadable, oversized or inconsistent: refused before any upload."""


class RegistryError(LayerError):
    """The registry refused or failed a request; `status` is the HTTP status (0 when none came back)."""

    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.status = status
