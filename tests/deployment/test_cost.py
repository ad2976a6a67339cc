"""cost: figures from the artefacts against a hand-computed table, both price readings, the chart."""

from __future__ import annotations

import hashlib
import json

import pytest

from deployment.__main__ import main
from deployment.errors import EXIT_USAGE
from tests.deployment.conftest import published, write_bundle

LAYER_NUMBERS = {"layer_bytes": 6375, "config_bytes": 551, "manifest_bytes": 749}  # `layer --json` output


def _cost(capsys, *args):
    assert main(["cost", "--json", *args]) == 0
    return {row["path"]: row for row in json.loads(capsys.readouterr().out)["paths"]}


def test_the_seed_arithmetic_at_both_readings_of_the_price(capsys):
    rows = _cost(capsys, "--devices", "100000", "--price-per-gb", "720")
    full = rows["full image layer (seed reference)"]
    assert full["bytes_per_update"] == 60_000_000
    assert full["fleet_gb_per_month"] == pytest.approx(6000.0)  # 60 MB x 100,000 = 6,000 GB
    assert full["usd_per_month"] == {"720": pytest.approx(4_320_000.0), "25": pytest.approx(150_000.0)}
    assert main(["cost", "--devices", "1000", "--price-per-gb", "25"]) == 0
    text = capsys.readouterr().out
    assert "price used: $25.00/GB" in text and "GB = 10^9 bytes" in text
    assert "60 MB x 1,000 devices = 60 GB -> $1,500 at $25.00/GB, $43,200 at $720.00/GB" in text
    assert "$1,500 for one 60 GB update of 1,000 devices = $25.00/GB" in text
    assert "6,000 GB a month -> $150,000 at $25.00/GB, $4,320,000 at $720.00/GB" in text


def test_measured_paths_against_a_hand_computed_table(tmp_path, capsys):
    bundle = write_bundle(tmp_path / "b", "2", b"model bytes v2 " * 400)
    (tmp_path / "layer.json").write_text(json.dumps(LAYER_NUMBERS))
    url = "https://acct.blob.core.windows.net/models/model-2.zst?sig=x"
    rows = _cost(capsys, "--bundle", str(bundle), "--layer", str(tmp_path / "layer.json"), "--url", url,
                 "--devices", "100000", "--price-per-gb", "720", "--updates-per-month", "2")
    section = published(bundle)
    inline = len(json.dumps({"model": section}, separators=(",", ":")).encode())
    as_url = {k: v for k, v in section.items() if k != "inline"} | {"url": url}
    url_bytes = len(json.dumps({"model": as_url}, separators=(",", ":")).encode()) + \
        (bundle / "payload.zst").stat().st_size
    expected = {  # path: (bytes per update, GB a month = bytes x 100,000 x 2 / 10^9)
        "twin inline (desired patch)": (inline, inline * 2e5 / 1e9),
        "URL (twin patch + payload.zst)": (url_bytes, url_bytes * 2e5 / 1e9),
        "tiny image layer (layer+config+manifest)": (7675, 1.535),
        "full image layer (seed reference)": (60_000_000, 12_000.0),
    }
    assert list(rows) == list(expected)
    for name, (size, gb) in expected.items():
        assert rows[name]["bytes_per_update"] == size
        assert rows[name]["fleet_gb_per_month"] == pytest.approx(gb)
        assert rows[name]["usd_per_month"]["720"] == pytest.approx(gb * 720)
        assert rows[name]["usd_per_month"]["25"] == pytest.approx(gb * 25)
    assert rows["tiny image layer (layer+config+manifest)"]["usd_per_month"]["720"] == pytest.approx(1105.20)


def _blob(root, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (root / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def test_the_tiny_layer_is_read_from_an_oci_layout(tmp_path, capsys):
    layout = tmp_path / "oci"
    config = _blob(layout, b'{"architecture":"amd64","os":"linux","rootfs":{}}')
    base, model = _blob(layout, b"b" * 5000), _blob(layout, b"m" * 640)
    manifest = json.dumps({"schemaVersion": 2, "config": config, "layers": [base, model]}).encode()
    entry = _blob(layout, manifest) | {"annotations": {"org.opencontainers.image.ref.name": "2"}}
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    rows = _cost(capsys, "--layer", f"{layout}:2", "--devices", "10")
    row = rows["tiny image layer (layer+config+manifest)"]
    assert row["bytes_per_update"] == 640 + config["size"] + len(manifest)  # not the 5,000 B base layer
    assert str(layout) in row["source"]


def test_a_bundle_over_the_twin_budget_has_no_inline_path(tmp_path, capsys):
    bundle = write_bundle(tmp_path / "b", "3", b"x", inline=False)
    rows = _cost(capsys, "--bundle", str(bundle))
    assert rows["twin inline (desired patch)"]["bytes_per_update"] is None
    assert rows["URL (twin patch + payload.zst)"]["bytes_per_update"] > 0


def test_the_chart_is_a_png(tmp_path, capsys):
    (tmp_path / "layer.json").write_text(json.dumps(LAYER_NUMBERS))
    out = tmp_path / "charts" / "cost.png"
    assert main(["cost", "--layer", str(tmp_path / "layer.json"), "--chart", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


@pytest.mark.parametrize("args, words", [
    (["--layer", "/nonexistent/dir"], "not an OCI layout nor a numbers file"),
    (["--devices", "0"], "--devices must be positive"),
    (["--bundle", "/nonexistent"], "not a directory"),
])
def test_bad_cost_inputs(capsys, args, words):
    assert main(["cost", *args]) == EXIT_USAGE
    assert words in capsys.readouterr().err


def _base_layout(root) -> str:
    """A one-layer runtime base image as an OCI layout, named `runtime` (no registry, no daemon)."""
    import gzip
    import io
    import tarfile

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("app/runtime.txt")
        data = b"runtime " * 4096
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    layer = _blob(root, gzip.compress(raw.getvalue(), mtime=0))
    diff_id = "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
    config = _blob(root, json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                                     "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                                     "history": [{"created_by": "base"}]}).encode())
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": config | {"mediaType": "application/vnd.oci.image.config.v1+json"},
                           "layers": [layer | {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip"}]})
    entry = _blob(root, manifest.encode()) | {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                              "annotations": {"org.opencontainers.image.ref.name": "runtime"}}
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    return f"oci:{root}:runtime"


def test_cost_reads_what_the_layer_command_wrote(tmp_path, capsys):
    bundle = write_bundle(tmp_path / "b", "2", b"model bytes v2 " * 400)
    base = _base_layout(tmp_path / "base")
    out = tmp_path / "model-layout"
    assert main(["layer", str(bundle), "--base", base, "--tag", "localhost:5000/model:2",
                 "--oci-layout", str(out), "--json"]) == 0
    built = json.loads(capsys.readouterr().out)
    rows = _cost(capsys, "--layer", str(out))
    assert rows["tiny image layer (layer+config+manifest)"]["bytes_per_update"] == built["device_pull_bytes"]
    (tmp_path / "layer.json").write_text(json.dumps(built))  # the numbers file is that same output
    rows = _cost(capsys, "--layer", str(tmp_path / "layer.json"))
    assert rows["tiny image layer (layer+config+manifest)"]["bytes_per_update"] == built["device_pull_bytes"]
