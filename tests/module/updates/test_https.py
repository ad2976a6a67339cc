"""https downloads: a private CA is trusted only through updates.extra_ca."""

from __future__ import annotations

from tests.helpers.http_fault_server import FaultServer
from tests.helpers.tls import make_server_certificate

from .conftest import settle


def test_https_with_an_extra_ca(start_agent, bundle, loopback, tmp_path):
    cert = make_server_certificate(tmp_path / "tls", loopback, "model-host")
    with FaultServer(loopback, tls=(str(cert.cert_file), str(cert.key_file))) as server:
        b = bundle("2", url=server.url("/2.zst"))
        server.add("/2.zst", (b.directory / "payload.zst").read_bytes())

        untrusting = start_agent(updates={"retries": 0}, data_dir=tmp_path / "a")
        untrusting.handle_desired({"model": b.section, "$version": 1})
        state = settle(untrusting)
        assert state["status"] == "failed" and "SSL" in state["error"]
        assert untrusting.slot.current.source == "embedded"

        trusting = start_agent(updates={"extra_ca": cert.ca_file}, data_dir=tmp_path / "b")
        trusting.handle_desired({"model": b.section, "$version": 1})
        assert settle(trusting)["status"] == "active" and trusting.slot.current.version == "2"
