"""Polling for "eventually": the timeout only guards against a hang, it never asserts a speed."""

from __future__ import annotations

import time
from typing import Callable


def wait_for(check: Callable[[], object], what: str = "condition", timeout: float = 30.0,
             interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)
