"""The IoT Hub REST routes the stand-in serves (api-version 2021-04-12): twins, module twins,
configurations and the twin query, answered from the stand-in's in-memory state."""

from __future__ import annotations

import copy
import re
from typing import Any

Response = tuple[int, Any, dict]

_NOT_FOUND = {"Message": "ErrorCode:DeviceNotFound;not found"}


def _if_match_ok(twin_or_config: dict, if_match: str | None) -> bool:
    if not if_match or if_match.strip() == '"*"' or if_match.strip() == "*":
        return True
    return if_match.strip().strip('"') == twin_or_config.get("etag")


def _twin(state, record, twin: dict | None) -> Response:
    if twin is None:
        return 404, _NOT_FOUND, {}
    if record.method == "GET":
        return 200, copy.deepcopy(twin), {}
    if record.method == "PATCH":
        if not _if_match_ok(twin, record.headers.get("if-match")):
            return 412, {"Message": "ErrorCode:PreconditionFailed;etag mismatch"}, {}
        state.patch_twin(twin, record.json() or {})
        return 200, copy.deepcopy(twin), {}
    return 405, {"Message": "method not allowed"}, {}


def _configuration(state, record, config_id: str) -> Response:
    existing = state.configurations.get(config_id)
    if record.method == "GET":
        if existing is None:
            return 404, {"Message": "ErrorCode:ConfigurationNotFound;not found"}, {}
        return 200, copy.deepcopy(existing), {}
    if record.method == "PUT":
        if existing is not None and not record.headers.get("if-match"):
            return 409, {"Message": "ErrorCode:ConfigurationAlreadyExists;already exists"}, {}
        if existing is not None and not _if_match_ok(existing, record.headers.get("if-match")):
            return 412, {"Message": "ErrorCode:PreconditionFailed;etag mismatch"}, {}
        config = record.json() or {}
        config["etag"] = f"cfg-{len(state.configurations) + 1}-{config_id}"
        state.configurations[config_id] = config
        state.apply_configurations()
        return (201 if existing is None else 200), copy.deepcopy(config), {}
    if record.method == "DELETE":
        if state.configurations.pop(config_id, None) is None:
            return 404, {"Message": "ErrorCode:ConfigurationNotFound;not found"}, {}
        return 204, {}, {}
    return 405, {"Message": "method not allowed"}, {}


def _query(state, record) -> Response:
    items = state.query((record.json() or {}).get("query", ""))
    start = int(record.headers.get("x-ms-continuation") or 0)
    size = int(record.headers.get("x-ms-max-item-count") or 100)
    page = items[start:start + size]
    headers = {"x-ms-item-type": "twin"}
    if start + size < len(items):
        headers["x-ms-continuation"] = str(start + size)
    return 200, page, headers


def route(state, record) -> Response:
    """(status, JSON payload, extra headers) for one recorded request."""
    path = record.path
    with state.lock:
        if match := re.fullmatch(r"/twins/([^/]+)/modules/([^/]+)", path):
            return _twin(state, record, state.modules.get((match.group(1), match.group(2))))
        if match := re.fullmatch(r"/twins/([^/]+)", path):
            return _twin(state, record, state.devices.get(match.group(1)))
        if match := re.fullmatch(r"/configurations/([^/]+)", path):
            return _configuration(state, record, match.group(1))
        if path == "/configurations" and record.method == "GET":
            return 200, [copy.deepcopy(c) for c in state.configurations.values()], {}
        if path == "/devices/query" and record.method == "POST":
            return _query(state, record)
    return 404, {"Message": f"ErrorCode:NotFound;no route {record.method} {path}"}, {}
