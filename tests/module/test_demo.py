"""demo/stream_nab.py against a real agent on a loopback port: its summary and its PNG."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from module.models import nab
from tests.helpers.local_agent import ROOT, in_process
from tests.helpers.net import free_port, loopback_address

pytestmark = pytest.mark.slow

LIMIT = 3000  # 2013-12-02 .. 2013-12-13: holds the first labelled window


def run_demo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "demo" / "stream_nab.py"), *args], capture_output=True, text=True, timeout=300
    )


def test_demo_streams_summarises_and_plots(tmp_path):
    out = tmp_path / "demo-out"
    with in_process(tmp_path, agent={"default_model": "nab-forest"}) as agent:
        done = run_demo("--url", agent.url, "--out", str(out), "--limit", str(LIMIT), "--batch", "700")
        scored = agent.metrics.registry.get_sample_value("agent_messages_scored_total")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    forest = nab.train_forest()
    expected_flags = int((forest.score_samples(nab.to_features(nab.load_series()[1])[:LIMIT]) < forest.offset_).sum())
    assert f"streamed {LIMIT:,} NAB readings" in text and "lists of up to 700" in text
    assert re.search(rf"messages scored: +{LIMIT:,} \(errors: 0\)", text)
    assert re.search(rf"anomalies flagged: +{expected_flags:,}\n", text)
    assert re.search(r"labelled windows with a flag: [01] of 1\n", text)
    assert "window 1: 2013-12-10 06:25 .. 2013-12-12 05:35" in text and "window 2" not in text
    assert re.search(r"flags outside the windows: +\d+", text)
    assert f"model {nab.FOREST_VERSION}, threshold {forest.offset_:.4f}" in text
    assert scored == LIMIT
    png = (out / "nab_scores.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    csv_lines = (out / "scores.csv").read_text().splitlines()
    assert len(csv_lines) == LIMIT + 1 and csv_lines[0] == "timestamp,temperature,score,anomaly"
    assert sum(line.endswith(",1") for line in csv_lines[1:]) == expected_flags


def test_demo_without_an_agent_says_how_to_start_one(tmp_path):
    host = loopback_address()
    done = run_demo("--url", f"http://{host}:{free_port(host)}", "--out", str(tmp_path), "--limit", "10")
    assert done.returncode == 1
    assert "no agent answers" in done.stderr and "python -m module --local" in done.stderr
