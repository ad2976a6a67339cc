"""Validate a rendered IoT Edge deployment manifest the way edgeAgent and edgeHub would read it: required
keys, module settings, route syntax (FROM ... [WHERE ...] INTO ...), createOptions and twin limits."""

from __future__ import annotations

import json
import re
from typing import Any

from .manifest_render import CREATE_OPTIONS_PART, _VARIABLE
from .twin_limits import DESIRED_LIMIT_BYTES, json_bytes, problems

STATUSES = {"running", "stopped"}
RESTART_POLICIES = {"never", "on-failure", "on-unhealthy", "always"}
ROUTE = re.compile(r"^FROM\s+(?P<source>\S+)(?:\s+WHERE\s+(?P<where>.+?))?\s+INTO\s+(?P<sink>\S.*?)\s*$",
                   re.IGNORECASE | re.DOTALL)
SOURCE = re.compile(r"^/messages/(\*|modules/(?P<module>[^/\s]+)(/\*|/outputs/(\*|[^/\s]+))?)$|^/twinChangeNotifications$")
SINK = re.compile(r'^\$upstream$|^BrokeredEndpoint\(\s*"/modules/(?P<module>[^/"]+)/inputs/[^/"]+"\s*\)$')


def _module_problems(name: str, spec: Any, where: str, system: bool) -> list[str]:
    if not isinstance(spec, dict):
        return [f"{where}.{name}: expected an object"]
    found = []
    if spec.get("type") != "docker":
        found.append(f"{where}.{name}.type must be \"docker\"")
    settings = spec.get("settings") or {}
    if not settings.get("image"):
        found.append(f"{where}.{name}.settings.image is missing")
    if not system or name == "edgeHub":
        if spec.get("status") not in STATUSES:
            found.append(f"{where}.{name}.status must be one of {sorted(STATUSES)}")
        if spec.get("restartPolicy") not in RESTART_POLICIES:
            found.append(f"{where}.{name}.restartPolicy must be one of {sorted(RESTART_POLICIES)}")
    parts = [settings[k] for k in sorted(k for k in settings if k.startswith("createOptions"))]
    if any(not isinstance(p, str) or len(p) > CREATE_OPTIONS_PART for p in parts):
        found.append(f"{where}.{name}.settings.createOptions: strings of at most {CREATE_OPTIONS_PART} characters")
    elif parts:
        try:
            if not isinstance(json.loads("".join(parts)), dict):
                raise ValueError("not an object")
        except ValueError as exc:
            found.append(f"{where}.{name}.settings.createOptions is not a JSON object: {exc}")
    for key, value in (spec.get("env") or {}).items():
        if not isinstance(value, dict) or "value" not in value:
            found.append(f"{where}.{name}.env.{key} must be {{\"value\": ...}}")
    return found


def route_problems(name: str, route: Any, modules: set[str]) -> list[str]:
    text = route.get("route") if isinstance(route, dict) else route
    if not isinstance(text, str):
        return [f"routes.{name}: expected a string or {{\"route\": ...}}"]
    match = ROUTE.match(text.strip())
    if not match:
        return [f"routes.{name}: not FROM <source> [WHERE <condition>] INTO <sink>: {text!r}"]
    found = []
    source, sink = SOURCE.match(match["source"]), SINK.match(match["sink"])
    if not source:
        found.append(f"routes.{name}: source {match['source']!r} is not /messages/..., e.g. "
                     "/messages/modules/<module>/outputs/<output>")
    elif source["module"] and source["module"] not in modules:
        found.append(f"routes.{name}: source module {source['module']!r} is not in the deployment")
    if not sink:
        found.append(f"routes.{name}: sink {match['sink']!r} is not $upstream or "
                     'BrokeredEndpoint("/modules/<module>/inputs/<input>")')
    elif sink["module"] and sink["module"] not in modules:
        found.append(f"routes.{name}: sink module {sink['module']!r} is not in the deployment")
    return found


def check(doc: dict) -> list[str]:
    """Every problem found, as readable paths; empty when the manifest is sound."""
    content = doc.get("modulesContent")
    if not isinstance(content, dict):
        return ["modulesContent is missing"]
    agent = (content.get("$edgeAgent") or {}).get("properties.desired")
    hub = (content.get("$edgeHub") or {}).get("properties.desired")
    if not isinstance(agent, dict) or not isinstance(hub, dict):
        return ["modulesContent needs $edgeAgent and $edgeHub, each with properties.desired"]
    found = [f"{k}.schemaVersion is missing" for k, d in (("$edgeAgent", agent), ("$edgeHub", hub))
             if not d.get("schemaVersion")]
    if (agent.get("runtime") or {}).get("type") != "docker":
        found.append("$edgeAgent runtime.type must be \"docker\"")
    system, modules = agent.get("systemModules") or {}, agent.get("modules") or {}
    found += [f"systemModules.{m} is missing" for m in ("edgeAgent", "edgeHub") if m not in system]
    for name, spec in system.items():
        found += _module_problems(name, spec, "systemModules", True)
    for name, spec in modules.items():
        found += _module_problems(name, spec, "modules", False)
    routes = hub.get("routes")
    if not isinstance(routes, dict) or not routes:
        found.append("$edgeHub routes: at least one route is needed")
    else:
        for name, route in routes.items():
            found += route_problems(name, route, set(modules))
    ttl = (hub.get("storeAndForwardConfiguration") or {}).get("timeToLiveSecs")
    if not isinstance(ttl, int) or ttl <= 0:
        found.append("$edgeHub storeAndForwardConfiguration.timeToLiveSecs must be a positive integer")
    for key, twin in content.items():
        desired = (twin or {}).get("properties.desired")
        if key not in ("$edgeAgent", "$edgeHub") and key not in modules:
            found.append(f"desired properties for {key!r}, which is not a module of this deployment")
        if isinstance(desired, dict):
            found += [f"{key}: {p}" for p in problems(desired)]
            if json_bytes(desired) > DESIRED_LIMIT_BYTES:
                found.append(f"{key}: desired properties are {json_bytes(desired):,} bytes, over {DESIRED_LIMIT_BYTES:,}")
    text = json.dumps(doc)
    leftover = sorted({f"${v}" for v in _VARIABLE.findall(text)} | set(re.findall(r"\$\{[^}]*\}", text)))
    found += [f"placeholder {v} was not filled in (set it in the environment)" for v in leftover]
    return found
