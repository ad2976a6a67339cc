"""`deployment layer` failures: 401 (basic and token), 404, 500, and bad models refused before any request."""

from __future__ import annotations

import json
import os

import pytest

from tests.deployment.test_layer import layer_cmd
from tests.helpers.model_bundle import train, write_bundle
from tests.helpers.registry import Registry, blob_uploads, push_stand_in_base
from tests.helpers.registry_proxy import RegistryProxy


@pytest.fixture
def bundle(tmp_path):
    return write_bundle(tmp_path / "bundle", "2.0.0", train(n_estimators=3, max_samples=16))


@pytest.fixture
def registry(tmp_path):
    with Registry(tmp_path) as reg:
        reg.base = push_stand_in_base(reg.address)
        yield reg


def test_basic_auth_without_credentials_is_a_clear_401(tmp_path, bundle):
    with Registry(tmp_path, htpasswd=("ci", "pa55")) as reg:
        out = layer_cmd(bundle, f"{reg.address}/runtime:1", f"{reg.address}/model:2.0.0")
    assert out.returncode == 1
    assert "requires credentials (401)" in out.stderr and "--username" in out.stderr


def test_basic_auth_with_wrong_then_right_credentials(tmp_path, bundle):
    with Registry(tmp_path, htpasswd=("ci", "pa55")) as reg:
        base = push_stand_in_base(reg.address, username="ci", password="pa55")
        wrong = layer_cmd(bundle, base, f"{reg.address}/model:2.0.0", "--username", "ci", "--password", "nope")
        right = layer_cmd(bundle, base, f"{reg.address}/model:2.0.0", "--username", "ci", "--password", "pa55")
        assert reg.tags("model") == []  # anonymous: the registry hides the tags
    assert wrong.returncode == 1 and "rejected the credentials (401)" in wrong.stderr
    assert right.returncode == 0, right.stderr
    assert json.loads(right.stdout)["uploaded_blobs"] == 2


def test_credentials_from_the_environment(tmp_path, bundle, monkeypatch):
    with Registry(tmp_path, htpasswd=("ci", "pa55")) as reg:
        base = push_stand_in_base(reg.address, username="ci", password="pa55")
        monkeypatch.setenv("REGISTRY_USERNAME", "ci")
        monkeypatch.setenv("REGISTRY_PASSWORD", "pa55")
        out = layer_cmd(bundle, base, f"{reg.address}/model:2.0.0")
    assert out.returncode == 0, out.stderr


def test_bearer_token_flow_as_acr_uses_it(registry, bundle):
    with RegistryProxy(upstream=registry.address, credentials=("robot", "s3cret")) as proxy:
        base = f"{proxy.address}/runtime:1"
        anonymous = layer_cmd(bundle, base, f"{proxy.address}/model:2.0.0")
        mark = registry.log_mark()
        out = layer_cmd(bundle, base, f"{proxy.address}/model:2.0.0", "--username", "robot", "--password", "s3cret")
    assert anonymous.returncode == 1 and "token service" in anonymous.stderr and "refused" in anonymous.stderr
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    uploads = blob_uploads(registry.requests_since(mark))
    assert len(uploads) == 2 and result["layer"] in uploads  # the model layer and the config, nothing else
    assert result["mounted_blobs"] == 2
    # The token was asked for the pushed repository and, for the mount, for pull on the base's.
    scopes = {s for request in proxy.token_requests for s in request.get("scope", [])}
    assert {"repository:model:pull,push", "repository:runtime:pull"} <= scopes


def test_a_missing_base_is_a_clear_404(registry, bundle):
    mark = registry.log_mark()
    out = layer_cmd(bundle, f"{registry.address}/runtime:does-not-exist", f"{registry.address}/model:2.0.0")
    assert out.returncode == 1
    assert "404" in out.stderr and "MANIFEST_UNKNOWN" in out.stderr and "runtime:does-not-exist" in out.stderr
    assert blob_uploads(registry.requests_since(mark)) == []


@pytest.mark.parametrize("status", [500, 503])
def test_a_failing_registry_is_a_clear_error(bundle, status):
    with RegistryProxy(mode="fail", status=status) as broken:
        out = layer_cmd(bundle, f"{broken.address}/runtime:1", f"{broken.address}/model:2.0.0")
    assert out.returncode == 1
    assert f"error: fetching the manifest of runtime:1: {status}" in out.stderr
    assert "storage backend down" in out.stderr


def test_an_unreachable_registry_is_a_clear_error(bundle):
    out = layer_cmd(bundle, "127.0.0.1:9/runtime:1", "127.0.0.1:9/model:2.0.0")
    assert out.returncode == 1 and "cannot reach registry 127.0.0.1:9" in out.stderr


def test_an_oversized_model_is_refused_before_any_request(registry, bundle):
    mark = registry.log_mark()
    out = layer_cmd(bundle, registry.base, f"{registry.address}/model:2.0.0", "--max-model-bytes", "100")
    assert out.returncode == 1 and "over the limit of 100 bytes" in out.stderr
    assert registry.requests_since(mark) == []


@pytest.mark.parametrize("damage", ["missing", "directory", "tampered", "manifest"])
def test_an_unreadable_or_inconsistent_model_is_refused_before_any_request(registry, bundle, damage):
    model = bundle / "model.pkl"
    if damage == "missing":
        model.unlink()
    elif damage == "directory":  # root reads any file, so unreadable means not a file at all
        model.unlink()
        model.mkdir()
    elif damage == "tampered":
        model.write_bytes(model.read_bytes()[:-1] + b"!")
    else:
        (bundle / "manifest.json").write_text("{not json")
    mark = registry.log_mark()
    out = layer_cmd(bundle, registry.base, f"{registry.address}/model:2.0.0")
    assert out.returncode == 1
    expected = {"missing": "cannot read", "directory": "cannot read", "tampered": "differs from the manifest",
                "manifest": "not valid JSON"}[damage]
    assert expected in out.stderr, out.stderr
    assert registry.requests_since(mark) == []
    assert os.path.exists(bundle / "manifest.json")


@pytest.mark.parametrize("tag", ["model:2.0.0", "127.0.0.1:5000/model", "127.0.0.1:5000/Model:1"])
def test_a_bad_tag_is_a_usage_error(bundle, tag):
    out = layer_cmd(bundle, "127.0.0.1:5000/runtime:1", tag)
    assert out.returncode == 1 and "error:" in out.stderr
