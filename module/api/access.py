"""Who may use the admin routes over HTTP: a caller with http.admin_token, or anyone on the loopback-only
admin listener. Nobody else, and by default (neither configured) nobody: peers on the module network reach
the HTTP port, and without a credential any of them could roll the model back. Direct methods do not pass
here: IoT Hub authenticates those.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

#: How a request reached the agent: the public listener, or the admin listener (loopback only, trusted).
PUBLIC, ADMIN = "public", "admin"

ENABLE_HINT = ("set http.admin_token (AGENT_HTTP_ADMIN_TOKEN) and send 'Authorization: Bearer <token>', or set "
               "http.admin_host to a loopback address for an admin listener; the rollback and reload direct "
               "methods (IoT Hub) work without either")


@dataclass(frozen=True)
class AdminAccess:
    token: str | None = None
    admin_listener: str | None = None
    """host:port of the admin listener, when there is one (named in the refusal)."""

    def allowed(self, listener: str, authorization: str | None) -> bool:
        if listener == ADMIN:
            return True
        if not self.token or not authorization:
            return False
        scheme, _, given = authorization.partition(" ")
        # Constant time over equal-length digests: the time taken says nothing about how much of the token,
        # or how long a token, matched.
        return scheme.lower() == "bearer" and hmac.compare_digest(_digest(given.strip()), _digest(self.token))

    def refusal(self, listener: str, authorization: str | None) -> tuple[str, int, dict] | None:
        """None when allowed; else (message, status, headers): 401 for a missing or wrong token, 403 when
        this listener has no way to authenticate at all."""
        if self.allowed(listener, authorization):
            return None
        if self.token:
            return ("admin routes need 'Authorization: Bearer <http.admin_token>' (missing or wrong)", 401,
                    {"WWW-Authenticate": 'Bearer realm="edge-model-agent admin"'})
        if self.admin_listener:
            return (f"admin routes are served on the admin listener {self.admin_listener} only; for remote "
                    f"callers set http.admin_token (AGENT_HTTP_ADMIN_TOKEN)", 403, {})
        return f"admin routes are off over HTTP: {ENABLE_HINT}", 403, {}


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).digest()
