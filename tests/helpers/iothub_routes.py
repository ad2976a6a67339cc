"""The IoT Hub REST routes the stand-in serves (api-version 2021-04-12): twins, module twins,
configurations and the twin query, answered from the stand-in's in-memory state."""

from __future__ import annotations

import copy
import re
import uuid
from typing import Any

from tests.helpers.iothub_jobs import JobError

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
    """A page of the query's answer. The answer is computed once, at the first page, and the rest kept
    under the continuation token (as a cursor), so paging through 100,000 twins stays linear."""
    token = record.headers.get("x-ms-continuation")
    size = int(record.headers.get("x-ms-max-item-count") or 100)
    if token:
        items = state.cursors.pop(token, None)
        if items is None:
            return 400, {"Message": "ErrorCode:InvalidContinuationToken;unknown or used continuation token"}, {}
    else:
        items = state.query((record.json() or {}).get("query", ""))
    page, rest = items[:size], items[size:]
    headers = {"x-ms-item-type": "twin"}
    if rest:
        token = uuid.uuid4().hex
        state.cursors[token] = rest
        headers["x-ms-continuation"] = token
    return 200, page, headers


def _jobs(state, record) -> Response | None:
    """PUT/GET /jobs/v2/{id} and GET /jobs/v2/query, answered by the stand-in's job engine."""
    engine = state.jobs
    if record.path == "/jobs/v2/query" and record.method == "GET":
        # A QueryResult document (the REST reference's answer for this route), not a bare array
        items = engine.query(record.query.get("jobType"), record.query.get("jobStatus"))
        return 200, {"type": "jobResponse", "items": items, "continuationToken": None}, {}
    match = re.fullmatch(r"/jobs/v2/([^/]+)", record.path)
    if not match:
        return None
    job_id = match.group(1)
    if record.method == "GET":
        job = engine.get(job_id)
        return (200, job, {}) if job else (404, {"Message": f"ErrorCode:JobNotFound;no job {job_id}"}, {})
    if record.method == "PUT":
        if engine.get(job_id) is not None:
            return 409, {"Message": f"ErrorCode:JobAlreadyExists;a job with id {job_id} exists"}, {}
        try:
            return 200, engine.create(job_id, record.json() or {}), {}
        except JobError as exc:
            return 400, {"Message": f"ErrorCode:BadRequest;{exc}"}, {}
    return 405, {"Message": "method not allowed"}, {}


def route(state, record) -> Response:
    """(status, JSON payload, extra headers) for one recorded request."""
    path = record.path
    if path.startswith("/jobs/"):
        answer = _jobs(state, record)
        if answer is not None:
            return answer
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
