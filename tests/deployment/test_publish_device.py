"""publish --device through the real azure-iot-hub SDK against the HTTPS IoT Hub stand-in."""

from __future__ import annotations

import pytest

from deployment.__main__ import main
from deployment.errors import EXIT_HUB, EXIT_USAGE
from tests.deployment.conftest import MODULE, active_simulator, published, write_bundle


def _publish(bundle, *extra):
    return main(["publish", "--device", "truck-1", "--module", MODULE, "--bundle", str(bundle), *extra])


@pytest.fixture
def hub(iothub):
    iothub.state.add_device("truck-1", {"fleet": "trucks"}, (MODULE,))
    return iothub


def test_inline_model_patches_the_module_twin_with_the_etag(hub, bundle, capsys):
    assert _publish(bundle) == 0
    get, patch = hub.requests_to("GET", "/twins/truck-1/modules/"), hub.requests_to("PATCH")
    assert len(get) == 1 and len(patch) == 1
    assert patch[0].path == f"/twins/truck-1/modules/{MODULE}"
    assert patch[0].query["api-version"] == "2021-04-12"
    assert patch[0].headers["if-match"] == '"AAAAAAAAAAE="'  # the etag the GET returned, quoted
    section = published(bundle)
    assert patch[0].json() == {"properties": {"desired": {"model": section}}}
    desired = hub.state.modules[("truck-1", MODULE)]["properties"]["desired"]
    assert desired["model"] == section and desired["$version"] == 2
    out = capsys.readouterr().out
    assert "published model 2 to truck-1/edgemodelagent (inline, 1 chunks)" in out


def test_url_replaces_an_earlier_inline_model_and_prints_upload_hints(hub, bundle, tmp_path, capsys):
    assert _publish(bundle) == 0
    big = write_bundle(tmp_path / "bundle-3", "3", bytes(range(256)) * 400, inline=False)
    url = "https://example.blob.core.windows.net/models/model-3.zst?sv=2024&sig=abc"
    assert _publish(big, "--url", url) == 0
    body = hub.requests_to("PATCH")[-1].json()["properties"]["desired"]["model"]
    assert body["url"] == url and body["inline"] is None  # null deletes the old chunks on the hub
    model = hub.state.modules[("truck-1", MODULE)]["properties"]["desired"]["model"]
    assert model["url"] == url and "inline" not in model and model["version"] == "3"
    err = capsys.readouterr().err
    assert f"--file {big / 'payload.zst'}" in err and "az storage blob upload" in err
    assert "az storage blob generate-sas" in err and "--permissions r" in err


def test_a_bundle_too_large_for_the_twin_needs_a_url(hub, tmp_path, capsys):
    big = write_bundle(tmp_path / "b", "3", b"x" * 100, inline=False)
    assert _publish(big) == EXIT_USAGE
    assert "too large to travel inline" in capsys.readouterr().err
    assert hub.requests == []


def test_scoring_and_upstream_sections_travel_with_the_model(hub, bundle, tmp_path):
    (tmp_path / "scoring.yaml").write_text("threshold: 0.5\nfeatures: {'0': machine.temperature}\n")
    (tmp_path / "upstream.json").write_text('{"upstream": {"mode": "anomalies", "summary_every_s": 300}}')
    assert _publish(bundle, "--scoring", str(tmp_path / "scoring.yaml"),
                    "--upstream", str(tmp_path / "upstream.json")) == 0
    desired = hub.requests_to("PATCH")[0].json()["properties"]["desired"]
    assert desired["scoring"] == {"threshold": 0.5, "features": {"0": "machine.temperature"}}
    assert desired["upstream"] == {"mode": "anomalies", "summary_every_s": 300}


def test_a_patch_over_the_32kb_desired_limit_is_not_sent(hub, bundle, capsys):
    twin = hub.state.modules[("truck-1", MODULE)]
    twin["properties"]["desired"]["other"] = {str(i): "y" * 4060 for i in range(8)}  # 32,520 B used
    assert _publish(bundle) == EXIT_USAGE
    assert "over IoT Hub's 32,768-byte (32 KB) limit" in capsys.readouterr().err
    assert hub.requests_to("PATCH") == []


def test_a_list_in_a_section_file_is_refused_before_sending(hub, bundle, tmp_path, capsys):
    (tmp_path / "scoring.json").write_text('{"features": ["machine.temperature"]}')
    assert _publish(bundle, "--scoring", str(tmp_path / "scoring.json")) == EXIT_USAGE
    assert "twins allow no arrays" in capsys.readouterr().err
    assert hub.requests_to("PATCH") == []


@pytest.mark.parametrize("status, method, words", [
    (401, "GET", "refused the credentials (401 Unauthorized)"),
    (404, "GET", "module twin truck-1/edgemodelagent was not found (404)"),
    (412, "PATCH", "changed since it was read (412 Precondition Failed"),
    (503, "PATCH", "unavailable (503"),
])
def test_hub_errors_give_a_clear_message_and_exit_3(hub, bundle, capsys, status, method, words):
    hub.fail(status, method)
    assert _publish(bundle) == EXIT_HUB
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err and "Traceback" not in err
    assert "model" not in hub.state.modules[("truck-1", MODULE)]["properties"]["desired"]


def test_a_throttled_patch_is_sent_again_after_the_retry_after_the_hub_asked_for(hub, bundle, capsys):
    hub.fail(429, "PATCH", times=2, retry_after="1")
    assert _publish(bundle) == 0
    patches = hub.requests_to("PATCH")
    assert [p.status for p in patches] == [429, 429, 200]
    assert all(later.at - earlier.at >= 1.0 for earlier, later in zip(patches, patches[1:]))  # Retry-After: 1
    assert hub.state.modules[("truck-1", MODULE)]["properties"]["desired"]["model"]["version"] == "2"
    assert "hub throttling (429) on module twin truck-1/edgemodelagent: waiting 1.0 s (Retry-After: 1)" in \
        capsys.readouterr().err


def test_throttling_past_the_wait_budget_is_exit_3_and_changes_nothing(hub, bundle, capsys):
    hub.fail(429, "PATCH", times=5, retry_after="2")
    assert _publish(bundle, "--throttle-wait", "3") == EXIT_HUB  # 2 s once, a second 2 s would pass 3 s
    err = capsys.readouterr().err
    assert "kept throttling requests (429 Too Many Requests) past the retry budget" in err
    assert [p.status for p in hub.requests_to("PATCH")] == [429, 429]
    assert "model" not in hub.state.modules[("truck-1", MODULE)]["properties"]["desired"]


def test_a_wrong_key_is_refused_by_the_hub_as_401(hub, bundle, capsys, monkeypatch):
    wrong = f"HostName={hub.hostname};SharedAccessKeyName=iothubowner;SharedAccessKey=" + "QUFB" * 11
    assert _publish(bundle, "--hub-connection-string", wrong) == EXIT_HUB
    assert "SharedAccessKey" in capsys.readouterr().err
    assert len(hub.requests) == 1  # credentials are never retried


def test_an_unknown_device_is_a_404(hub, bundle, capsys):
    assert main(["publish", "--device", "nope", "--bundle", str(bundle)]) == EXIT_HUB
    assert "module twin nope/edgemodelagent was not found (404)" in capsys.readouterr().err


@pytest.mark.parametrize("text, words", [
    ("HostName=h;DeviceId=d;SharedAccessKey=QUJD", "device or module connection string"),
    ("HostName=h;SharedAccessKeyName=owner", "lacks SharedAccessKey"),
    ("HostName=h;SharedAccessKeyName=o;SharedAccessKey=not base64!", "not base64"),
])
def test_bad_connection_strings_are_named_before_any_request(hub, bundle, capsys, text, words):
    assert _publish(bundle, "--hub-connection-string", text) == EXIT_USAGE
    assert words in capsys.readouterr().err
    assert hub.requests == []


def test_a_missing_bundle_is_a_usage_error(hub, tmp_path, capsys):
    assert _publish(tmp_path / "nothing") == EXIT_USAGE
    assert "not a directory" in capsys.readouterr().err


def test_publish_wait_shows_the_device_taking_the_model(hub, bundle, capsys):
    hub.state.on_desired = active_simulator()
    assert _publish(bundle, "--wait", "--poll", "0.05") == 0
    out = capsys.readouterr().out
    assert "truck-1" in out and "1/1 active, 0 failed, 0 pending" in out


def test_publish_wait_exits_1_when_the_device_refuses_the_model(hub, bundle, capsys):
    hub.state.on_desired = active_simulator(fail={"truck-1"})
    assert _publish(bundle, "--wait", "--poll", "0.05") == 1
    assert "canary outside tolerance" in capsys.readouterr().out
