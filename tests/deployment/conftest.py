"""Fixtures for the operator-side tests: a running IoT Hub stand-in the real SDK trusts, and bundles."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
import zstandard

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
    """A bundle directory in the shared format (manifest.json, the model file, payload.zst, desired.json)."""
    directory.mkdir(parents=True, exist_ok=True)
    sha = hashlib.sha256(model).hexdigest()
    manifest = {"version": version, "format": "pickle", "sha256": sha, "size": len(model), "file": "model.pkl"}
    (directory / "model.pkl").write_bytes(model)
    payload = zstandard.ZstdCompressor(level=19).compress(model)
    (directory / "payload.zst").write_bytes(payload)
    section = {"version": version, "format": "pickle", "sha256": sha, "size": len(model)}
    if inline:
        text = base64.b64encode(payload).decode()
        chunks = {str(i): text[o:o + 4096] for i, o in enumerate(range(0, len(text), 4096))}
        section["inline"] = {"encoding": "zstd+base64", "chunks": chunks}
    else:
        section["url"] = "<upload payload.zst and publish with --url>"
    (directory / "manifest.json").write_text(json.dumps(manifest))
    (directory / "desired.json").write_text(json.dumps({"model": section}))
    return directory


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
