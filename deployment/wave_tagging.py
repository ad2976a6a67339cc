"""Wave membership tags (tags.rollout.<name>.wave = k) written either one twin update per device or by
IoT Hub jobs (scheduleUpdateTwin with a query condition), so that tagging 100,000 devices is a handful
of calls the hub executes itself instead of 100,000 calls against its twin-update throttle.

Re-runs create no duplicate work: the devices to tag are read from the hub first (tagged ones are never
chosen again); every job condition also says `NOT is_defined(<the tag>)`, so a late job cannot move a
device to another wave; a job's id is derived from its condition and its devices, so a re-run that finds
the same work finds the same job (and waits for it) instead of creating a second; and a job an earlier
run left queued or running is waited for before anything new is chosen."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from .errors import EXIT_TIMEOUT, HubError, OperatorError
from .fleet_status import quoted
from .tables import ProgressLine, bar

#: With `auto`, a wave with more devices to tag than this goes by job: below it a job's create and polls
#: cost more calls (and seconds of the hub's job scheduling) than the twin updates themselves.
JOBS_FROM = 50
#: A job condition's length bound: IoT Hub documents no figure for a job's queryCondition, and its
#: query length limits are in kilobytes; 4,000 characters keeps each `deviceId IN [...]` well inside.
MAX_CONDITION_CHARS = 4000
JOB_MAX_SECONDS = 24 * 3600
TERMINAL = ("completed", "failed", "cancelled")
MODES = ("auto", "jobs", "twins")


@dataclass
class Tagging:
    mode: str = "auto"
    poll_s: float = 5.0
    deadline: float = float("inf")  # time.monotonic() by which a running job must have finished
    say: Callable[[str], None] = print
    jobs_created: int = 0


def tag_path(tag_key: str) -> str:
    return f"tags.rollout.{tag_key}.wave"


def _tag(tag_key: str, wave: int) -> dict:
    return {"rollout": {tag_key: {"wave": wave}}}


def conditions(fleet: str, tag_key: str, devices: list[str], whole_rest: bool) -> list[tuple[str, list[str]]]:
    """(job condition, its devices): one condition for 'every untagged device of the fleet' when the wave
    takes the whole rest, else `deviceId IN [...]` chunks each under MAX_CONDITION_CHARS."""
    untagged = f"NOT is_defined({tag_path(tag_key)})"
    if whole_rest:
        return [(f"({fleet}) AND {untagged}", devices)]
    chunks, current, length = [], [], 0
    overhead = len(f"deviceId IN [] AND {untagged}")
    for device in devices:
        item = quoted(device)
        if current and overhead + length + len(item) + 2 > MAX_CONDITION_CHARS:
            chunks.append(current)
            current, length = [], 0
        current.append(item)
        length += len(item) + 2
    if current:
        chunks.append(current)
    return [(f"deviceId IN [{', '.join(c)}] AND {untagged}", [d.strip("'").replace("''", "'") for d in c])
            for c in chunks]


def job_base_id(name: str, wave: int, condition: str, devices: list[str]) -> str:
    digest = hashlib.sha256((condition + "\n" + ",".join(sorted(devices))).encode()).hexdigest()[:16]
    return f"{name}-w{wave}-{digest}"


def tag_devices(hub: Any, name: str, fleet: str, tag_key: str, wave: int, devices: list[str], whole_rest: bool,
                tagging: Tagging) -> None:
    """Tag `devices` with `wave`, by twin updates or by jobs as `tagging.mode` says."""
    if not devices:
        return
    use_jobs = tagging.mode == "jobs" or (tagging.mode == "auto" and len(devices) > JOBS_FROM)
    if not use_jobs:
        progress = ProgressLine()
        try:
            for n, device in enumerate(devices, start=1):
                hub.patch_device_tags(device, _tag(tag_key, wave), None)
                if n % 100 == 0 or n == len(devices):
                    progress.update(f"wave {wave}: tagging {bar(n, len(devices))} {n:,}/{len(devices):,} twins")
        finally:
            progress.done()
        return
    for condition, members in conditions(fleet, tag_key, devices, whole_rest):
        _run_job(hub, name, wave, condition, members, tag_key, tagging)


def _stats(job: Any) -> tuple[int, int, int]:
    s = getattr(job, "device_job_statistics", None)
    return (getattr(s, "device_count", 0) or 0, getattr(s, "succeeded_count", 0) or 0,
            getattr(s, "failed_count", 0) or 0)


def _start_job(hub: Any, name: str, wave: int, condition: str, members: list[str], tag_key: str,
               tagging: Tagging) -> str:
    """The id of the job doing this work: an existing unfinished one, else a new one."""
    from azure.iot.hub.models import JobRequest, Twin

    base = job_base_id(name, wave, condition, members)
    attempt = 1
    while True:
        job_id = f"{base}-{attempt}"
        existing = hub.job(job_id)
        if existing is None:
            break
        if existing.status not in TERMINAL:
            tagging.say(f"wave {wave}: job {job_id} (same devices) is already {existing.status}: waiting for it")
            return job_id
        attempt += 1  # a finished earlier attempt left these very devices untagged: try again, new id
    request = JobRequest(job_id=job_id, type="scheduleUpdateTwin", query_condition=condition,
                         update_twin=Twin(tags=_tag(tag_key, wave), etag="*"),
                         start_time=datetime.now(timezone.utc), max_execution_time_in_seconds=JOB_MAX_SECONDS)
    try:
        hub.create_job(job_id, request)
    except HubError as exc:
        # The id is derived from the job's content, so a 409 means this very job exists: typically our
        # own create, answered by the hub but lost on the way back and re-sent by urllib3.
        if exc.status != 409 or hub.job(job_id) is None:
            raise
        tagging.say(f"wave {wave}: job {job_id} (same devices) already exists: waiting for it")
        return job_id
    tagging.jobs_created += 1
    return job_id


def _run_job(hub: Any, name: str, wave: int, condition: str, members: list[str], tag_key: str,
             tagging: Tagging) -> None:
    job_id = _start_job(hub, name, wave, condition, members, tag_key, tagging)
    job = wait_for_job(hub, job_id, wave, tagging)
    count, succeeded, failed = _stats(job)
    if job.status != "completed" or failed:
        reason = getattr(job, "failure_reason", None) or getattr(job, "status_message", None) or "no reason given"
        raise HubError(f"wave {wave}: tagging job {job_id} {job.status}: {reason}; {succeeded:,} of {count:,} "
                       f"devices tagged, {failed:,} failed. The wave's deployment was NOT created. Re-run to "
                       f"resume (tagged devices keep their wave); details: az iot hub job show --job-id {job_id}")
    tagging.say(f"wave {wave}: job {job_id} tagged {succeeded:,} device(s)")


def wait_for_job(hub: Any, job_id: str, wave: int, tagging: Tagging) -> Any:
    progress = ProgressLine()
    try:
        while True:
            job = hub.job(job_id)
            if job is None:
                raise HubError(f"wave {wave}: tagging job {job_id} vanished from the hub; re-run to resume")
            count, succeeded, failed = _stats(job)
            progress.update(f"wave {wave}: job {job_id} {job.status} {bar(succeeded + failed, count)} "
                            f"{succeeded:,}/{count:,} tagged, {failed:,} failed")
            if job.status in TERMINAL:
                return job
            if time.monotonic() >= tagging.deadline:
                raise OperatorError(f"wave {wave}: tagging job {job_id} still {job.status} ({succeeded:,}/{count:,}) "
                                    "when --timeout ran out; it goes on on the hub: re-run later to resume",
                                    EXIT_TIMEOUT)
            time.sleep(tagging.poll_s)
    finally:
        progress.done()


def wait_for_earlier_jobs(hub: Any, name: str, tagging: Tagging) -> bool:
    """Wait for this rollout's jobs an earlier (interrupted) run left queued or running; True if any."""
    earlier = [j for j in hub.active_jobs() if str(_field(j, "job_id", "jobId")).startswith(f"{name}-w")]
    for job in earlier:
        job_id = _field(job, "job_id", "jobId")
        tagging.say(f"job {job_id} from an earlier run is {_field(job, 'status', 'status')}: waiting for it")
        wait_for_job(hub, job_id, 0, tagging)
    return bool(earlier)


def _field(item: Any, attribute: str, key: str) -> Any:
    return item.get(key) if isinstance(item, dict) else getattr(item, attribute, None)
