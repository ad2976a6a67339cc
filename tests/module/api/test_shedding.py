"""Load shedding against a real waitress server: idle sockets and a slowloris do not lock a good client out."""

from __future__ import annotations

import http.client
import resource
import socket
import threading
import time

from flask import Flask

from module.api.server import HttpServer
from tests.helpers.net import loopback_address

IDLE_SOCKETS = 10_000
SLOWLORIS = 300
GOOD_REQUESTS = 200


def _raise_nofile(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft >= wanted, f"RLIMIT_NOFILE hard limit {hard} is below the {wanted} this test needs"


def _open_nonblocking(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.connect_ex((host, port))  # in progress: the kernel completes it, the test does not wait
    return sock


def _slowloris(host: str, port: int, stop: threading.Event, opened: list) -> None:
    """300 connections that send a header line now and then and never finish their headers."""
    socks = []
    for _ in range(SLOWLORIS):
        s = _open_nonblocking(host, port)
        socks.append(s)
    opened.extend(socks)
    time.sleep(0.2)
    for s in socks:
        try:
            s.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
        except OSError:
            pass
    while not stop.wait(0.5):
        for i, s in enumerate(socks):
            try:
                s.send(b"X-a: b\r\n")
            except OSError:  # shed: reconnect, as an attacker would
                s.close()
                socks[i] = _open_nonblocking(host, port)
                opened.append(socks[i])


def _good_client(host: str, port: int, results: list, stop: threading.Event) -> None:
    for _ in range(GOOD_REQUESTS):
        if stop.is_set():
            return
        started = time.monotonic()
        try:
            conn = http.client.HTTPConnection(host, port, timeout=2.0)
            conn.request("GET", "/ping")
            ok = conn.getresponse().read() == b"pong"
            conn.close()
        except OSError:
            ok = False
        results.append((ok, time.monotonic() - started))
        time.sleep(0.02)


def test_idle_sockets_and_slowloris_do_not_lock_a_good_client_out():
    _raise_nofile(IDLE_SOCKETS + 4 * SLOWLORIS + 1000)
    app = Flask("shedding")
    app.add_url_rule("/ping", "ping", lambda: "pong")
    host = loopback_address()
    server = HttpServer(app, host, 0, threads=4, max_body_bytes=1 << 16, max_connections=128,
                        idle_timeout_s=5, header_timeout_s=2)
    server.start()
    stop = threading.Event()
    opened: list[socket.socket] = []
    try:
        attackers = threading.Thread(target=_slowloris, args=(server.host, server.port, stop, opened), daemon=True)
        attackers.start()
        idle = [_open_nonblocking(server.host, server.port) for _ in range(IDLE_SOCKETS)]
        opened.extend(idle)
        results: list = []
        _good_client(server.host, server.port, results, stop)
        stop.set()
        attackers.join(timeout=5)
        answered = [t for ok, t in results if ok]
        assert len(answered) >= 0.95 * GOOD_REQUESTS, f"{len(answered)} of {GOOD_REQUESTS} answered"
        answered.sort()
        p99 = answered[int(0.99 * (len(answered) - 1))]
        assert p99 < 1.0, f"p99 {p99:.3f} s"
        assert server._server.shed["limit"] > 0  # the limit was reached and connections were shed
    finally:
        stop.set()
        for s in opened:
            s.close()
        server.stop()
