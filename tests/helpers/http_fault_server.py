"""A real threaded HTTP server on a loopback address that serves files and can be told to fail.

Faults (one per request, in order, from `fail_next(...)`, or on every request with `always`):
  Fault("drop", after=N)       send N body bytes, then cut the connection
  Fault("stall", after=N, seconds=S)  send N bytes, then go silent for S seconds (past the read timeout)
  Fault("wrong")               serve the right length of wrong bytes
  Fault("ignore_range")        answer 200 with the whole file even to a Range request
  Fault("status", code=404)    answer with that status and no body
  Fault("extra", extra=N)      serve N bytes more than the file (Content-Length says so)
  Fault("extra", extra=N, no_length=True)   the same with no Content-Length: the body runs until close
  Fault("drip", chunk=N, seconds=S)   send the body N bytes at a time, sleeping S between pieces
Every request is logged with its Range header, status and the body bytes actually sent.
"""

from __future__ import annotations

import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Fault:
    kind: str
    after: int = 0
    seconds: float = 0.0
    code: int = 500
    extra: int = 0
    chunk: int = 1024
    no_length: bool = False


@dataclass
class Logged:
    path: str
    range: str | None
    status: int
    sent: int = 0


@dataclass
class _State:
    files: dict = field(default_factory=dict)
    queue: list = field(default_factory=list)
    always: Fault | None = None
    log: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    closing: threading.Event = field(default_factory=threading.Event)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: _State

    def log_message(self, *args) -> None:  # the test log below replaces stderr noise
        pass

    def do_GET(self) -> None:
        st = self.state
        with st.lock:
            fault = st.queue.pop(0) if st.queue else st.always
        data = st.files.get(self.path)
        rng = self.headers.get("Range")
        entry = Logged(self.path, rng, 0)
        with st.lock:
            st.log.append(entry)
        if data is None or (fault and fault.kind == "status"):
            entry.status = 404 if data is None else fault.code
            self._head(entry.status, 0)
            return
        if fault and fault.kind == "wrong":
            data = bytes((b + 1) % 256 for b in data)
        if fault and fault.kind == "extra":
            data = data + b"\0" * fault.extra
        start = 0
        match = re.match(r"bytes=(\d+)-$", rng or "")
        if match and not (fault and fault.kind == "ignore_range"):
            start = int(match.group(1))
            if start >= len(data):
                entry.status = 416
                self._head(416, 0, {"Content-Range": f"bytes */{len(data)}"})
                return
            entry.status = 206
            self._head(206, len(data) - start, {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"})
        else:
            entry.status = 200
            if fault and fault.no_length:
                self.close_connection = True
                self.send_response(200)
                self.send_header("Connection", "close")
                self.end_headers()
            else:
                self._head(200, len(data))
        self._body(data[start:], fault, entry)

    def _head(self, status: int, length: int, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()

    def _body(self, body: bytes, fault: Fault | None, entry: Logged) -> None:
        kind = fault.kind if fault else None
        try:
            if kind in ("drop", "stall"):
                self._send(body[: fault.after], entry)
                if kind == "stall":
                    self.state.closing.wait(fault.seconds)
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            piece = fault.chunk if kind == "drip" else 64 * 1024
            for offset in range(0, len(body), piece):
                self._send(body[offset: offset + piece], entry)
                if kind == "drip" and self.state.closing.wait(fault.seconds):
                    return
        except OSError:
            self.close_connection = True

    def _send(self, data: bytes, entry: Logged) -> None:
        self.wfile.write(data)
        self.wfile.flush()
        entry.sent += len(data)


class FaultServer:
    """Use as a context manager; `url(path)` gives the address of a file added with `add(path, data)`."""

    def __init__(self, host: str, port: int = 0, tls: tuple[str, str] | None = None):
        """tls=(certificate PEM, key PEM) serves https."""
        self.state = _State()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.scheme = "http"
        if tls:
            import ssl

            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.httpd.daemon_threads = True
        self.host, self.port = self.httpd.server_address[:2]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="fault-http", daemon=True)

    def __enter__(self) -> "FaultServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self.state.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def add(self, path: str, data: bytes) -> str:
        self.state.files[path] = data
        return self.url(path)

    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.host}:{self.port}{path}"

    def fail_next(self, *faults: Fault) -> None:
        with self.state.lock:
            self.state.queue.extend(faults)

    @property
    def always(self) -> Fault | None:
        return self.state.always

    @always.setter
    def always(self, fault: Fault | None) -> None:
        self.state.always = fault

    @property
    def log(self) -> list[Logged]:
        with self.state.lock:
            return list(self.state.log)

    def sent(self, path: str | None = None) -> int:
        return sum(e.sent for e in self.log if path is None or e.path == path)
