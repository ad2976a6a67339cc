"""A loopback HTTP file server that counts every byte read from and written to its sockets.

The URL rows count what a device exchanges to download a payload: request headers in, status line,
headers and body out (plain HTTP on loopback: TLS would add its handshake, about 5 KB, per download).
"""

from __future__ import annotations

import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _Counting:
    def __init__(self, inner, counter: list[int]):
        self._inner, self._counter = inner, counter

    def write(self, data) -> int:
        self._counter[0] += len(data)
        return self._inner.write(data)

    def read(self, *a):
        data = self._inner.read(*a)
        self._counter[0] += len(data)
        return data

    def readline(self, *a):
        data = self._inner.readline(*a)
        self._counter[0] += len(data)
        return data

    def __getattr__(self, name):
        return getattr(self._inner, name)


class _Handler(SimpleHTTPRequestHandler):
    def setup(self) -> None:
        super().setup()
        self.rfile = _Counting(self.rfile, self.server.bytes_in)
        self.wfile = _Counting(self.wfile, self.server.bytes_out)

    def log_message(self, *args) -> None:
        self.server.requests.append(self.requestline)


class CountingFileServer:
    def __init__(self, root: Path, host: str):
        self._server = ThreadingHTTPServer((host, 0), partial(_Handler, directory=str(root)))
        self._server.bytes_in, self._server.bytes_out, self._server.requests = [0], [0], []
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/{path}"

    @property
    def bytes_in(self) -> int:
        return self._server.bytes_in[0]

    @property
    def bytes_out(self) -> int:
        return self._server.bytes_out[0]

    @property
    def requests(self) -> list[str]:
        return list(self._server.requests)

    def __enter__(self) -> "CountingFileServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
