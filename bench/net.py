"""Loopback addresses of the benchmark's own: 127.99.<pid>.<n>, apart from the ranges the tests use.

mosquitto listens on the fixed port 8883 (the SDK dials it), so each broker needs an address of its own.
"""

from __future__ import annotations

import itertools
import os
import socket
import time

_counter = itertools.count(2)


def loopback_address() -> str:
    n = next(_counter)
    return f"127.99.{os.getpid() % 250}.{n % 250 + 2}"


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_listening(host: str, port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")
