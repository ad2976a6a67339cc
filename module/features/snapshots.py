"""Feature history snapshots for the running agent: restore at start, write periodically and at stop."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from . import snapshot
from .state import FeatureState

log = logging.getLogger(__name__)


def owner() -> str:
    """Whose history a snapshot holds: this module on this device (IoT Edge's variables), else "local"."""
    device, module = os.environ.get("IOTEDGE_DEVICEID"), os.environ.get("IOTEDGE_MODULEID")
    return f"{device}/{module}" if device and module else "local"


class Snapshots:
    def __init__(self, state: FeatureState, path: Path, every_s: float):
        self.state, self.path, self.every_s = state, Path(path), every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        snapshot.load(self.state, self.path, owner())
        if self.every_s > 0:
            self._thread = threading.Thread(target=self._run, name="feature-snapshots", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.save()

    def save(self) -> None:
        if not self.state.partitions and not self.path.exists():
            return
        try:
            self.state.expire()
            snapshot.save(self.state, self.path, owner())
        except OSError as exc:  # a full disk must not stop scoring; the next snapshot tries again
            log.error("feature snapshot not written", extra={"path": str(self.path), "error": str(exc)})

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.save()
