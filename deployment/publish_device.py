"""Publish desired sections to one module twin: read the twin (for its etag and current desired document),
build a patch that replaces each section exactly, check the 32 KB limit, then PATCH with If-Match."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .twin_limits import check_desired, json_bytes, merged, replacing, without_metadata


@dataclass(frozen=True)
class Published:
    patch_bytes: int  # the desired patch the device receives
    desired_bytes: int  # the whole desired document after the patch (limit 32 KB)
    desired_version: int | None  # the twin's desired $version after the patch


def desired_of(twin: Any) -> dict:
    properties = getattr(twin, "properties", None)
    return dict(getattr(properties, "desired", None) or {}) if properties is not None else {}


def publish_to_device(hub: Any, device: str, module: str, sections: dict[str, dict]) -> Published:
    """One read, one conditional write: a concurrent change makes the hub answer 412 instead of the
    operator silently overwriting it."""
    twin = hub.module_twin(device, module)
    current = desired_of(twin)
    patch = {name: replacing(current.get(name), section) for name, section in sections.items()}
    size = check_desired(merged(without_metadata(current), patch), f"module twin {device}/{module}")
    result = hub.patch_module_twin(device, module, {"properties": {"desired": patch}}, twin.etag)
    return Published(json_bytes({"properties": {"desired": patch}}), size, desired_of(result).get("$version"))
