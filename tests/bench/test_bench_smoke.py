"""`python -m bench --quick` runs every section end to end and writes a JSON with sane numbers.

Speed targets are reported by the benchmark, never asserted here: this only keeps the harness from rotting.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SECTIONS = ("edgehub", "http", "compiled", "swap", "bytes", "memory", "detectors", "features")


def numbers(metric) -> list[float]:
    if isinstance(metric, dict):
        return [v for v in (metric["median"], metric["min"], metric["max"]) if v is not None] + metric["trials"]
    return [] if metric is None else [metric]


def metric(doc: dict, section: str, case_part: str, subject: str, key: str):
    for row in doc["sections"][section]["rows"]:
        if case_part in row["case"] and row["subject"].startswith(subject):
            value = row["metrics"][key]
            return value["median"] if isinstance(value, dict) else value
    raise AssertionError(f"no row {case_part!r}/{subject!r} in {section}")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, dict, Path]:
    out = tmp_path_factory.mktemp("bench-results")
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--results-dir", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=400)
    latest = out / "latest.json"
    doc = json.loads(latest.read_text()) if latest.exists() else {}
    return proc, doc, out


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_quick_run_writes_every_section(quick_run):
    proc, doc, out = quick_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert set(doc["sections"]) == set(SECTIONS)
    for name, section in doc["sections"].items():
        assert "error" not in section, (name, section.get("error"))
        assert section["rows"], name
    assert len(list(out.glob("2*.json"))) == 1  # the timestamped copy beside latest.json
    machine = doc["machine"]
    assert machine["cores"] >= 1 and machine["cpu"] and machine["python"].startswith("3.")
    assert machine["versions"]["scikit-learn"]
    assert "| case | subject |" in proc.stdout and "### Targets" in proc.stdout


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_quick_run_numbers_are_sane(quick_run):
    _, doc, _ = quick_run
    for section in doc["sections"].values():
        for row in section["rows"]:
            for key, value in row["metrics"].items():
                for x in numbers(value):
                    assert isinstance(x, (int, float)) and math.isfinite(x) and x >= 0, (row, key)
    for subject in ("agent", "naive Flask"):
        assert metric(doc, "http", "concurrency 1", subject, "rps") > 0
        assert metric(doc, "http", "concurrency 1", subject, "p50_ms") > 0
    for subject in ("agent", "SDK echo module", "naive module"):
        assert metric(doc, "edgehub", "burst", subject, "msgs_per_s") > 0
        assert metric(doc, "edgehub", "burst", subject, "unscored") == 0
        assert metric(doc, "edgehub", "burst", subject, "cpu_ms_per_msg") > 0
    assert metric(doc, "edgehub", "burst", "agent", "outputs_per_1000") == 1000
    assert metric(doc, "edgehub", "burst", "agent, edge.output_batch", "outputs_per_1000") < 1000
    assert metric(doc, "edgehub", "burst", "agent, edge.output_batch", "unscored") == 0
    assert metric(doc, "http", "concurrency 1", "Flask + waitress, no model", "rps") > 0
    names = [t["name"] for t in doc["targets"]]
    assert any("SDK echo module (CPU per message)" in n for n in names)
    assert any("web stack ceiling" in n for n in names)
    assert metric(doc, "compiled", "one row", "scikit-learn", "ms") > 0
    assert metric(doc, "swap", "swaps", "agent", "requests") > 0
    assert metric(doc, "bytes", "6 KB", "URL download", "bytes") > metric(doc, "bytes", "6 KB", "twin", "bytes") / 4
    assert metric(doc, "memory", "start", "agent", "ready_s") > 0
    assert metric(doc, "memory", "start", "agent", "rss_mb") > 10
    for t in doc["targets"]:
        assert t["met"] in (True, False, None) and t["target"] and t["name"]


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_quick_run_charges_burst_cpu_to_named_threads(quick_run):
    _, doc, _ = quick_run
    notes = [n for n in doc["sections"]["edgehub"]["notes"] if n.startswith("Burst CPU µs per message by thread")]
    assert len(notes) == 2, doc["sections"]["edgehub"]["notes"]  # the agent and the SDK echo module
    for note in notes:
        assert "pool-" in note, note  # the SDK's handler pool, named through bench/thread_names
