"""The production WSGI server (waitress) in a thread of its own, started and stopped by the agent."""

from __future__ import annotations

import logging
import threading

from flask import Flask
from waitress.server import create_server

log = logging.getLogger(__name__)


class HttpServer:
    def __init__(self, app: Flask, host: str, port: int, threads: int, max_body_bytes: int):
        # waitress refuses a body over the limit with 413 from its headers alone, before reading it.
        self._server = create_server(
            app,
            host=host,
            port=port,
            threads=threads,
            max_request_body_size=max_body_bytes,
            ident="edge-model-agent",
            clear_untrusted_proxy_headers=True,
            channel_timeout=30,
        )
        self._thread = threading.Thread(target=self._serve, name="http", daemon=True)

    @property
    def port(self) -> int:
        return self._server.effective_port

    @property
    def host(self) -> str:
        return self._server.effective_host

    def start(self) -> None:
        self._thread.start()
        log.info("http listening", extra={"host": self.host, "port": self.port})

    def _serve(self) -> None:
        try:
            self._server.run()
        except OSError:  # closed under us during stop
            pass

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, let running requests finish (bounded), close every connection."""
        server = self._server
        server.close()
        server.task_dispatcher.shutdown(cancel_pending=False, timeout=timeout)
        for channel in list(server._map.values()):
            channel.close()
        self._thread.join(timeout=timeout)
