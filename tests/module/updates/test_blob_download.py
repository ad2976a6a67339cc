"""The agent downloads a 100-tree model from a Blob Storage SAS URL minted by publish's own code against
Azurite (HTTPS): through a link that drops half way it resumes with Range; a tampered blob is refused by
the sha256 pinned in the twin and the old model keeps serving."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import zstandard
from azure.storage.blob import BlobServiceClient

from deployment import blob_hosting
from tests.helpers.azurite import ACCOUNT_KEY, Azurite
from tests.helpers.cutting_proxy import CuttingProxy

from .conftest import desired_of, settle


def _hosted(blob: Azurite, payload, container="models"):
    target = blob_hosting.parse_container_url(blob.container_url(container))
    return blob_hosting.host_payload(payload, target, blob_hosting.Credential(account_key=ACCOUNT_KEY), 2,
                                     ca_file=str(blob.ca_file))


def _via(url: str, port: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.hostname}:{port}"))


def test_the_agent_resumes_a_dropped_sas_download_and_switches(start_agent, bundle, tmp_path):
    b = bundle("7", trees=100, samples=256, url="https://placeholder.invalid/x")
    payload = b.directory / "payload.zst"
    with Azurite(tmp_path) as blob:
        hosted = _hosted(blob, payload)
        size = payload.stat().st_size
        with CuttingProxy(blob.host, blob.port, after=size // 2) as proxy:
            agent = start_agent(updates={"extra_ca": blob.ca_file})
            agent.handle_desired({"model": desired_of(b, url=_via(hosted.url, proxy.port)), "$version": 1})
            state = settle(agent, timeout=60)
            assert state["status"] == "active", state
            assert agent.slot.current.version == "7"
            assert proxy.cut == 1 and proxy.connections >= 2  # the first link was cut, a second one resumed
            assert state["bytes_fetched"] < 1.5 * size  # resumed, not started again from byte 0


def test_a_tampered_blob_is_refused_and_the_old_model_serves_on(start_agent, bundle, tmp_path):
    b = bundle("8", trees=100, samples=256, url="https://placeholder.invalid/x")
    with Azurite(tmp_path) as blob:
        hosted = _hosted(blob, b.directory / "payload.zst")
        model = (b.directory / b.manifest["file"]).read_bytes()
        tampered = zstandard.ZstdCompressor().compress(model[:-10] + bytes([model[-10] ^ 1]) + model[-9:])
        service = BlobServiceClient.from_connection_string(blob.connection_string, connection_verify=str(blob.ca_file))
        service.get_blob_client("models", hosted.blob).upload_blob(
            tampered, overwrite=True)
        agent = start_agent(updates={"extra_ca": blob.ca_file, "retries": 0})
        before = agent.slot.current.version
        agent.handle_desired({"model": desired_of(b, url=hosted.url), "$version": 1})
        state = settle(agent, timeout=60)
        assert state["status"] == "failed" and "sha256" in state["error"]
        assert agent.slot.current.version == before
