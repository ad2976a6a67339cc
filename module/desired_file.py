"""The local desired-state file: the twin's desired properties from a YAML/JSON file, watched for changes.

It feeds the same handler as the twin, so everything the twin can do is testable without Azure.
Each change is handed over as a whole document (like the twin after a reconnect) with a growing
`$version`, so the reconciler's level-triggered logic is the same for both sources.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from pathlib import Path
from typing import Callable

from . import safe_yaml

log = logging.getLogger(__name__)

#: A desired document mirrors a twin (32 KB of desired properties); far beyond that it is a mistake.
MAX_BYTES = 1 << 20
#: How long a changed file must stay unchanged before it is applied.
SETTLE_S = 0.02


class DesiredFile:
    def __init__(
        self,
        path: Path,
        on_desired: Callable[[dict], None],
        on_error: Callable[[str | None], None],
        poll_s: float = 1.0,
    ):
        self.path = Path(path)
        self._on_desired = on_desired
        self._report_error = on_error
        self._poll_s = poll_s
        self._digest: str | None = None
        self._version = 0
        self._failed: str | bool = False
        """The error last reported, False when the file last read fine."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="desired-file", daemon=True)

    def _on_error(self, message: str) -> None:
        if self._failed == message:  # an unreadable file stays unreadable each poll: report it once
            return
        self._failed = message
        self._report_error(message)

    def start(self) -> None:
        if not self.path.exists():  # not an error (it may be written later), but a typo should be visible
            log.warning("desired file does not exist yet; watching for it", extra={"path": str(self.path)})
        self.check()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self._poll_s):
            try:
                self.check()
            except Exception as exc:  # the watcher must outlive any file: the next edit may fix it
                log.exception("desired file check failed", extra={"path": str(self.path)})
                self._on_error(f"{self.path}: {type(exc).__name__}: {exc}")

    def _settled(self, raw: bytes) -> bool:
        """The same bytes a moment later. `echo ... > file` truncates before it writes: read in between,
        the file is empty, which is a valid document that deletes every section."""
        time.sleep(SETTLE_S)
        try:
            return self.path.read_bytes() == raw
        except OSError:
            return False

    def check(self) -> None:
        """Read the file when its bytes changed; a bad file is reported (on_error(message)) and changes
        nothing; the next good one clears the report (on_error(None))."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            self._on_error(f"cannot read {self.path}: {exc.strerror}")
            return
        digest = hashlib.sha256(raw).hexdigest()
        if digest == self._digest:
            return
        if not self._settled(raw):
            return  # still being written: the next poll reads it whole
        self._digest = digest
        if len(raw) > MAX_BYTES:
            self._on_error(f"{self.path} is {len(raw)} bytes, over {MAX_BYTES} (a twin's desired properties are 32 KB)")
            return
        try:
            doc = safe_yaml.load(raw) or {}
        except safe_yaml.YamlRefused as exc:
            self._on_error(f"{self.path}: {exc}")
            return
        if not isinstance(doc, dict):
            self._on_error(f"{self.path}: expected an object of desired sections at the top")
            return
        if self._failed:
            self._failed = False
            self._report_error(None)
        self._version += 1
        doc = {**doc, "$version": doc.get("$version", self._version)}
        log.info("desired file changed", extra={"path": str(self.path), "desired_version": doc["$version"]})
        try:
            self._on_desired(doc, whole=True)
        except Exception as exc:  # the watcher must keep watching: the next edit may fix it
            log.exception("desired document failed", extra={"path": str(self.path)})
            self._on_error(f"{self.path}: {type(exc).__name__}: {exc}")
