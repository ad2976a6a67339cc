"""A small HTTP front for a real registry: Bearer-token auth the way ACR does it, or a fixed failure status.

mode="token": /v2/ requests without `Bearer <token>` get 401 with a WWW-Authenticate Bearer challenge whose
realm is this server's /oauth2/token; that endpoint gives the token only for the right basic credentials.
Authorised requests are forwarded to the registry (its Location headers rewritten to point here).
mode="fail": every request is answered with `status` (a broken upstream: 500, 502, 503 ...).
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from tests.helpers.net import free_port, loopback_address

TOKEN = "test-token-7f3a"
HOP_HEADERS = {"connection", "transfer-encoding", "content-length", "keep-alive", "server", "date"}


class RegistryProxy:
    def __init__(self, upstream: str | None = None, mode: str = "token", status: int = 500,
                 credentials: tuple[str, str] = ("robot", "s3cret")):
        self.upstream, self.mode, self.status, self.credentials = upstream, mode, status, credentials
        self.host = loopback_address()
        self.port = free_port(self.host)
        self.address = f"{self.host}:{self.port}"
        self.token_requests: list[dict] = []
        self.server = ThreadingHTTPServer((self.host, self.port), _handler(self))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "RegistryProxy":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(proxy: RegistryProxy):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet: the registry keeps the log that matters
            pass

        def _answer(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _handle(self) -> None:
            if proxy.mode == "fail":
                return self._answer(proxy.status, b'{"errors":[{"code":"UNKNOWN","message":"storage backend down"}]}',
                                    {"Content-Type": "application/json"})
            if self.path.startswith("/oauth2/token"):
                return self._token()
            repo = self.path.split("/")[2] if self.path.count("/") > 2 else ""
            if not self._authorised(repo):
                challenge = (f'Bearer realm="http://{proxy.address}/oauth2/token",service="{proxy.address}"'
                             + (f',scope="repository:{repo}:pull,push"' if repo else ""))
                return self._answer(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
                                    {"WWW-Authenticate": challenge, "Content-Type": "application/json"})
            self._forward()

        def _authorised(self, repo: str) -> bool:
            """Like ACR: a token is good for the repositories in its scopes; a mount also needs pull on `from`."""
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            if not token.startswith(TOKEN):
                return False
            from urllib.parse import parse_qs, urlparse

            needed = [f"repository:{repo}:"] if repo else []
            needed += [f"repository:{r}:pull" for r in parse_qs(urlparse(self.path).query).get("from", [])]
            return all(n in token for n in needed)

        def _token(self) -> None:
            from urllib.parse import parse_qs, urlparse

            proxy.token_requests.append(parse_qs(urlparse(self.path).query))
            user, password = proxy.credentials
            expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            if self.headers.get("Authorization") != expected:
                return self._answer(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}')
            scopes = proxy.token_requests[-1].get("scope", [])
            token = TOKEN + "|" + " ".join(scopes)
            self._answer(200, json.dumps({"access_token": token}).encode(), {"Content-Type": "application/json"})

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS | {"authorization", "host"}}
            resp = requests.request(self.command, f"http://{proxy.upstream}{self.path}", data=data, headers=headers,
                                    allow_redirects=False, timeout=60)
            out = {k: v.replace(proxy.upstream, proxy.address) for k, v in resp.headers.items()
                   if k.lower() not in HOP_HEADERS}
            self._answer(resp.status_code, resp.content, out)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    return Handler
