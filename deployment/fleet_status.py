"""What devices report about their model: one row per module twin (desired vs reported version, status,
error), sorted into active / failed / pending, watched until every device settles or time runs out."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from .hub import QUERY_PAGE_SIZE
from .tables import ProgressLine, bar, table

ACTIVE, FAILED, PENDING = "active", "failed", "pending"
IN_CHUNK = 100  # device ids per `deviceId IN [...]` query, to keep each query short


@dataclass(frozen=True)
class ModuleState:
    device: str
    module: str
    desired_version: str | None
    version: str | None
    status: str | None
    error: str | None
    bytes_fetched: int | None
    wave: int | None = None

    @property
    def outcome(self) -> str:
        """active: runs the desired version; failed: reported failure; pending: anything else so far."""
        if self.status == "active" and self.version == self.desired_version and self.version is not None:
            return ACTIVE
        if self.status == "failed":
            return FAILED
        return PENDING


def _props(twin: Any, side: str) -> dict:
    properties = getattr(twin, "properties", None)
    return (getattr(properties, side, None) or {}) if properties is not None else {}


def from_twin(twin: Any, desired_version: str | None = None, wave: int | None = None) -> ModuleState:
    """A row from a module twin; `desired_version` overrides the twin's own (a deployment's version)."""
    desired = _props(twin, "desired").get("model") or {}
    reported = _props(twin, "reported").get("model") or {}
    want = desired_version if desired_version is not None else desired.get("version")
    return ModuleState(
        device=twin.device_id, module=twin.module_id,
        desired_version=None if want is None else str(want),
        version=None if reported.get("version") is None else str(reported["version"]),
        status=reported.get("status"), error=reported.get("error"),
        bytes_fetched=reported.get("bytes_fetched"), wave=wave,
    )


def quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def module_states(hub: Any, module: str, devices: dict[str, int | None], version: str | None,
                  population: int | None = None) -> list[ModuleState]:
    """Rows for `module` on each device (device id -> wave); a device whose module twin does not exist yet
    shows as pending with status 'no module twin'. `population` (how many devices carry the module, when
    known) picks the cheaper plan: IoT Hub throttles queries per call (an S1 unit allows 20 a minute), so a
    wave of 90,000 devices costs 900 `IN [...]` queries but, in a fleet of 100,000, 100 pages of one
    query over the whole module collection."""
    ids = sorted(devices)
    queries = -(-len(ids) // IN_CHUNK)
    whole = population is not None and -(-population // QUERY_PAGE_SIZE) < queries
    found: dict[str, ModuleState] = {}
    for query in [_all_of(module)] if whole else _chunked(module, ids):
        for twin in hub.query(query):
            if twin.device_id in devices:
                found[twin.device_id] = from_twin(twin, version, devices[twin.device_id])
    return [found.get(d) or ModuleState(d, module, version, None, "no module twin", None, None, devices[d])
            for d in ids]


def _all_of(module: str) -> str:
    return f"SELECT * FROM devices.modules WHERE moduleId = {quoted(module)}"


def _chunked(module: str, ids: list[str]) -> Iterator[str]:
    for start in range(0, len(ids), IN_CHUNK):
        chunk = ", ".join(quoted(d) for d in ids[start:start + IN_CHUNK])
        yield f"{_all_of(module)} AND deviceId IN [{chunk}]"


def counts(states: Iterable[ModuleState]) -> Counter:
    return Counter(s.outcome for s in states)


def progress_text(states: list[ModuleState], label: str = "") -> str:
    c = counts(states)
    total = len(states)
    return (f"{label}{bar(c[ACTIVE] + c[FAILED], total)} {c[ACTIVE]}/{total} active, "
            f"{c[FAILED]} failed, {c[PENDING]} pending")


def render(states: list[ModuleState]) -> str:
    with_wave = any(s.wave is not None for s in states)
    headers = ["DEVICE", "MODULE"] + (["WAVE"] if with_wave else []) + \
        ["DESIRED", "REPORTED", "STATUS", "BYTES", "RESULT", "ERROR"]
    rows = [[s.device, s.module] + ([s.wave] if with_wave else []) +
            [s.desired_version, s.version, s.status, s.bytes_fetched, s.outcome, s.error] for s in states]
    return table(headers, rows)


def settled(states: list[ModuleState]) -> bool:
    return all(s.outcome != PENDING for s in states)


def watch(fetch: Callable[[], list[ModuleState]], timeout_s: float, poll_s: float = 2.0,
          done: Callable[[list[ModuleState]], bool] = settled, label: str = "",
          progress: ProgressLine | None = None) -> tuple[list[ModuleState], bool]:
    """Poll `fetch` until `done` or the timeout; (last states, True when done before the timeout)."""
    progress = progress or ProgressLine()
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            states = fetch()
            progress.update(progress_text(states, label))
            if done(states):
                return states, True
            if time.monotonic() >= deadline:
                return states, False
            time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
    finally:
        progress.done()
