"""Admin routes: POST /admin/rollback and POST /admin/reload, thin over the update manager; only for a caller\nwith http.admin_token or on the admin listener (access.py)."""

from __future__ import annotations

from flask import Blueprint, jsonify

from ..errors import AgentError, UpdateError
from ..statuses import status_for
from .app import admin_refusal


def blueprint(agent) -> Blueprint:
    bp = Blueprint("admin", __name__, url_prefix="/admin")
    bp.before_request(admin_refusal)  # a token or the admin listener (access.py); 401/403 otherwise

    def run(action: str):
        try:
            state = getattr(agent.updater, action)()
        except UpdateError as exc:
            return jsonify({"error": str(exc), "stage": exc.stage}), status_for(exc)
        except AgentError as exc:
            return jsonify({"error": str(exc)}), status_for(exc)
        return jsonify({"model": state})

    @bp.post("/rollback")
    def rollback():
        """Back to the previous stored version, no download; 409 when there is none or an update runs."""
        return run("rollback")

    @bp.post("/reload")
    def reload():
        """Reload the stored current version and reconcile the desired state again (ends a manual rollback)."""
        return run("reload")

    return bp
