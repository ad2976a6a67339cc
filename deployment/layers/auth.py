"""Registry authentication: answers a 401's WWW-Authenticate challenge with Basic or a Bearer token.

Bearer is the token flow Azure Container Registry and the CNCF registry's token mode use: ask the realm
for a token for the challenge's scope (with the user's basic credentials when given), then retry.
"""

from __future__ import annotations

import re

import requests

from . import RegistryError

_PARAM = re.compile(r'(\w+)="([^"]*)"')


class Auth:
    """Holds the credentials and the header to send; `answer(challenge)` updates it after a 401."""

    def __init__(self, session: requests.Session, username: str | None, password: str | None, timeout: float):
        self.session = session
        self.basic = (username, password or "") if username else None
        self.timeout = timeout
        self.header: dict[str, str] = {}
        self.extra_scopes: list[str] = []
        self._tokens: dict[tuple, str] = {}

    def answer(self, challenge: str, registry: str) -> None:
        """Sets the header that answers `challenge`; raises RegistryError when it cannot be answered."""
        scheme, _, params_text = challenge.strip().partition(" ")
        params = dict(_PARAM.findall(params_text))
        if scheme.lower() == "basic":
            if not self.basic:
                raise RegistryError(f"registry {registry} requires credentials (401): pass --username and "
                                    "--password or set REGISTRY_USERNAME and REGISTRY_PASSWORD", 401)
            self.header = {"Authorization": requests.auth._basic_auth_str(*self.basic)}
            return
        if scheme.lower() != "bearer" or "realm" not in params:
            raise RegistryError(f"registry {registry} asks for unsupported authentication: {challenge!r}", 401)
        self.header = {"Authorization": f"Bearer {self._token(params, registry)}"}

    def _token(self, params: dict[str, str], registry: str) -> str:
        scopes = [s for s in [params.get("scope"), *self.extra_scopes] if s]
        key = (params["realm"], params.get("service"), tuple(scopes))
        if key not in self._tokens:
            query = [("service", params["service"])] if "service" in params else []
            query += [("scope", s) for s in scopes]
            try:
                resp = self.session.get(params["realm"], params=query, auth=self.basic, timeout=self.timeout)
            except requests.RequestException as exc:
                raise RegistryError(f"cannot reach the token service {params['realm']} of {registry}: {exc}") from None
            if resp.status_code in (401, 403):
                raise RegistryError(f"the token service of {registry} refused the credentials "
                                    f"({resp.status_code}); check --username/--password", resp.status_code)
            if resp.status_code != 200:
                raise RegistryError(f"the token service of {registry} answered {resp.status_code}: "
                                    f"{resp.text[:200]}", resp.status_code)
            body = resp.json()
            token = body.get("token") or body.get("access_token")
            if not token:
                raise RegistryError(f"the token service of {registry} sent no token")
            self._tokens[key] = token
        return self._tokens[key]

    def rejected(self, registry: str) -> RegistryError:
        """The error for a 401 that survived an answered challenge: the credentials are wrong."""
        return RegistryError(f"registry {registry} rejected the credentials (401); check --username/--password", 401)
