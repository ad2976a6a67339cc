"""Section `fleet` (opt-in; also `python -m bench.fleet_scale [--devices N] [--loop-devices N]`): the
calls, bytes and wall time `publish --fleet --waves 1,10,100` needs to tag a large fleet through IoT Hub
jobs, against the per-device twin-update loop (`--tag-with twins`), in the same run, against the IoT Hub
stand-in (HTTPS on loopback, devices that report the model active at once, no throttle: the tool's own
cost, not the hub's).

The CLI runs as a subprocess (its own interpreter, as an operator runs it); the stand-in counts every
request and its bytes (request line, headers and body each way, before TLS). The per-device loop at
100,000 devices would take over ten minutes here, so the full run measures it on `--loop-devices`
(10,000) and scales its calls, bytes and seconds to the fleet size in a row labelled as scaled; the jobs
run is measured at both sizes, so the 10,000-device rows compare measured with measured. The last
column is a floor no tool can beat: the time IoT Hub's published throttles for one S1 unit (twin updates
50/s, job device operations 10/s, queries 20/min, configurations 20/min) need for that call mix."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from .context import Context, row

NAME = "fleet"
TITLE = "Fleet publish at scale: IoT Hub jobs vs one twin update per device (IoT Hub stand-in)"
MODULE = "edgemodelagent"
FULL_DEVICES, FULL_LOOP_DEVICES, QUICK_DEVICES = 100_000, 10_000, 400
#: One S1 unit's throttles (docs: IoT Hub quotas and throttling), per second.
S1_PER_S = {"twin-updates": 50.0, "job-devices": 10.0, "queries": 20 / 60, "configurations": 20 / 60,
            "jobs": 100 / 60, "twin-reads": 100.0}


def _bundle(directory: Path) -> Path:
    """A small inline bundle in the bundler's format (the bench measures tagging, not payload bytes)."""
    import zstandard

    from deployment import bundling

    directory.mkdir(parents=True, exist_ok=True)
    model = b"fleet bench model " * 30
    manifest = {"version": "2", "format": "pickle", "sha256": hashlib.sha256(model).hexdigest(),
                "size": len(model), "file": "model.pkl"}
    payload = zstandard.ZstdCompressor(level=19).compress(model)
    (directory / "model.pkl").write_bytes(model)
    (directory / "payload.zst").write_bytes(payload)
    section, _ = bundling.desired_section(manifest, payload, None)
    (directory / "manifest.json").write_text(json.dumps(manifest))
    (directory / "desired.json").write_text(json.dumps({"model": section}))
    return directory


def _report_active(device: str, module: str, desired: dict) -> dict | None:
    model = desired.get("model")
    return {"model": {"version": model["version"], "status": "active"}} if model else None


def _hub_floor_s(requests: list, job_devices: int) -> float:
    from tests.helpers.iothub_throttle import operation_class

    per_class: dict[str, int] = {}
    for r in requests:
        per_class[operation_class(r.method, r.path)] = per_class.get(operation_class(r.method, r.path), 0) + 1
    per_class["job-devices"] = job_devices
    return max(n / S1_PER_S[c] for c, n in per_class.items() if c in S1_PER_S)


def measure(workdir: Path, devices: int, tag_with: str) -> dict:
    """One publish of a fresh fleet of `devices` trucks; the stand-in's counts and the wall time."""
    from tests.helpers.iothub_standin import IoTHubStandIn

    bundle = _bundle(workdir / "bundle")
    hub = IoTHubStandIn(workdir / f"hub-{tag_with}-{devices}")
    for n in range(devices):
        hub.state.add_device(f"truck-{n:06}", {"fleet": "trucks"}, (MODULE,))
    hub.state.on_desired = _report_active
    hub.start()
    env = {**os.environ, "REQUESTS_CA_BUNDLE": str(hub.ca_file), "IOTHUB_CONNECTION_STRING": hub.connection_string,
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    command = [sys.executable, "-m", "deployment", "publish", "--fleet", "tags.fleet='trucks'", "--name", "model-2",
               "--bundle", str(bundle), "--waves", "1,10,100", "--tag-with", tag_with, "--poll", "0.5",
               "--timeout", "3600"]
    log = workdir / f"publish-{tag_with}-{devices}.log"
    try:
        started = time.perf_counter()
        with log.open("w") as out:
            done = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=3600)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"publish --tag-with {tag_with} exited {done.returncode}: {log.read_text()[-800:]}")
        tagged = sum(1 for t in hub.state.devices.values() if "model_2" in (t["tags"].get("rollout") or {}))
        if tagged != devices:
            raise RuntimeError(f"{tagged} of {devices} devices tagged")
        requests = list(hub.requests)
        job_devices = sum(j["deviceJobStatistics"]["deviceCount"] for j in hub.state.jobs.jobs.values())
    finally:
        hub.stop()
    tag_calls = sum(1 for r in requests if (r.method == "PATCH" and "/modules/" not in r.path) or r.path.startswith("/jobs/"))
    return {"calls": len(requests), "tag_calls": tag_calls,
            "bytes": sum(r.request_bytes + r.response_bytes for r in requests), "wall_s": seconds,
            "s1_floor_s": _hub_floor_s(requests, job_devices), "jobs": len(hub.state.jobs.jobs)}


def _scaled(measured: dict, factor: float) -> dict:
    return {k: (v * factor if k in ("calls", "tag_calls", "bytes", "wall_s", "s1_floor_s") else v)
            for k, v in measured.items()}


def run(ctx: Context, devices: int | None = None, loop_devices: int | None = None) -> dict:
    devices = devices or (QUICK_DEVICES if ctx.quick else FULL_DEVICES)
    loop_devices = min(loop_devices or (devices if ctx.quick else FULL_LOOP_DEVICES), devices)
    work = ctx.folder(NAME)
    jobs_full = measure(work / "jobs-full", devices, "jobs")
    rows = [row(f"{devices:,} devices, waves 1,10,100", "IoT Hub jobs (--tag-with jobs)", jobs_full)]
    loop = measure(work / "loop", loop_devices, "twins")
    if loop_devices != devices:
        jobs_small = measure(work / "jobs-small", loop_devices, "jobs")
        rows.append(row(f"{loop_devices:,} devices, waves 1,10,100", "IoT Hub jobs (--tag-with jobs)", jobs_small))
        rows.append(row(f"{loop_devices:,} devices, waves 1,10,100", "per-device loop (--tag-with twins)", loop))
        factor = devices / loop_devices
        rows.append(row(f"{devices:,} devices, waves 1,10,100", "per-device loop, SCALED",
                        _scaled(loop, factor), f"measured on {loop_devices:,} devices, x{factor:g}"))
        loop_full = _scaled(loop, factor)
    else:
        rows.append(row(f"{devices:,} devices, waves 1,10,100", "per-device loop (--tag-with twins)", loop))
        loop_full = loop
    notes = [f"calls: jobs {jobs_full['calls']:,} vs per-device {loop_full['calls']:,.0f} "
             f"({loop_full['calls'] / jobs_full['calls']:.0f}x fewer); bytes {loop_full['bytes'] / jobs_full['bytes']:.0f}x "
             f"fewer; wall time {loop_full['wall_s'] / jobs_full['wall_s']:.1f}x shorter (same run)",
             "s1_floor_s: the time one S1 unit's published throttles need for the call mix (jobs execute at "
             "10 devices/s there, twin updates at 50/s: jobs save the tool's calls, not the hub's time)"]
    return {"rows": rows, "notes": notes, "devices": devices, "loop_devices": loop_devices}


def main(argv: list[str] | None = None) -> int:
    import tempfile

    from . import report

    p = argparse.ArgumentParser(prog="python -m bench.fleet_scale", description=__doc__.split("\n\n")[0])
    p.add_argument("--devices", type=int, default=FULL_DEVICES)
    p.add_argument("--loop-devices", type=int, default=FULL_LOOP_DEVICES,
                   help="fleet size the per-device loop is measured on (scaled up to --devices when smaller)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        result = run(Context(False, Path(tmp)), args.devices, args.loop_devices)
    print("\n".join(report.section_table(result) + [f"- {n}" for n in result["notes"]]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
