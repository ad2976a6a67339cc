"""The stand-in's jobs engine (IoT Hub jobs v2, scheduleUpdateTwin): a job is stored as `queued`, then a
worker runs jobs one at a time (S1's limit on concurrent jobs), `running` while it patches every device
twin its queryCondition matched at start, at a configurable device rate, counting devices in its
deviceJobStatistics, and ends `completed` (or `failed` with a failureReason, on command)."""

from __future__ import annotations

import copy
import threading
import time
from datetime import datetime, timezone
from typing import Any

from tests.helpers.iothub_query import QueryError, compile_where

TERMINAL = ("completed", "failed", "cancelled")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


class JobError(ValueError):
    """A job request the hub refuses (400)."""


class JobEngine:
    def __init__(self, state: Any):
        self.state = state
        self.jobs: dict[str, dict] = {}
        #: Devices patched per second (None: as fast as the engine runs, like an S3 hub at rest).
        self.device_rate: float | None = None
        #: Set by a test (fail_job): a job whose id starts with a prefix fails after N devices, with a reason.
        self.failing_jobs: dict[str, tuple[int, str]] = {}
        #: Devices on which a job's twin update fails (the device counts as failed, the job completes).
        self.failing_devices: set[str] = set()
        self._wake = threading.Condition()
        self._stopped = False
        self._worker = threading.Thread(target=self._run, daemon=True)
        self._worker.start()

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify_all()

    def fail_job(self, id_prefix: str, after_devices: int, reason: str) -> None:
        """The next job whose id starts with `id_prefix` ends `failed` after `after_devices` devices."""
        self.failing_jobs[id_prefix] = (after_devices, reason)

    def create(self, job_id: str, body: dict) -> dict:
        if body.get("type") != "scheduleUpdateTwin":
            raise JobError(f"the stand-in runs only scheduleUpdateTwin jobs, not {body.get('type')!r}")
        if body.get("jobId") not in (None, job_id):
            raise JobError(f"jobId {body.get('jobId')!r} in the body differs from {job_id!r} in the path")
        twin = body.get("updateTwin") or {}
        if not twin.get("tags") and not (twin.get("properties") or {}).get("desired"):
            raise JobError("updateTwin needs tags or properties.desired")
        try:
            compile_where(body.get("queryCondition") or "")
        except QueryError as exc:
            raise JobError(f"queryCondition: {exc}") from None
        job = {"jobId": job_id, "type": "scheduleUpdateTwin", "queryCondition": body["queryCondition"],
               "updateTwin": copy.deepcopy(twin), "createdTime": _now(), "startTime": body.get("startTime") or _now(),
               "maxExecutionTimeInSeconds": body.get("maxExecutionTimeInSeconds") or 3600, "status": "queued",
               "deviceJobStatistics": {"deviceCount": 0, "failedCount": 0, "succeededCount": 0,
                                       "runningCount": 0, "pendingCount": 0}}
        with self._wake:
            self.jobs[job_id] = job
            self._wake.notify_all()
            return copy.deepcopy(job)  # under the lock: the worker may already be updating it

    def get(self, job_id: str) -> dict | None:
        with self._wake:
            job = self.jobs.get(job_id)
            return copy.deepcopy(job) if job else None

    def query(self, job_type: str | None, status: str | None) -> list[dict]:
        with self._wake:
            return [copy.deepcopy(j) for j in self.jobs.values()
                    if (job_type in (None, j["type"])) and (status in (None, j["status"]))]

    def _next(self) -> dict | None:
        with self._wake:
            while not self._stopped:
                queued = [j for j in self.jobs.values() if j["status"] == "queued"]
                if queued:
                    queued[0]["status"] = "running"
                    return queued[0]
                self._wake.wait(0.5)
        return None

    def _run(self) -> None:
        while (job := self._next()) is not None:
            self._execute(job)

    def _execute(self, job: dict) -> None:
        matches = compile_where(job["queryCondition"])
        with self.state.lock:
            targets = [d for d, twin in self.state.devices.items() if matches(twin)]
        stats = job["deviceJobStatistics"]
        with self._wake:  # every change to a stored job under the lock that get/query copy it under
            stats.update(deviceCount=len(targets), pendingCount=len(targets))
        prefix = next((p for p in self.failing_jobs if job["jobId"].startswith(p)), None)
        failure = self.failing_jobs.pop(prefix) if prefix is not None else None
        started = time.monotonic()
        patch = {k: v for k, v in job["updateTwin"].items() if k in ("tags", "properties")}
        for done, device_id in enumerate(targets):
            if failure and done >= failure[0]:
                with self._wake:
                    job.update(status="failed", failureReason=failure[1], endTime=_now())
                return
            if self.device_rate:
                time.sleep(max(0.0, started + done / self.device_rate - time.monotonic()))
            with self.state.lock:
                twin = self.state.devices.get(device_id)
                ok = twin is not None and device_id not in self.failing_devices
                if ok:
                    self.state.patch_twin(twin, copy.deepcopy(patch))
            with self._wake:
                stats["pendingCount"] -= 1
                stats["succeededCount" if ok else "failedCount"] += 1
        with self._wake:
            job.update(status="completed", endTime=_now())
