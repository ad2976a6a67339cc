"""publish --upload against a real Blob service (Azurite over HTTPS): a content-addressed blob, uploaded
once, a read-only HTTPS-only SAS with an expiry, that URL in the twin; a placeholder URL is refused."""

from __future__ import annotations

import json
import pickle
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sklearn.ensemble import IsolationForest

from deployment.__main__ import main
from module.models import nab
from tests.helpers.azurite import Azurite

from .conftest import MODULE


@pytest.fixture(scope="module")
def big_model(tmp_path_factory):
    """A realistic model: 100 trees, far past the twin's inline budget."""
    _, values = nab.load_series()
    estimator = IsolationForest(n_estimators=100, random_state=0).fit(nab.to_features(values))
    path = tmp_path_factory.mktemp("model") / "model.pkl"
    path.write_bytes(pickle.dumps(estimator, protocol=5))
    return path


@pytest.fixture
def azurite(tmp_path, iothub, monkeypatch):
    """Azurite with its own CA; requests trusts both it and the hub stand-in's CA."""
    with Azurite(tmp_path) as blob:
        both = tmp_path / "both-ca.pem"
        both.write_text(iothub.ca_file.read_text() + "\n" + blob.ca_file.read_text())
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(both))
        monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", blob.connection_string)
        blob.both_ca = both
        yield blob


@pytest.fixture
def big_bundle(tmp_path, big_model, capsys):
    assert main(["bundle", str(big_model), "--version", "3", "--out", str(tmp_path / "b3")]) == 0
    capsys.readouterr()
    return tmp_path / "b3"


def _published_url(iothub, device="dev-1") -> str:
    return iothub.state.modules[(device, MODULE)]["properties"]["desired"]["model"]["url"]


def test_upload_publishes_a_read_only_https_sas_url_that_serves_the_payload(iothub, azurite, big_bundle, capsys):
    iothub.state.add_device("dev-1", modules=(MODULE,))
    assert main(["publish", "--device", "dev-1", "--bundle", str(big_bundle),
                 "--upload", azurite.container_url("models"), "--sas-days", "10"]) == 0
    err = capsys.readouterr().err
    assert "uploaded" in err and "upload " in err  # progress lines on stderr
    url = _published_url(iothub)
    payload = (big_bundle / "payload.zst").read_bytes()
    import hashlib

    assert urlsplit(url).path.endswith(f"/models/{hashlib.sha256(payload).hexdigest()}.zst")
    sas = parse_qs(urlsplit(url).query)
    assert sas["sp"] == ["r"] and sas["spr"] == ["https"]
    expiry = datetime.fromisoformat(sas["se"][0].replace("Z", "+00:00"))
    assert timedelta(days=9.9) < expiry - datetime.now(timezone.utc) < timedelta(days=10.1)
    got = requests.get(url, verify=str(azurite.both_ca))
    assert got.status_code == 200 and got.content == payload
    ranged = requests.get(url, verify=str(azurite.both_ca), headers={"Range": "bytes=1000-"})
    assert ranged.status_code == 206 and ranged.content == payload[1000:]
    assert requests.get(url.split("?")[0], verify=str(azurite.both_ca)).status_code in (401, 403, 404)


def test_a_second_publish_does_not_upload_the_same_blob_again(iothub, azurite, big_bundle, capsys):
    from azure.storage.blob import BlobServiceClient

    iothub.state.add_device("dev-1", modules=(MODULE,))
    iothub.state.add_device("dev-2", modules=(MODULE,))
    args = ["publish", "--bundle", str(big_bundle), "--upload", azurite.container_url("models")]
    assert main(args + ["--device", "dev-1"]) == 0
    service = BlobServiceClient.from_connection_string(azurite.connection_string, connection_verify=str(azurite.both_ca))
    blob = urlsplit(_published_url(iothub)).path.rsplit("/", 1)[1]
    first = service.get_blob_client("models", blob).get_blob_properties()
    capsys.readouterr()
    assert main(args + ["--device", "dev-2"]) == 0
    assert "not re-sent" in capsys.readouterr().err
    again = service.get_blob_client("models", blob).get_blob_properties()
    assert again.etag == first.etag and again.size == (big_bundle / "payload.zst").stat().st_size
    assert urlsplit(_published_url(iothub, "dev-2")).path == urlsplit(_published_url(iothub)).path


def test_a_blob_with_the_name_but_other_bytes_is_replaced(iothub, azurite, big_bundle):
    from azure.storage.blob import BlobServiceClient

    import hashlib

    payload = (big_bundle / "payload.zst").read_bytes()
    name = f"{hashlib.sha256(payload).hexdigest()}.zst"
    service = BlobServiceClient.from_connection_string(azurite.connection_string, connection_verify=str(azurite.both_ca))
    service.create_container("models")
    service.get_blob_client("models", name).upload_blob(b"tampered", metadata={"sha256": "0" * 64})
    iothub.state.add_device("dev-1", modules=(MODULE,))
    assert main(["publish", "--device", "dev-1", "--bundle", str(big_bundle),
                 "--upload", azurite.container_url("models")]) == 0
    assert requests.get(_published_url(iothub), verify=str(azurite.both_ca)).content == payload


def test_the_config_files_storage_section_gives_the_container(iothub, azurite, big_bundle, tmp_path):
    config = tmp_path / "release.yaml"
    config.write_text(f"storage:\n  container_url: {azurite.container_url('releases')}\n  sas_days: 3\n")
    iothub.state.add_device("dev-1", modules=(MODULE,))
    assert main(["publish", "--device", "dev-1", "--bundle", str(big_bundle), "--config", str(config)]) == 0
    url = _published_url(iothub)
    assert "/releases/" in url
    expiry = datetime.fromisoformat(parse_qs(urlsplit(url).query)["se"][0].replace("Z", "+00:00"))
    assert expiry - datetime.now(timezone.utc) < timedelta(days=3.1)


def test_a_bad_storage_key_in_the_config_is_named(iothub, big_bundle, tmp_path, capsys):
    config = tmp_path / "release.yaml"
    config.write_text("storage:\n  container: https://x.blob.core.windows.net/m\n")
    assert main(["publish", "--device", "dev-1", "--bundle", str(big_bundle), "--config", str(config)]) == 2
    assert "storage.container is not a setting" in capsys.readouterr().err
    assert not iothub.requests_to("PATCH")


def test_a_placeholder_url_is_never_published(iothub, big_bundle, capsys):
    iothub.state.add_device("dev-1", modules=(MODULE,))
    before = json.dumps(iothub.state.modules[("dev-1", MODULE)])
    assert main(["publish", "--device", "dev-1", "--bundle", str(big_bundle)]) == 2
    assert "too large to travel inline" in capsys.readouterr().err
    section = json.loads((big_bundle / "desired.json").read_text())["model"]
    assert main(["publish", "--device", "dev-1", "--bundle", str(big_bundle), "--url", section["url"]]) == 2
    assert "placeholder" in capsys.readouterr().err
    assert not iothub.requests_to("PATCH") and json.dumps(iothub.state.modules[("dev-1", MODULE)]) == before


def test_an_unreachable_blob_service_fails_with_exit_3_and_publishes_nothing(iothub, big_bundle, monkeypatch, capsys):
    from deployment import blob_hosting

    monkeypatch.setattr(blob_hosting, "RETRIES", 0)  # the retries themselves are azure-core's, not under test
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", "AccountName=devstoreaccount1;AccountKey=a2V5")
    iothub.state.add_device("dev-1", modules=(MODULE,))
    assert main(["publish", "--device", "dev-1", "--bundle", str(big_bundle),
                 "--upload", "https://127.0.0.1:9/devstoreaccount1/models"]) == 3
    assert "Blob Storage" in capsys.readouterr().err and not iothub.requests_to("PATCH")


def test_an_upload_url_with_a_sas_token_is_refused(iothub, big_bundle, capsys):
    assert main(["publish", "--device", "dev-1", "--bundle", str(big_bundle),
                 "--upload", "https://acct.blob.core.windows.net/models?sv=x&sig=y"]) == 2
    assert "without a SAS token" in capsys.readouterr().err


def test_json_documents_for_bundle_publish_and_status(iothub, azurite, big_model, tmp_path, capsys):
    """What a release pipeline reads: one JSON document on stdout per command, prose and progress on stderr."""
    assert main(["bundle", str(big_model), "--version", "4", "--out", str(tmp_path / "b4"), "--json"]) == 0
    out, err = capsys.readouterr()
    bundled = json.loads(out)
    assert bundled["delivery"] == "url" and bundled["needs_upload"] and bundled["url"] is None
    assert bundled["payload_bytes"] == (tmp_path / "b4" / "payload.zst").stat().st_size and "bundle 4" in err
    iothub.state.add_device("dev-1", modules=(MODULE,))
    assert main(["publish", "--device", "dev-1", "--bundle", bundled["bundle"], "--json",
                 "--upload", azurite.container_url("models")]) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc["exit_code"] == 0 and doc["url"] == _published_url(iothub) and doc["hosting"]["uploaded"]
    assert doc["hosting"]["sha256"] == bundled["payload_sha256"] and "upload " in err and "published" in err
    assert main(["status", "--device", "dev-1", "--module", MODULE, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["devices"][0]["device"] == "dev-1" and status["counts"]["total"] == 1
    assert main(["publish", "--device", "dev-1", "--bundle", bundled["bundle"], "--json"]) == 2
    refused = json.loads(capsys.readouterr().out)
    assert refused["exit_code"] == 2 and "too large" in refused["error"]
