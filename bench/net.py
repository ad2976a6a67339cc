"""Loopback addresses of the benchmark's own: 127.99.<pid>.<n>, apart from the ranges the tests use.

mosquitto listens on the fixed port 8883 (the SDK dials it), so each broker needs an address of its own.
Free ports come from the tests' helpers, which the benchmark shares.
"""

from __future__ import annotations

import itertools
import os

from tests.helpers.net import free_port

__all__ = ["free_port", "loopback_address"]

_counter = itertools.count(2)


def loopback_address() -> str:
    n = next(_counter)
    return f"127.99.{os.getpid() % 250}.{n % 250 + 2}"
