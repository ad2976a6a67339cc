"""The production WSGI server (waitress) in a thread of its own, started and stopped by the agent."""

from __future__ import annotations

import logging
import math
import threading
import time

from flask import Flask
from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel

from .shedding import SheddingServer

log = logging.getLogger(__name__)

#: How long the loop waits in select before it looks at the stop flags (stop() also wakes it at once).
LOOP_TICK_S = 0.5


class HttpServer:
    def __init__(self, app: Flask, host: str, port: int, threads: int, max_body_bytes: int, name: str = "public",
                 max_connections: int = 128, idle_timeout_s: float = 30.0, header_timeout_s: float = 5.0):
        # waitress refuses a body over the limit with 413 from its headers alone, before reading it.
        # (It refuses at >= its limit; +1 lets a body of exactly max_body_bytes through, as Flask does.)
        adj = Adjustments(
            host=host,
            port=port,
            threads=threads,
            max_request_body_size=max_body_bytes + 1,
            ident="edge-model-agent",
            clear_untrusted_proxy_headers=True,
            connection_limit=max_connections,
            channel_timeout=max(1, math.ceil(idle_timeout_s)),
            cleanup_interval=1,  # the idle and header deadlines are checked every second
        )
        self.name = name
        self._server = SheddingServer(app, header_timeout_s=header_timeout_s, name=name, adj=adj)
        self._closing = threading.Event()
        self._draining = threading.Event()
        self._drain_s = 0.0
        self._thread = threading.Thread(target=self._serve, name=f"http-{name}", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    @property
    def host(self) -> str:
        return self._server.effective_host

    def start(self) -> None:
        self._thread.start()
        log.info("http listening", extra={"listener": self.name, "host": self.host, "port": self.port})

    def _serve(self) -> None:
        """waitress's loop, run here so that every socket is closed by this thread, never under its select."""
        server, socket_map = self._server, self._server._map
        while not self._closing.is_set():
            _loop_once(socket_map)
        wasyncore.dispatcher.close(server)  # the listening socket: no new connections from here on
        while not self._draining.is_set():
            _loop_once(socket_map)
        deadline = time.monotonic() + self._drain_s
        while any(isinstance(c, HTTPChannel) for c in list(socket_map.values())) and time.monotonic() < deadline:
            _loop_once(socket_map)  # flush answers, then close
        wasyncore.close_all(socket_map)

    def _wake(self) -> None:
        try:
            self._server.pull_trigger()
        except OSError:  # the loop has already finished and closed its trigger
            pass

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, answer the requests already received (bounded), then close every connection."""
        server = self._server
        if self._thread.ident is None:  # never started: nothing in flight
            server.task_dispatcher.shutdown(timeout=0)
            wasyncore.close_all(server._map)
            return
        deadline = time.monotonic() + timeout
        self._closing.set()
        self._wake()
        dispatcher = server.task_dispatcher
        while dispatcher.queue and time.monotonic() < deadline:
            time.sleep(0.01)  # requests received but not started yet: shutdown() would drop them
        dispatcher.shutdown(cancel_pending=False, timeout=max(0.0, deadline - time.monotonic()))
        for channel in list(server._map.values()):
            if isinstance(channel, HTTPChannel):
                channel.will_close = True  # the loop sends what is left, then closes it
        self._drain_s = max(0.0, deadline - time.monotonic())
        self._draining.set()
        self._wake()
        self._thread.join(timeout=self._drain_s + 2 * LOOP_TICK_S)


def _loop_once(socket_map: dict) -> None:
    # poll(), not select(): select cannot watch a descriptor numbered 1024 or more, and a process with many
    # open files (or a flood of connects) gets there.
    wasyncore.loop(timeout=LOOP_TICK_S, map=socket_map, count=1, use_poll=True)
