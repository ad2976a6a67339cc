"""The IoT Hub stand-in's in-memory state: device and module twins with merge-patch semantics, etags and
$version counters, and configurations applied to matching module twins the way the hub applies them."""

from __future__ import annotations

import base64
import copy
import threading
from typing import Callable

from tests.helpers.iothub_jobs import JobEngine
from tests.helpers.iothub_query import compile_where, lookup, parse_query


def merge_patch(target: dict, patch: dict) -> bool:
    """Twin merge semantics (null deletes); True when anything changed."""
    changed = False
    for key, value in patch.items():
        if value is None:
            changed |= target.pop(key, None) is not None
        elif isinstance(value, dict):
            child = target.get(key)
            if not isinstance(child, dict):
                child, changed = {}, True
                target[key] = child
            changed |= merge_patch(child, value)
        elif target.get(key) != value:
            target[key], changed = value, True
    return changed


def _etag(version: int) -> str:
    return base64.b64encode(version.to_bytes(8, "big")).decode()


class HubState:
    """Device twins, module twins and configurations, with configurations applied as the hub would."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.devices: dict[str, dict] = {}
        self.modules: dict[tuple[str, str], dict] = {}
        self.configurations: dict[str, dict] = {}
        self._conditions: dict[str, tuple[str, Callable[[dict], bool]]] = {}  # config id -> compiled target
        #: Modules of each device, so a device's tag change re-applies configurations to its modules only.
        self.modules_of: dict[str, list[str]] = {}
        #: A device simulator: called with (device, module, desired) after a desired change; returns a
        #: reported patch (or None) that is merged into the module twin's reported properties.
        self.on_desired: Callable[[str, str, dict], dict | None] | None = None
        self.cursors: dict[str, list] = {}  # continuation token -> the rest of a query's answer
        self.jobs = JobEngine(self)

    def add_device(self, device_id: str, tags: dict | None = None, modules: tuple[str, ...] = ()) -> None:
        with self.lock:
            self.devices[device_id] = {"deviceId": device_id, "etag": _etag(1), "version": 1,
                                       "tags": dict(tags or {}),
                                       "properties": {"desired": {"$version": 1}, "reported": {"$version": 1}}}
            self.modules_of[device_id] = list(modules)
            for module_id in modules:
                self.modules[(device_id, module_id)] = {
                    "deviceId": device_id, "moduleId": module_id, "etag": _etag(1), "version": 1,
                    "properties": {"desired": {"$version": 1}, "reported": {"$version": 1}}}
            self.apply_configurations([device_id])

    def patch_twin(self, twin: dict, patch: dict) -> None:
        changed_desired = merge_patch(twin["properties"]["desired"], (patch.get("properties") or {}).get("desired") or {})
        changed_tags = merge_patch(twin.setdefault("tags", {}), patch.get("tags") or {})
        if changed_desired:
            twin["properties"]["desired"]["$version"] += 1
        if changed_desired or changed_tags:
            twin["version"] += 1
            twin["etag"] = _etag(twin["version"])
        if changed_desired and "moduleId" in twin:
            self.simulate_device(twin)
        if changed_tags and "moduleId" not in twin:
            self.apply_configurations([twin["deviceId"]])

    def set_reported(self, device_id: str, module_id: str, patch: dict) -> None:
        with self.lock:
            twin = self.modules[(device_id, module_id)]
            if merge_patch(twin["properties"]["reported"], patch):
                twin["properties"]["reported"]["$version"] += 1

    def simulate_device(self, twin: dict) -> None:
        if self.on_desired is None:
            return
        desired = {k: v for k, v in twin["properties"]["desired"].items() if not k.startswith("$")}
        reported = self.on_desired(twin["deviceId"], twin["moduleId"], copy.deepcopy(desired))
        if reported:
            self.set_reported(twin["deviceId"], twin["moduleId"], reported)

    def _target(self, config: dict) -> Callable[[dict], bool]:
        condition = config.get("targetCondition") or "false = true"
        cached = self._conditions.get(config["id"])
        if cached is None or cached[0] != condition:
            cached = (condition, compile_where(condition))
            self._conditions[config["id"]] = cached
        return cached[1]

    def apply_configurations(self, device_ids: list[str] | None = None) -> None:
        """Each module twin gets the desired paths of every matching configuration; higher priority wins.
        With `device_ids`, only those devices' modules are looked at (a tag change, a new device)."""
        with self.lock:
            ordered = sorted(self.configurations.values(), key=lambda c: c.get("priority", 0))
            if device_ids is None:
                keys = list(self.modules)
            else:
                keys = [(d, m) for d in device_ids for m in self.modules_of.get(d, ())]
            for config in ordered:
                matches = self._target(config)
                content = ((config.get("content") or {}).get("modulesContent") or {})
                for device_id, module_id in keys:
                    twin = self.modules[(device_id, module_id)]
                    if module_id not in content or not matches(self.devices[device_id]):
                        continue
                    patch: dict = {}
                    for key, value in content[module_id].items():
                        parts = key.split(".")
                        if parts[:2] != ["properties", "desired"] or len(parts) < 3:
                            continue
                        node = patch
                        for part in parts[2:-1]:
                            node = node.setdefault(part, {})
                        node[parts[-1]] = copy.deepcopy(value)
                    self.patch_twin(twin, {"properties": {"desired": patch}})

    def query(self, text: str) -> list[dict]:
        fields, collection, where = parse_query(text)
        with self.lock:
            if collection == "devices":
                docs = list(self.devices.values())
            else:
                docs = list(self.modules.values())
            if fields is None:
                return [copy.deepcopy(doc) for doc in docs if where(doc)]
            return [{f.split(".")[-1]: copy.deepcopy(lookup(doc, f)) for f in fields} for doc in docs if where(doc)]
