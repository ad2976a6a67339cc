"""Bytes a device downloads per model update on each delivery path, measured from the artefacts (bundle,
OCI layout or the `layer --json` numbers), and what a fleet pays for them a month. GB = 10^9 bytes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError
from .sections import load_bundle, without_nulls
from .twin_limits import json_bytes

GB = 10**9
#: The seed's reference: the image layer a retrain changes when the model lives in the image, 60 MB
#: (60 * 10^6 bytes), as measured on a real device.
FULL_IMAGE_BYTES = 60 * 10**6
#: The article's figures: a $720 data plan for 1 GB shared by 500 SIM cards; one 60 GB update of 1,000
#: devices costing $1,500; $150,000 a month for 100,000 vehicles. $1,500 / 60 GB = $25/GB, not $720/GB.
PLAN_PRICE, PLAN_GB, PLAN_SIMS = 720.0, 1, 500
UPDATE_COST, UPDATE_GB, UPDATE_DEVICES = 1500.0, 60, 1000
FLEET_COST, FLEET_DEVICES = 150000.0, 100000
IMPLIED_PRICE_PER_GB = UPDATE_COST / UPDATE_GB  # 25.0
EXAMPLE_URL = "https://<account>.blob.core.windows.net/models/model-{version}.zst?" + "s" * 140  # SAS ~140 chars


@dataclass(frozen=True)
class DeliveryPath:
    name: str
    bytes_per_update: int | None  # None: this path cannot carry the model (e.g. over the twin budget)
    source: str  # where the figure comes from


def monthly_gb(bytes_per_update: int, devices: int, updates_per_month: float) -> float:
    return bytes_per_update * devices * updates_per_month / GB


def twin_paths(bundle_dir: str | Path, url: str | None = None) -> list[DeliveryPath]:
    """The twin patch as a device receives it (compact JSON of the desired `model` section), and for the
    URL path that patch (pointing at a URL) plus payload.zst itself. Protocol framing is not counted."""
    bundle = load_bundle(bundle_dir)
    section = without_nulls(bundle.section)  # the bundler's null padding is not what a device stores
    inline = None
    if section.get("inline"):
        with_url = {k: v for k, v in section.items() if k != "inline"}
        inline = json_bytes({"model": {k: v for k, v in section.items() if k != "url"}})
    else:
        with_url = dict(section)
    with_url["url"] = url or EXAMPLE_URL.format(version=bundle.version)
    payload = bundle.payload.stat().st_size if bundle.payload.exists() else None
    if payload is None:
        raise UsageError(f"--bundle {bundle.directory}: no payload.zst to measure")
    patch = json_bytes({"model": with_url})
    return [
        DeliveryPath("twin inline (desired patch)", inline,
                     f"{bundle.directory}/desired.json" if inline else "over the twin budget: not inline"),
        DeliveryPath("URL (twin patch + payload.zst)", patch + payload,
                     f"{patch:,} B patch + {payload:,} B {bundle.payload}"),
    ]


def layer_numbers(spec: str) -> tuple[int, str]:
    """Layer + config + manifest bytes from an OCI layout (DIR or DIR:REF) or from `layer --json` output."""
    path, _, ref = spec.partition(":") if not Path(spec).exists() else (spec, "", "")
    root = Path(path)
    if root.is_file():
        try:
            numbers = json.loads(root.read_text())
            parts = [int(numbers[k]) for k in ("layer_bytes", "config_bytes", "manifest_bytes")]
        except (ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"--layer {spec}: expected `layer --json` output with layer_bytes, config_bytes, "
                             f"manifest_bytes ({exc})") from None
        return sum(parts), f"{parts[0]:,} + {parts[1]:,} + {parts[2]:,} B from {root}"
    return _from_layout(root, ref, spec)


def _from_layout(root: Path, ref: str, spec: str) -> tuple[int, str]:
    def blob(digest: str) -> bytes:
        try:
            return (root / "blobs" / digest.replace(":", "/", 1)).read_bytes()
        except OSError as exc:
            raise UsageError(f"--layer {spec}: cannot read blob {digest} ({exc.strerror})") from None

    try:
        entries = json.loads((root / "index.json").read_text())["manifests"]
    except (OSError, ValueError, KeyError) as exc:
        raise UsageError(f"--layer {spec}: not an OCI layout nor a numbers file ({exc})") from None
    named = [e for e in entries if not ref or e.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref]
    if not named:
        raise UsageError(f"--layer {spec}: no image named {ref!r} in the layout")
    entry = named[-1]
    manifest = json.loads(blob(entry["digest"]))
    layer, config = manifest["layers"][-1]["size"], manifest["config"]["size"]
    total = layer + config + entry["size"]
    return total, f"{layer:,} + {config:,} + {entry['size']:,} B (model layer, config, manifest) in {root}"


def reference_path() -> DeliveryPath:
    return DeliveryPath("full image layer (seed reference)", FULL_IMAGE_BYTES, "60 MB = 60 * 10^6 B, measured in the seed")


def prices(price_per_gb: float) -> list[float]:
    """The price used, then the article's two readings ($720/GB as printed, $25/GB as its sums imply)."""
    out: list[float] = []
    for price in (price_per_gb, PLAN_PRICE / PLAN_GB, IMPLIED_PRICE_PER_GB):
        if price not in out:
            out.append(price)
    return out


def seed_lines(price_per_gb: float) -> list[str]:
    """The article's arithmetic redone from the 60 MB reference, at both readings of the price."""
    per_update_gb = monthly_gb(FULL_IMAGE_BYTES, UPDATE_DEVICES, 1)
    fleet_gb = monthly_gb(FULL_IMAGE_BYTES, FLEET_DEVICES, 1)
    both = prices(price_per_gb)
    return [
        f"article: ${PLAN_PRICE:,.0f} for {PLAN_GB} GB shared by {PLAN_SIMS} SIM cards = ${PLAN_PRICE / PLAN_GB:,.2f}/GB "
        f"({PLAN_GB * GB // PLAN_SIMS / 10**6:,.0f} MB per SIM a month)",
        f"article: ${UPDATE_COST:,.0f} for one {UPDATE_GB} GB update of {UPDATE_DEVICES:,} devices = "
        f"${IMPLIED_PRICE_PER_GB:,.2f}/GB; ${FLEET_COST:,.0f} a month for {FLEET_DEVICES:,} vehicles = "
        f"${FLEET_COST / fleet_gb:,.2f}/GB",
        f"redone: 60 MB x {UPDATE_DEVICES:,} devices = {per_update_gb:,.0f} GB -> "
        + ", ".join(f"${per_update_gb * p:,.0f} at ${p:,.2f}/GB" for p in both),
        f"redone: 60 MB x {FLEET_DEVICES:,} devices x 1 update = {fleet_gb:,.0f} GB a month -> "
        + ", ".join(f"${fleet_gb * p:,.0f} at ${p:,.2f}/GB" for p in both),
    ]
