"""Flask routes: translate HTTP to the scoring core and back; no scoring logic lives here."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from ..errors import AgentError
from .access import PUBLIC, AdminAccess
from ..metrics import CONTENT_TYPE, Metrics
from ..runtime import fingerprint
from ..scoring.service import ScoringService
from ..scoring.slot import ModelSlot
from ..statuses import status_for, status_for_result

log = logging.getLogger(__name__)

@dataclass
class Core:
    """What the routes need from the running agent; built once in agent.py."""

    service: ScoringService
    slot: ModelSlot
    metrics: Metrics
    update_state: Callable[[], dict] = dict
    blueprints: list = field(default_factory=list)
    access: AdminAccess = field(default_factory=AdminAccess)


def error(message: str, status: int, **extra: Any) -> tuple[Response, int]:
    return jsonify({"error": message, **extra}), status


def create_app(core: Core, max_body_bytes: int, listener: str = PUBLIC) -> Flask:
    """listener=ADMIN: the app behind the loopback-only admin listener, where admin rights need no token."""
    app = Flask("module.api")
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    app.config["LISTENER"] = listener
    app.extensions["agent"] = core

    @app.post("/score")
    def score():
        body = request.get_data(cache=False)
        core.metrics.transport("http").bytes_received.inc(len(body))
        try:
            results, was_list = core.service.score_body(body, "http", headers=request.headers)
        except AgentError as exc:
            return error(str(exc), status_for(exc))
        if was_list:
            return jsonify(results), _list_status(results)
        result = results[0]
        return jsonify(result), (status_for_result(result) if "error" in result else 200)

    @app.get("/model")
    def model():
        """What a client needs (version, scorer, threshold, features) for anyone; hashes, update state and
        runtime only for an admin caller (token or admin listener)."""
        active = core.slot.current
        full = is_admin()
        if active is None:
            extra = {"runtime": fingerprint(), "update": core.update_state()} if full else {}
            return jsonify({"error": "no model is loaded yet", **extra}), 503
        if not full:
            return jsonify(_public_view(active, core.service))
        return jsonify({**active.describe(), "features": _features_in_use(active, core.service),
                        "runtime": fingerprint(), "update": core.update_state(),
                        "history": core.service.history.describe()})

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz():
        active = core.slot.current
        if active is None:
            return error("no model is loaded yet", 503)
        return jsonify({"status": "ready", "model_version": active.version})

    @app.get("/metrics")
    def metrics():
        return Response(core.metrics.render(), mimetype=None, content_type=CONTENT_TYPE)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        response = exc.get_response()  # keeps the headers the status needs (Allow on a 405)
        response.set_data(json.dumps({"error": exc.description or exc.name}))
        response.content_type = "application/json"
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error(f"internal error: {type(exc).__name__}", 500)

    for blueprint in core.blueprints:
        app.register_blueprint(blueprint)
    return app


def is_admin() -> bool:
    """The current request may use admin routes and views (see access.py)."""
    core = current_app.extensions["agent"]
    return core.access.allowed(current_app.config["LISTENER"], request.headers.get("Authorization"))


def admin_refusal():
    """A JSON 401/403 answer unless the current request may use the admin routes."""
    core = current_app.extensions["agent"]
    refused = core.access.refusal(current_app.config["LISTENER"], request.headers.get("Authorization"))
    if refused is None:
        return None
    message, status, headers = refused
    response, status = error(message, status)
    response.headers.update(headers)
    return response, status


def _public_view(active, service: ScoringService) -> dict:
    return {
        "version": active.version,
        "scorer": active.scorer.name,
        "n_features": active.n_features,
        "threshold": service.threshold_for(active),
        "default_threshold": active.default_threshold,
        "features": _features_in_use(active, service),
    }


def _features_in_use(active, service: ScoringService) -> dict:
    described = active.describe()["features"]
    if described.get("source") == "scoring.features":
        return {**described, "paths": list(service.settings.features)}
    return described


def _list_status(results: list[dict]) -> int:
    """A list gets 200 with a result per message, unless the agent (not the input) failed every message."""
    statuses = [status_for_result(r) for r in results if "error" in r]
    if len(statuses) == len(results) and all(s >= 500 for s in statuses):
        return max(statuses)
    return 200
