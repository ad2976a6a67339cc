"""waitress with load shedding: idle and slow peers lose their connection before a good client loses its turn.

Plain waitress stops accepting at `connection_limit` and never closes a connection that trickles header
bytes, so 100 idle sockets or a slowloris of 300 locked every client out (the backlog filled, then SYNs
were dropped). Here:
- at the limit a new connection closes the one that can best spare it: never one with a request in
  flight or an answer being sent; first those still waiting for their headers (idle since connect, or a
  slowloris), then kept-alive idle ones; the longest idle of them first;
- a request's headers must arrive whole within `header_timeout_s` of its first byte (or of the connect);
- a kept-alive connection idle for `idle_timeout_s` is closed (waitress's channel_timeout), checked
  every second;
- accept() runs in bursts, so a flood of connects empties the kernel's backlog at once and a good
  client's SYN is not dropped behind it.
"""

from __future__ import annotations

import logging
import time

from waitress.server import TcpWSGIServer

from .json_errors import JsonErrorChannel

log = logging.getLogger(__name__)

#: Connections accepted per wake-up of the loop at most (the backlog of a connect flood drains fast).
ACCEPT_BURST = 64
#: Shedding is logged at most this often (a flood must not become a flood of log lines).
LOG_EVERY_S = 60.0


class SheddingChannel(JsonErrorChannel):
    headers_since: float | None
    """When this connection began waiting for a request's headers (connect, or a request's first byte);
    None while a request is in flight or the connection idles between requests."""

    def __init__(self, server, sock, addr, adj, map=None):
        super().__init__(server, sock, addr, adj, map=map)
        self.headers_since = self.creation_time

    def received(self, data):
        if self.headers_since is None and self.request is None and data:
            self.headers_since = time.time()
        done = super().received(data)
        if self.request is None or self.request.headers_finished:
            self.headers_since = None
        return done

    def can_spare(self) -> bool:
        """Closing it loses no request: none in flight, nothing left to send."""
        return not self.requests and not self.total_outbufs_len and not self.will_close

    def shed_order(self) -> tuple:
        """Lower goes first: waiting for headers before kept-alive idle, then the longest idle."""
        return (self.headers_since is None, self.last_activity)


class SheddingServer(TcpWSGIServer):
    channel_class = SheddingChannel

    def __init__(self, application, header_timeout_s: float, name: str = "http", **kw):
        self.header_timeout_s = header_timeout_s
        self.name = name
        self.shed = {"limit": 0, "headers": 0}
        self._logged_at = 0.0
        super().__init__(application, **kw)

    def readable(self):
        now = time.time()
        if now >= self.next_channel_cleanup:
            self.next_channel_cleanup = now + self.adj.cleanup_interval
            self.maintenance(now)
        if not self.accepting:
            return False
        # At the limit, accept only if a connection can be spared for the new one; else the backlog holds it.
        return len(self.active_channels) < self.adj.connection_limit or self._victim() is not None

    def handle_accept(self):
        for _ in range(ACCEPT_BURST):
            if len(self.active_channels) >= self.adj.connection_limit and not self._make_room():
                return
            try:
                accepted = self.accept()
            except OSError:
                return
            if accepted is None:  # the backlog is empty
                return
            conn, addr = accepted
            try:
                self.set_socket_options(conn)
            except OSError:  # the peer has gone already
                conn.close()
                continue
            self.channel_class(self, conn, self.fix_addr(addr), self.adj, map=self._map)

    def maintenance(self, now):
        super().maintenance(now)  # idle kept-alive connections (channel_timeout)
        cutoff = now - self.header_timeout_s
        for channel in list(self.active_channels.values()):
            since = getattr(channel, "headers_since", None)
            if since is not None and since < cutoff and channel.can_spare():
                channel.will_close = True  # the loop closes it on its next pass
                self._count("headers")

    def _victim(self) -> SheddingChannel | None:
        spare = (c for c in self.active_channels.values() if isinstance(c, SheddingChannel) and c.can_spare())
        return min(spare, key=SheddingChannel.shed_order, default=None)

    def _make_room(self) -> bool:
        victim = self._victim()
        if victim is None:
            return False
        victim.handle_close()
        self._count("limit")
        return True

    def _count(self, reason: str) -> None:
        self.shed[reason] += 1
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY_S:
            self._logged_at = now
            log.warning("http connections shed", extra={
                "listener": self.name, "at_limit": self.shed["limit"], "slow_headers": self.shed["headers"],
                "limit": self.adj.connection_limit, "header_timeout_s": self.header_timeout_s})
