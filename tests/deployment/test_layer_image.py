"""Model layers on top of the REAL amd64 runtime image at Debian's docker-registry: the bytes a device pulls.

The runtime image (tools/build-images.sh) is pushed with skopeo; a 6 KB and a 5 MB model are layered on it
with `deployment layer`; a device that already holds the runtime pulls them with skopeo, and the registry's
log says how many bytes it served. The figures are written to the test's output (docs/iot-edge.md: "bytes a device pulls").
"""

from __future__ import annotations

import json

import pytest

from tests.deployment.test_layer import pushed
from tests.helpers.model_bundle import train, write_bundle
from tests.helpers.registry import Registry, blob_uploads, served_get_bytes, skopeo
from tests.images.image_support import require_image

pytestmark = pytest.mark.images
STORAGE = "containers-storage:[vfs@/var/lib/containers/storage+/run/containers/storage]"
MODELS = {"6 KB": dict(n_estimators=4, max_samples=16), "5 MB": dict(n_estimators=220, max_samples=1024)}


def test_model_updates_on_the_real_runtime_image_pull_only_the_model_layer(tmp_path, capsys):
    image = require_image("amd64")
    with Registry(tmp_path) as registry:
        base = f"{registry.address}/edgemodelagent:runtime-amd64"
        skopeo("copy", "--dest-tls-verify=false", f"{STORAGE}{image}", f"docker://{base}", timeout=900)
        device = tmp_path / "device"
        skopeo("copy", "--src-tls-verify=false", f"docker://{base}", f"oci:{device}:runtime", timeout=900)
        figures = []
        for i, (label, params) in enumerate(MODELS.items()):
            bundle = write_bundle(tmp_path / f"bundle{i}", f"9.{i}.0", train(**params))
            tag = f"{registry.address}/edgemodelagent-model:9.{i}.0-amd64"
            mark = registry.log_mark()
            result = pushed(bundle, base, tag)
            assert len(blob_uploads(registry.requests_since(mark))) == 2  # the model layer and the config
            mark = registry.log_mark()
            skopeo("copy", "--src-tls-verify=false", f"docker://{tag}", f"oci:{device}:model{i}", timeout=300)
            served = served_get_bytes(registry.requests_since(mark))
            assert served == result["layer_bytes"] + result["config_bytes"] + result["manifest_bytes"]
            assert served == result["device_pull_bytes"]
            # The runtime's build history stays out of the model's config: the layer + at most 4 KB.
            assert served - result["layer_bytes"] <= 4096, (result["config_bytes"], result["manifest_bytes"])
            model_size = (bundle / "model.pkl").stat().st_size
            figures.append((label, model_size, result["layer_bytes"], result["config_bytes"], result["manifest_bytes"], served))
        manifest = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{base}").stdout)
    runtime_total = sum(layer["size"] for layer in manifest["layers"]) + manifest["config"]["size"]
    with capsys.disabled():
        print(f"\nruntime image {image}: {len(manifest['layers'])} layers, {runtime_total} B compressed at the registry")
        for label, size, layer, config, manifest_bytes, served in figures:
            print(f"  {label} model ({size} B pickle): layer {layer} B + config {config} B + manifest {manifest_bytes} B"
                  f" = {served} B pulled by a device holding the runtime")
