"""A loopback TCP proxy that forwards to one server and cuts the first `cuts` connections after `after`
bytes from the server: a dropped link in the middle of a download (TLS passes through untouched)."""

from __future__ import annotations

import socket
import threading

from tests.helpers.net import free_port


class CuttingProxy:
    def __init__(self, host: str, upstream_port: int, after: int, cuts: int = 1):
        self.host, self.upstream_port, self.after, self.cuts = host, upstream_port, after, cuts
        self.port = free_port(host)
        self.connections = 0
        self.cut = 0
        self._listener = socket.create_server((host, self.port))
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            limit = self.after if self.cut < self.cuts else None
            if limit is not None:
                self.cut += 1
            threading.Thread(target=self._serve, args=(client, limit), daemon=True).start()

    def _serve(self, client: socket.socket, limit: int | None) -> None:
        upstream = socket.create_connection((self.host, self.upstream_port))
        threading.Thread(target=self._pipe, args=(client, upstream, None), daemon=True).start()
        self._pipe(upstream, client, limit)

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket, limit: int | None) -> None:
        sent = 0
        try:
            while True:
                data = source.recv(16384)
                if not data:
                    break
                if limit is not None and sent + len(data) >= limit:
                    sink.sendall(data[: limit - sent])
                    break
                sink.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()

    def __enter__(self) -> "CuttingProxy":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
