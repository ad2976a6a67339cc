"""A model image's layer unpacked with umoci gives /app/model, which the agent adopts at start (baked model)."""

from __future__ import annotations

import json
import subprocess

import requests

from tests.deployment.test_layer import layer_cmd
from tests.helpers.local_agent import ADMIN_HEADERS, subprocess_agent
from tests.helpers.model_bundle import fixed_rows, messages, train, write_bundle
from tests.helpers.registry import Registry, push_stand_in_base


def unpacked_model_dir(tmp_path, registry, bundle, version):
    layout = tmp_path / "layout"
    out = layer_cmd(bundle, registry.base, f"{registry.address}/edgemodelagent-model:{version}",
                    "--oci-layout", str(layout))
    assert out.returncode == 0, out.stderr
    rootfs_bundle = tmp_path / "unpacked"
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:{version}", str(rootfs_bundle)],
                   check=True, capture_output=True, timeout=120)
    return rootfs_bundle / "rootfs" / "app" / "model"


def test_the_unpacked_layer_holds_exactly_the_bundles_manifest_and_model(tmp_path):
    bundle = write_bundle(tmp_path / "bundle", "3.1.0", train(n_estimators=5, max_samples=32))
    with Registry(tmp_path) as registry:
        registry.base = push_stand_in_base(registry.address)
        model_dir = unpacked_model_dir(tmp_path, registry, bundle, "3.1.0")
    assert sorted(p.name for p in model_dir.iterdir()) == ["manifest.json", "model.pkl"]
    for name in ("manifest.json", "model.pkl"):
        assert (model_dir / name).read_bytes() == (bundle / name).read_bytes()
    assert (model_dir.parent / "module" / "__init__.py").exists()  # the base's layers are there underneath


def test_the_agent_adopts_the_baked_model_at_start(tmp_path):
    bundle = write_bundle(tmp_path / "bundle", "3.1.0", train(n_estimators=5, max_samples=32))
    with Registry(tmp_path) as registry:
        registry.base = push_stand_in_base(registry.address)
        model_dir = unpacked_model_dir(tmp_path, registry, bundle, "3.1.0")
    with subprocess_agent(tmp_path, "--local", env={"AGENT_UPDATES_BAKED_MODEL_DIR": str(model_dir)}) as agent:
        agent.wait_ready()
        described = requests.get(agent.url + "/model", headers=ADMIN_HEADERS, timeout=10).json()
        scored = requests.post(agent.url + "/score", json=messages(fixed_rows(3)), timeout=30)
    assert described["version"] == "3.1.0" and described["source"] == "baked"
    assert scored.status_code == 200, scored.text
    assert {r["model_version"] for r in scored.json()} == {"3.1.0"}
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert described["sha256"] == manifest["sha256"]
