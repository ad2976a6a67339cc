"""The fleet bench section on a tiny fleet: it runs end to end and its counts are the ones it claims
(jobs: a few calls whatever the size; the per-device loop: one tagging call per device)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench import fleet_scale
from bench.context import Context
from tests.bench.test_bench_smoke import REPO


def _rows(result):
    return {(r["case"], r["subject"]): r["metrics"] for r in result["rows"]}


def test_a_tiny_fleet_measures_jobs_against_the_loop_and_labels_the_scaled_row(tmp_path):
    result = fleet_scale.run(Context(True, tmp_path), devices=240, loop_devices=120)
    rows = _rows(result)
    jobs = rows[("240 devices, waves 1,10,100", "IoT Hub jobs (--tag-with jobs)")]
    loop = rows[("120 devices, waves 1,10,100", "per-device loop (--tag-with twins)")]
    scaled = rows[("240 devices, waves 1,10,100", "per-device loop, SCALED")]
    assert loop["tag_calls"] == 120 and scaled["tag_calls"] == 240  # one twin update per device
    assert jobs["jobs"] == 3 and jobs["tag_calls"] < 20  # create + polls per wave, not per device
    assert jobs["calls"] < loop["calls"] and jobs["bytes"] > 0 and jobs["wall_s"] > 0
    note = next(r for r in result["rows"] if r["subject"] == "per-device loop, SCALED")["note"]
    assert note == "measured on 120 devices, x2"
    assert "fewer" in result["notes"][0]


@pytest.mark.slow
def test_the_script_prints_its_table(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bench.fleet_scale", "--devices", "60", "--loop-devices", "60"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| 60 devices, waves 1,10,100 | per-device loop (--tag-with twins) |" in done.stdout
