"""`status`: per device, the model version and status the module reports, for one device or for every
device a deployment (all its waves) targets; --wait shows progress until every device settles."""

from __future__ import annotations

import argparse
from typing import Any, Callable

from ..errors import EXIT_DEVICES_FAILED, EXIT_OK, EXIT_TIMEOUT, UsageError
from ..fleet_status import FAILED, ModuleState, counts, from_twin, module_states, progress_text, quoted, render, watch
from ..hub import ENV_CONNECTION_STRING, Hub, parse_connection_string
from ..hub_retry import RetryPolicy


def register(subparsers) -> None:
    p = subparsers.add_parser("status", help="reported model version and status per device", description=__doc__)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--device", help="one device")
    target.add_argument("--deployment", metavar="NAME", help="every device a deployment (or its waves) targets")
    p.add_argument("--module", help="module id (with --device; default: every module with a model section)")
    p.add_argument("--hub-connection-string", metavar="S", help=f"service connection string (or ${ENV_CONNECTION_STRING})")
    p.add_argument("--throttle-wait", type=float, default=600.0, metavar="S",
                   help="how long one hub call may wait out 429 throttling (Retry-After) before giving up (600 s)")
    p.add_argument("--wait", action="store_true", help="poll until every device is active or failed")
    p.add_argument("--timeout", type=float, default=900.0, metavar="S", help="how long --wait waits (900 s)")
    p.add_argument("--poll", type=float, default=5.0, metavar="S", help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help="one JSON document on stdout (a row per device); prose on stderr")
    p.set_defaults(func=run)


def device_states(hub: Hub, device: str, module: str | None) -> list[ModuleState]:
    if module:
        return [from_twin(hub.module_twin(device, module))]
    query = (f"SELECT * FROM devices.modules WHERE deviceId = {quoted(device)} AND "
             "(IS_DEFINED(properties.desired.model) OR IS_DEFINED(properties.reported.model))")
    return sorted((from_twin(t) for t in hub.query(query)), key=lambda s: s.module)


def deployment_configs(hub: Hub, name: str) -> list[Any]:
    """The deployment itself, or its waves name-w1, name-w2, ... as publish --waves creates them."""
    single = hub.configuration(name)
    if single is not None:
        return [single]
    found, wave = [], 1
    while (config := hub.configuration(f"{name}-w{wave}")) is not None:
        found.append(config)
        wave += 1
    if not found:
        raise UsageError(f"no deployment named {name} (nor waves {name}-w1, ...) on this hub")
    return found


def _target(config: Any) -> tuple[str, str | None]:
    """(module id, model version) from a layered deployment's content."""
    content = (config.content.modules_content if config.content else None) or {}
    for module, paths in content.items():
        if not module.startswith("$") and "properties.desired.model" in paths:
            return module, str(paths["properties.desired.model"].get("version"))
    raise UsageError(f"deployment {config.id} sets no module's desired `model` section")


def deployment_states(hub: Hub, configs: list[Any]) -> list[ModuleState]:
    states: list[ModuleState] = []
    for config in configs:
        module, version = _target(config)
        wave = (config.labels or {}).get("wave")
        devices = {t.device_id: int(wave) if wave and wave != "0" else None
                   for t in hub.query(f"SELECT deviceId FROM devices WHERE {config.target_condition}")}
        states.extend(module_states(hub, module, devices, version))
    return states


#: Filled by report() for `--json` (main prints it): the last rows seen and their counts.
LAST: dict = {}


def report(states: list[ModuleState], finished: bool = True) -> int:
    from dataclasses import asdict

    c = counts(states)
    LAST.clear()
    LAST.update(devices=[{**asdict(s), "result": s.outcome} for s in states], finished=finished,
                counts={"total": len(states), "active": c["active"], "failed": c[FAILED], "pending": c["pending"]})
    print(render(states) if states else "no module reports a model section yet")
    print(progress_text(states))
    if counts(states)[FAILED]:
        return EXIT_DEVICES_FAILED
    return EXIT_OK if finished else EXIT_TIMEOUT


def _show(fetch: Callable[[], list[ModuleState]], wait: bool, timeout: float, poll: float) -> int:
    if not wait:
        return report(fetch())
    states, finished = watch(fetch, timeout, poll)
    return report(states, finished)


def watch_device(hub: Hub, device: str, module: str | None, timeout: float, poll: float) -> int:
    return _show(lambda: device_states(hub, device, module), True, timeout, poll)


def run(args: argparse.Namespace) -> int:
    LAST.clear()
    try:
        return _run(args)
    finally:
        if isinstance(getattr(args, "result", None), dict):
            args.result.update(LAST)


def _run(args: argparse.Namespace) -> int:
    hub = Hub(parse_connection_string(args.hub_connection_string), RetryPolicy(max_wait_s=args.throttle_wait))
    if args.device:
        return _show(lambda: device_states(hub, args.device, args.module), args.wait, args.timeout, args.poll)
    configs = deployment_configs(hub, args.deployment)
    return _show(lambda: deployment_states(hub, configs), args.wait, args.timeout, args.poll)
