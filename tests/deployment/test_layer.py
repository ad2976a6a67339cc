"""`python -m deployment layer` against Debian's docker-registry: push, re-push, a new model, a real pull counted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from deployment.layers.tar import deterministic_tar, model_layer
from tests.helpers.model_bundle import train, write_bundle
from tests.helpers.registry import Registry, blob_uploads, push_stand_in_base, served_get_bytes, skopeo

ROOT = Path(__file__).resolve().parents[2]


def layer_cmd(bundle: Path, base: str, tag: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "deployment", "layer", str(bundle), "--base", base, "--tag", tag,
                           "--insecure", "--json", *extra], capture_output=True, text=True, cwd=ROOT, timeout=300)


def pushed(bundle: Path, base: str, tag: str) -> dict:
    out = layer_cmd(bundle, base, tag)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture
def registry(tmp_path):
    with Registry(tmp_path) as reg:
        reg.base = push_stand_in_base(reg.address)
        yield reg


@pytest.fixture
def small_bundle(tmp_path):
    return write_bundle(tmp_path / "small", "1.0.0", train(n_estimators=3, max_samples=16))


def test_push_then_same_model_again_same_digest_nothing_uploaded_twice(registry, small_bundle):
    tag = f"{registry.address}/edgemodelagent-model:1.0.0"
    mark = registry.log_mark()
    first = pushed(small_bundle, registry.base, tag)
    uploads = blob_uploads(registry.requests_since(mark))
    assert sorted(uploads) == sorted([first["layer"], json.loads(skopeo(
        "inspect", "--raw", "--tls-verify=false", f"docker://{tag}").stdout)["config"]["digest"]])
    assert first["mounted_blobs"] == 2  # the base's two layers: mounted across repositories, not re-sent
    mark = registry.log_mark()
    again = pushed(small_bundle, registry.base, tag)
    assert again["digest"] == first["digest"]
    assert blob_uploads(registry.requests_since(mark)) == []
    assert again["uploaded_blobs"] == 0 and again["present_blobs"] == 4


def test_a_different_model_uploads_only_its_layer_and_config(registry, small_bundle, tmp_path):
    pushed(small_bundle, registry.base, f"{registry.address}/edgemodelagent-model:1.0.0")
    other = write_bundle(tmp_path / "other", "1.0.1", train(n_estimators=4, max_samples=16, seed=7))
    mark = registry.log_mark()
    result = pushed(other, registry.base, f"{registry.address}/edgemodelagent-model:1.0.1")
    logged = registry.requests_since(mark)
    manifest = json.loads(skopeo("inspect", "--raw", "--tls-verify=false",
                                 f"docker://{registry.address}/edgemodelagent-model:1.0.1").stdout)
    assert sorted(blob_uploads(logged)) == sorted([manifest["layers"][-1]["digest"], manifest["config"]["digest"]])
    assert [r.path for r in logged if r.method == "PUT" and "/manifests/" in r.path] == [
        "/v2/edgemodelagent-model/manifests/1.0.1"]
    assert result["uploaded_bytes"] == result["layer_bytes"] + result["config_bytes"]


def test_a_device_holding_the_base_pulls_layer_config_and_manifest_only(registry, small_bundle, tmp_path):
    tag = f"{registry.address}/edgemodelagent-model:1.0.0"
    result = pushed(small_bundle, registry.base, tag)
    device = tmp_path / "device-store"
    skopeo("copy", "--src-tls-verify=false", f"docker://{registry.base}", f"oci:{device}:runtime")
    mark = registry.log_mark()
    skopeo("copy", "--src-tls-verify=false", f"docker://{tag}", f"oci:{device}:model")
    served = served_get_bytes(registry.requests_since(mark))
    assert served == result["layer_bytes"] + result["config_bytes"] + result["manifest_bytes"]
    assert served == result["device_pull_bytes"] < 16_000


def test_skopeo_inspect_shows_the_base_layers_plus_the_model_layer_without_the_base_history(registry, small_bundle):
    tag = f"{registry.address}/edgemodelagent-model:1.0.0"
    result = pushed(small_bundle, registry.base, tag)
    base = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{registry.base}").stdout)
    model = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{tag}").stdout)
    assert model["Layers"] == [*base["Layers"], result["layer"]]
    assert model["Digest"] == result["digest"]
    config = json.loads(skopeo("inspect", "--config", "--tls-verify=false", f"docker://{tag}").stdout)
    base_config = json.loads(skopeo("inspect", "--config", "--tls-verify=false", f"docker://{registry.base}").stdout)
    assert "history" in base_config and "history" not in config  # a device pulls no build history
    assert config["config"] == base_config["config"]  # the runtime's settings (Cmd, User, ...) carried over
    diff_ids = config["rootfs"]["diff_ids"]
    assert diff_ids[:-1] == base_config["rootfs"]["diff_ids"] and len(diff_ids) == len(model["Layers"])
    assert (config["architecture"], config["os"]) == (base_config["architecture"], base_config["os"])


def test_same_model_gives_the_same_digest_offline_and_at_the_registry(registry, small_bundle, tmp_path):
    tag = f"{registry.address}/edgemodelagent-model:1.0.0"
    digests = []
    for name in ("a", "b"):
        out = layer_cmd(small_bundle, registry.base, tag, "--oci-layout", str(tmp_path / name))
        assert out.returncode == 0, out.stderr
        digests.append(json.loads(out.stdout)["digest"])
    assert digests[0] == digests[1] == pushed(small_bundle, registry.base, tag)["digest"]
    assert (tmp_path / "a" / "index.json").read_bytes() == (tmp_path / "b" / "index.json").read_bytes()


def test_the_layer_tar_is_deterministic_and_owned_by_root_with_mtime_zero():
    import io
    import tarfile

    layer = model_layer(b'{"version": "1"}', "model.pkl", b"\x80\x05N.")
    assert layer == model_layer(b'{"version": "1"}', "model.pkl", b"\x80\x05N.")
    with tarfile.open(fileobj=io.BytesIO(deterministic_tar({"app/model/model.pkl": b"x", "app/model/manifest.json": b"{}"}))) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["app", "app/model", "app/model/manifest.json", "app/model/model.pkl"]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, 0, "", "")}
    assert layer.blob[4:8] == b"\0\0\0\0"  # gzip header MTIME field


def test_offline_from_a_base_in_an_oci_layout_gives_the_registrys_digest(registry, small_bundle, tmp_path):
    layout = tmp_path / "offline"
    skopeo("copy", "--src-tls-verify=false", f"docker://{registry.base}", f"oci:{layout}:runtime")
    tag = f"{registry.address}/edgemodelagent-model:1.0.0"
    out = layer_cmd(small_bundle, f"oci:{layout}:runtime", tag, "--oci-layout", str(layout))
    assert out.returncode == 0, out.stderr
    offline = json.loads(out.stdout)
    assert offline["digest"] == pushed(small_bundle, registry.base, tag)["digest"]
    assert offline["written_bytes"] == offline["layer_bytes"] + offline["config_bytes"]  # base blobs already there
    inspected = json.loads(skopeo("inspect", f"oci:{layout}:1.0.0").stdout)
    assert inspected["Layers"][-1] == offline["layer"]
