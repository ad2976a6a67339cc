"""Drive a fleet rollout: one layered deployment, or waves created one after the other, each behind the
previous wave's gate. Every step is idempotent, so re-running the same command resumes where it stopped."""

from __future__ import annotations

import time
from typing import Any, Callable

from .errors import EXIT_DEVICES_FAILED, EXIT_OK, EXIT_TIMEOUT, UsageError
from .fleet_status import counts, progress_text, render, watch
from .rollout import Rollout, assign_wave, fleet_waves, gate, wave_states
from .wave_tagging import Tagging, wait_for_earlier_jobs


def _check_existing(existing: Any, rollout: Rollout) -> None:
    version = (existing.labels or {}).get("model-version")
    if version is not None and version != rollout.version:
        raise UsageError(f"deployment {existing.id} already exists for model version {version}; a configuration's "
                         f"content cannot change, so publish version {rollout.version} under a new --name")


def _single(hub: Any, rollout: Rollout, say: Callable[[str], None]) -> int:
    existing = hub.configuration(rollout.name)
    if existing is not None:
        _check_existing(existing, rollout)
        say(f"deployment {rollout.name} already exists for version {rollout.version}: nothing to do")
        return EXIT_OK
    hub.create_configuration(rollout.configuration(0))
    say(f"created deployment {rollout.name}: model {rollout.version} -> module {rollout.module} on every device "
        f"where {rollout.fleet} (priority {rollout.priority})")
    return EXIT_OK


def run(hub: Any, rollout: Rollout, wait: bool, timeout_s: float, poll_s: float = 2.0,
        say: Callable[[str], None] = print, tag_with: str = "auto") -> int:
    """Exit code: 0 created (or waiting for a gate without --wait), 1 a gate was refused or a device
    failed, 3 the hub refused (a tagging job failed), 4 --wait (or a tagging job) ran out of time."""
    if not rollout.waves:
        return _single(hub, rollout, say)
    deadline = time.monotonic() + timeout_s
    tagging = Tagging(tag_with, poll_s, deadline, say)
    if tag_with != "twins":
        wait_for_earlier_jobs(hub, rollout.name, tagging)  # before reading who is tagged
    waves = fleet_waves(hub, rollout)
    if not waves:
        raise UsageError(f"no device matches --fleet {rollout.fleet!r}")

    def waiter(fetch, decided):
        states, _ = watch(fetch, max(0.0, deadline - time.monotonic()), poll_s, decided)
        return states

    for wave, percent in enumerate(rollout.waves, start=1):
        existing = hub.configuration(rollout.config_id(wave))
        if existing is not None:  # created by an earlier run: keep it, tag devices that joined since
            _check_existing(existing, rollout)
            tagged = assign_wave(hub, rollout, waves, wave, tagging)
            say(f"wave {wave}: {existing.id} exists" + (f"; {len(tagged)} new devices tagged" if tagged else ""))
            continue
        if wave > 1:
            verdict = gate(hub, rollout, waves, wave - 1, waiter if wait else None)
            say(verdict.describe())
            if not verdict.passed:
                return _stopped(rollout, verdict, wave, wait, say)
        assign_wave(hub, rollout, waves, wave, tagging)
        hub.create_configuration(rollout.configuration(wave))
        members = sum(1 for w in waves.values() if w == wave)
        say(f"wave {wave}: created {rollout.config_id(wave)} for {members} device(s) "
            f"(up to {percent}% of {len(waves)}), target: {rollout.condition(wave)}")
    if not wait:
        say(f"all waves created; watch: python -m deployment status --deployment {rollout.name} --wait")
        return EXIT_OK
    last = len(rollout.waves)
    states, finished = watch(lambda: wave_states(hub, rollout, waves, last), max(0.0, deadline - time.monotonic()),
                             poll_s, label=f"wave {last}: ")
    say(render(states))
    say(progress_text(states, f"wave {last}: "))
    if counts(states)["failed"]:
        return EXIT_DEVICES_FAILED
    return EXIT_OK if finished else EXIT_TIMEOUT


def _stopped(rollout: Rollout, verdict: Any, wave: int, wait: bool, say: Callable[[str], None]) -> int:
    if verdict.impossible:
        say(render(verdict.states))
        say(f"gate refused: wave {wave - 1} cannot reach {rollout.gate:.0%}; wave {wave} was NOT started. "
            f"Fix the failing devices (or publish a fixed model under a new --name), then re-run.")
        return EXIT_DEVICES_FAILED
    if wait:
        say(render(verdict.states))
        say(f"timed out waiting for wave {wave - 1} to reach the gate; wave {wave} was NOT started; re-run to resume")
        return EXIT_TIMEOUT
    say(f"wave {wave} waits for wave {wave - 1} to reach the gate: re-run this command later, or add --wait")
    return EXIT_OK
