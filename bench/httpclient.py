"""A minimal keep-alive HTTP/1.1 client for load generation: pre-built request bytes, one socket per thread.

http.client costs ~100 us of Python per request; on 2 shared cores that would cap the offered load
below what the servers can do. This client sends the same bytes and reads exactly Content-Length.
"""

from __future__ import annotations

import json
import socket


class HttpError(Exception):
    """The connection broke or the response could not be read."""


def post_request(host: str, port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


def get_request(host: str, port: int, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode("ascii")


class Connection:
    def __init__(self, host: str, port: int, timeout: float = 30.0):
        self.host, self.port, self.timeout = host, port, timeout
        self._sock: socket.socket | None = None
        self._buf = b""

    def _connect(self) -> socket.socket:
        s = socket.create_connection((self.host, self.port), timeout=self.timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock, self._buf = s, b""
        return s

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def send(self, request: bytes) -> tuple[int, bytes]:
        """(status, body); reconnects once if the server had closed an idle keep-alive socket."""
        sock = self._sock or self._connect()
        try:
            sock.sendall(request)
            return self._read()
        except (OSError, HttpError):
            self.close()
            raise

    def _read(self) -> tuple[int, bytes]:
        while b"\r\n\r\n" not in self._buf:
            self._fill()
        head, _, rest = self._buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        while len(rest) < length:
            self._buf = rest
            self._fill()
            rest = self._buf
        body, self._buf = rest[:length], rest[length:]
        if close:
            self.close()
        return status, body

    def _fill(self) -> None:
        chunk = self._sock.recv(65536)
        if not chunk:
            raise HttpError("connection closed by the server")
        self._buf += chunk


def scored(status: int, body: bytes) -> bool:
    """A 200 whose JSON names a score and the model version that produced it."""
    if status != 200:
        return False
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    items = doc if isinstance(doc, list) else [doc]
    return bool(items) and all(isinstance(d, dict) and "score" in d and "error" not in d for d in items)
