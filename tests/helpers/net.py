"""Loopback addresses and free ports, unique per pytest-xdist worker so parallel tests never collide."""

from __future__ import annotations

import itertools
import os
import socket
import threading
import zlib

_lock = threading.Lock()
_counter = itertools.count(1)


def _worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    digits = "".join(ch for ch in worker if ch.isdigit())
    return int(digits or 0)


def _run_index() -> int:
    """Differs between pytest runs on one machine (xdist's run id, else this process), so two runs don't collide."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or str(os.getpid())
    return zlib.crc32(run.encode()) % 250


def loopback_address() -> str:
    """A fresh 127.x.y.z: 127.<10 + worker>.<run>.<2 + n % 250>.

    Servers that need a fixed port (mosquitto on 8883, which the SDK dials) get an address of their own.
    """
    with _lock:
        n = next(_counter)
    return f"127.{10 + _worker_index()}.{_run_index()}.{2 + n % 250}"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_listening(host: str, port: int, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")
