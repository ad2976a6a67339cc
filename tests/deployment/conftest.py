"""Fixtures for the operator-side tests: a running IoT Hub stand-in the real SDK trusts, and bundles."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import zstandard

from deployment import bundling
from deployment.sections import without_nulls
from tests.helpers.iothub_standin import IoTHubStandIn

MODULE = "edgemodelagent"


@pytest.fixture
def iothub(tmp_path, monkeypatch):
    """The stand-in on its own loopback address; the SDK trusts its CA through REQUESTS_CA_BUNDLE (the
    machine exports one already, so it is overridden here) and finds it through IOTHUB_CONNECTION_STRING."""
    hub = IoTHubStandIn(tmp_path)
    hub.start()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(hub.ca_file))
    monkeypatch.setenv("IOTHUB_CONNECTION_STRING", hub.connection_string)
    try:
        yield hub
    finally:
        hub.stop()


def write_bundle(directory: Path, version: str, model: bytes, inline: bool = True) -> Path:
    """A bundle directory in the shared format, its desired section made by the bundler's own code, for
    publish tests that need no real model (bundling.build_bundle would load and canary one)."""
    directory.mkdir(parents=True, exist_ok=True)
    manifest = {"version": version, "format": "pickle", "sha256": hashlib.sha256(model).hexdigest(),
                "size": len(model), "file": "model.pkl"}
    (directory / "model.pkl").write_bytes(model)
    payload = zstandard.ZstdCompressor(level=19).compress(model)
    (directory / "payload.zst").write_bytes(payload)
    url = None if inline else bundling.URL_PLACEHOLDER.format(version=version)
    section, _ = bundling.desired_section(manifest, payload, url)
    (directory / "manifest.json").write_text(json.dumps(manifest))
    (directory / "desired.json").write_text(json.dumps({"model": section}))
    return directory


def published(directory: Path) -> dict:
    """The model section a device twin ends up with: desired.json's, without its null padding."""
    return without_nulls(json.loads((directory / "desired.json").read_text())["model"])


@pytest.fixture
def bundle(tmp_path):
    return write_bundle(tmp_path / "bundle-2", "2", b"model bytes v2 " * 40)


def active_simulator(fail: set[str] = frozenset()):
    """A device simulator: modules report the desired model active, except devices in `fail`."""
    def on_desired(device, module, desired):
        model = desired.get("model")
        if not model:
            return None
        if device in fail:
            return {"model": {"status": "failed", "error": "canary outside tolerance", "version": "1"}}
        return {"model": {"status": "active", "version": model["version"], "bytes_fetched": model.get("size")}}
    return on_desired
