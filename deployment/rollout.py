"""Fleet rollout through IoT Hub layered deployments, in waves: the CLI tags a growing share of the fleet
(tags.rollout.<name>.wave = k) and creates one configuration per wave targeting `<fleet> AND` that tag;
wave k+1 starts only when wave k's reported success rate reaches the gate. Re-running resumes."""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any, Callable

from .errors import UsageError
from .fleet_status import ACTIVE, FAILED, ModuleState, counts, module_states, quoted
from .twin_limits import check_desired
from .wave_tagging import Tagging, tag_devices

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,100}$")


@dataclass(frozen=True)
class Rollout:
    name: str
    fleet: str  # the fleet's target condition, e.g. tags.fleet='trucks'
    priority: int
    module: str
    sections: dict[str, dict]  # desired sections: model (+ scoring, upstream)
    waves: tuple[int, ...] = ()  # cumulative percentages, e.g. (1, 10, 100); empty: one deployment
    gate: float = 0.95

    def __post_init__(self) -> None:
        if not NAME.match(self.name):
            raise UsageError(f"--name {self.name!r}: use lowercase letters, digits and '-' (a configuration id)")
        if self.waves and (list(self.waves) != sorted(set(self.waves)) or self.waves[0] <= 0 or self.waves[-1] != 100):
            raise UsageError(f"--waves {self.waves}: increasing percentages ending at 100, e.g. 1,10,100")
        if not 0 < self.gate <= 1:
            raise UsageError(f"--gate {self.gate}: a success rate between 0 and 1, e.g. 0.95")
        check_desired(self.sections, f"deployment {self.name}")

    @property
    def version(self) -> str:
        return str(self.sections["model"]["version"])

    @property
    def tag_key(self) -> str:
        return self.name.replace("-", "_")  # '-' would read as minus in a query path

    def config_id(self, wave: int) -> str:
        return f"{self.name}-w{wave}" if self.waves else self.name

    def condition(self, wave: int) -> str:
        if not self.waves:
            return self.fleet
        return f"({self.fleet}) AND tags.rollout.{self.tag_key}.wave = {wave}"

    def configuration(self, wave: int) -> Any:
        """The layered deployment for one wave: only this module's desired sections, no $edgeAgent."""
        from azure.iot.hub.models import Configuration, ConfigurationContent, ConfigurationMetrics

        module = quoted(self.module)
        on_version = f"properties.reported.model.version = {quoted(self.version)}"
        queries = {
            "active": f"SELECT deviceId FROM devices.modules WHERE moduleId = {module} AND {on_version} "
                      "AND properties.reported.model.status = 'active'",
            "failed": f"SELECT deviceId FROM devices.modules WHERE moduleId = {module} "
                      "AND properties.reported.model.status = 'failed'",
        }
        content = {self.module: {f"properties.desired.{k}": v for k, v in self.sections.items()}}
        # Whether the hub merges or replaces at the path, a stale `url` beside new `inline` chunks (or the
        # reverse, after a direct publish) must not survive: the agent takes exactly one of them. The
        # bundler's section already pads with nulls; this keeps a hand-made section just as safe.
        model = dict(self.sections["model"])
        for key in ("url", "inline"):
            model.setdefault(key, None)
        content[self.module]["properties.desired.model"] = model
        return Configuration(
            id=self.config_id(wave), schema_version="1.0",
            labels={"rollout": self.name, "model-version": self.version, "wave": str(wave)},
            content=ConfigurationContent(modules_content=content), target_condition=self.condition(wave),
            priority=self.priority, metrics=ConfigurationMetrics(queries=queries))


def _order(name: str, device: str) -> str:
    """A stable, per-rollout shuffle: wave 1 is not always the alphabetically first devices."""
    return hashlib.sha256(f"{name}/{device}".encode()).hexdigest()


def _wave_of(tags: dict | None, key: str) -> int | None:
    wave = (((tags or {}).get("rollout") or {}).get(key) or {}).get("wave")
    return wave if isinstance(wave, int) else None


def fleet_waves(hub: Any, rollout: Rollout) -> dict[str, int | None]:
    """Every device matching the fleet condition -> the wave it is tagged with (None: not yet)."""
    return {twin.device_id: _wave_of(twin.tags, rollout.tag_key)
            for twin in hub.query(f"SELECT deviceId, tags FROM devices WHERE {rollout.fleet}")}


def assign_wave(hub: Any, rollout: Rollout, waves: dict[str, int | None], wave: int,
                tagging: Tagging | None = None) -> list[str]:
    """Tag untagged devices with `wave` until the first `waves[wave-1]` percent of the fleet is tagged
    (by twin updates or IoT Hub jobs, see wave_tagging)."""
    target = math.ceil(len(waves) * rollout.waves[wave - 1] / 100)
    already = sum(1 for w in waves.values() if w is not None and w <= wave)
    fresh = sorted((d for d, w in waves.items() if w is None), key=lambda d: _order(rollout.name, d))
    chosen = fresh[:max(0, target - already)]
    whole_rest = len(chosen) == len(fresh) and rollout.waves[wave - 1] == 100
    tag_devices(hub, rollout.name, rollout.fleet, rollout.tag_key, wave, chosen, whole_rest, tagging or Tagging())
    for device in chosen:
        waves[device] = wave
    return chosen


@dataclass(frozen=True)
class Gate:
    wave: int
    states: list[ModuleState]
    threshold: float

    @property
    def rate(self) -> float:
        return counts(self.states)[ACTIVE] / len(self.states) if self.states else 0.0

    @property
    def passed(self) -> bool:
        return bool(self.states) and self.rate >= self.threshold

    @property
    def impossible(self) -> bool:
        """Too many devices already failed for the rate ever to reach the gate."""
        best = (len(self.states) - counts(self.states)[FAILED]) / len(self.states) if self.states else 0.0
        return best < self.threshold

    def describe(self) -> str:
        c = counts(self.states)
        return (f"wave {self.wave}: {c[ACTIVE]}/{len(self.states)} active ({self.rate:.0%}), {c[FAILED]} failed; "
                f"gate {self.threshold:.0%}")


def wave_states(hub: Any, rollout: Rollout, waves: dict[str, int | None], wave: int) -> list[ModuleState]:
    members = {d: w for d, w in waves.items() if w == wave}
    return module_states(hub, rollout.module, members, rollout.version, population=len(waves))


Fetch = Callable[[], list[ModuleState]]
Waiter = Callable[[Fetch, Callable[[list[ModuleState]], bool]], list[ModuleState]]


def gate(hub: Any, rollout: Rollout, waves: dict[str, int | None], wave: int, wait: Waiter | None = None) -> Gate:
    """Wave `wave`'s gate, read once, or (with `wait`) polled until it passes or can no longer pass."""

    def fetch() -> list[ModuleState]:
        return wave_states(hub, rollout, waves, wave)

    def decided(states: list[ModuleState]) -> bool:
        verdict = Gate(wave, states, rollout.gate)
        return verdict.passed or verdict.impossible

    states = wait(fetch, decided) if wait else fetch()
    return Gate(wave, states, rollout.gate)
