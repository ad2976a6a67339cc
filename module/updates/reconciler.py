"""The reconciler: level-triggered, one worker thread, the newest desired `model` section wins.

It keeps the desired section merged the way the twin merges it (nested objects merge, null deletes), so a
patch, a run of patches or the whole document after a reconnect all lead to the same section. Each change
is validated at once (an invalid one is reported and changes nothing); a valid one becomes the target,
and a target that differs from the job in progress cancels it (the fetch stops at the next chunk).
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from typing import Any, Callable

from ..errors import UpdateError
from ..reported import merge
from .fetch import Cancelled
from .section import ModelSection

log = logging.getLogger(__name__)

Apply = Callable[[ModelSection, Any, threading.Event], None]

#: A download that failed (link down past every retry) is tried again after this long, so a device that
#: was offline catches up without waiting for the next desired change or reconnect. Verification
#: failures are final: the same bytes would fail again.
RETRY_FAILED_DOWNLOAD_S = 300.0


class Reconciler:
    def __init__(self, parse: Callable[[dict], ModelSection], apply: Apply,
                 on_invalid: Callable[[UpdateError, Any], None], on_failed: Callable[[UpdateError, ModelSection, Any], None]):
        self._parse, self._apply, self._on_invalid, self._on_failed = parse, apply, on_invalid, on_failed
        self._merged: dict = {}
        self._target: tuple[ModelSection, Any] | None = None
        self._job: tuple[ModelSection, threading.Event] | None = None
        self._applied_version: int | None = None
        self._retry: tuple[ModelSection, Any, float] | None = None
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="model-updates", daemon=True)
        self._thread.start()

    def desired(self, patch: Any, version: Any, whole: bool = False) -> None:
        """Called from the twin's and the desired file's threads; never blocks on an update in progress.

        A patch merges over the section so far; with whole=True (a whole desired document) it replaces
        it, so chunk or canary keys that the hub deleted while the device was away do not linger here.
        """
        with self._cond:
            if isinstance(version, int) and self._applied_version is not None and version <= self._applied_version:
                log.debug("desired $version already applied", extra={"model_version": None, "desired_version": version})
                return
            if patch is None:
                # The twin deleted `model`: nothing more to do; the active model keeps serving.
                self._merged, self._target, self._retry = {}, None, None
                self._cancel_job(None)
                return
            if not isinstance(patch, dict):
                self._on_invalid(UpdateError(f"model: expected an object, got {type(patch).__name__}", "validate"), version)
                return
            merged = {} if whole else copy.deepcopy(self._merged)
            merge(merged, patch)
            self._merged = merged
            try:
                section = self._parse(merged)
            except UpdateError as exc:
                self._on_invalid(exc, version)
                return
            if self._job is not None and self._job[0] == section and not self._job[1].is_set():
                self._target = None  # already being applied; a newer queued target is dropped with it
                return
            self._target, self._retry = (section, version), None
            self._cancel_job(section)
            self._cond.notify_all()

    def retry(self) -> None:
        """Apply the current desired section again (after a failure, or a manual reload)."""
        with self._cond:
            if self._target is None and self._merged:
                try:
                    self._target = (self._parse(self._merged), None)
                except UpdateError:
                    return
                self._cond.notify_all()

    def _cancel_job(self, section: ModelSection | None) -> None:
        if self._job is not None and self._job[0] != section:
            self._job[1].set()

    def busy(self) -> bool:
        with self._cond:
            return self._job is not None or self._target is not None

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._target is None and not self._stopping:
                    self._wait_or_retry()
                if self._stopping:
                    return
                (section, version), self._target = self._target, None
                cancel = threading.Event()
                self._job = (section, cancel)
            self._work(section, version, cancel)

    def _wait_or_retry(self) -> None:
        if self._retry is None:
            self._cond.wait()
            return
        remaining = self._retry[2] - time.monotonic()
        if remaining > 0:
            self._cond.wait(remaining)
            return
        section, version, _ = self._retry
        self._target, self._retry = (section, version), None
        log.info("retrying a failed download", extra={"model_version": section.version})

    def _work(self, section: ModelSection, version: Any, cancel: threading.Event) -> None:
        try:
            self._apply(section, version, cancel)
        except Cancelled:
            log.info("update superseded", extra={"model_version": section.version})
        except UpdateError as exc:
            self._on_failed(exc, section, version)
            if exc.stage == "download" and not getattr(exc, "final", False):
                with self._cond:
                    if self._target is None:
                        self._retry = (section, version, time.monotonic() + RETRY_FAILED_DOWNLOAD_S)
        except Exception as exc:  # the worker must survive anything a model file can make a library raise
            log.exception("update failed unexpectedly", extra={"model_version": section.version})
            self._on_failed(UpdateError(f"{type(exc).__name__}: {exc}", "update"), section, version)
        else:
            with self._cond:
                if isinstance(version, int):
                    self._applied_version = max(version, self._applied_version or version)
        finally:
            with self._cond:
                self._job = None
                self._cond.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """For tests and shutdown: True once no job runs and none is queued."""
        with self._cond:
            return self._cond.wait_for(lambda: self._job is None and self._target is None, timeout)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cancel_job(None)
            self._cond.notify_all()
        self._thread.join(timeout=10)
