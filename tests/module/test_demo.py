"""demo/stream_nab.py and demo/nab_update.py against a real agent on a loopback port: summaries, PNGs, the update."""

from __future__ import annotations

import pickle
import re
import shutil
import subprocess
import sys
import threading
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest
import requests

from module.models import nab
from tests.helpers.local_agent import ROOT, in_process
from tests.helpers.net import free_port, loopback_address
from tests.helpers.waiting import wait_for

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
    assert re.search(rf"messages scored: +{LIMIT:,} \(errors: 0, not warm: 0\)", text)  # point-wise: never cold
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


# The NAB update end to end: demo/nab_update.py trains and bundles the windowed model, a loopback file
# server hosts payload.zst, the agent's desired file publishes it, demo/stream_nab.py streams the series.

UPDATE_VERSION = "nab-1"


@contextmanager
def file_server(directory: Path) -> Iterator[tuple[str, list[str]]]:
    """A static HTTP server for `directory` on a fresh loopback address; yields its base URL and the paths
    it was asked for."""
    asked: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, fmt, *args) -> None:  # the paths asked for, not stderr noise
            asked.append(self.path)

    host = loopback_address()
    server = ThreadingHTTPServer((host, free_port(host)), partial(Handler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def window_flags(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"window \d: \S+ \S+ \.\. \S+ \S+ +(\d+) flags", text)]


def false_alarm_share(text: str) -> float:
    found = re.search(r"flags outside the windows: +([\d,]+) of ([\d,]+) readings", text)
    assert found, text
    flags, readings = (int(g.replace(",", "")) for g in found.groups())
    return flags / readings


def expected_window_flags(bundle: Path) -> tuple[list[int], int]:
    """The bundled model's own flags on its training matrix (warm rows only), per labelled window."""
    from module.features import load_spec, training_matrix

    with (bundle / "model.pkl").open("rb") as fh:
        model = pickle.load(fh)  # the file this test's own demo run just wrote
    matrix = training_matrix(load_spec(bundle / "spec.yaml"), bundle / "series.csv")
    flags = (model.score_samples(matrix.X) < model.offset_) & matrix.warm
    times = [datetime.strptime(s, "%Y-%m-%d %H:%M:%S") for s in nab.load_series()[0]]
    inside = [[a <= t <= b for t in times] for a, b in nab.load_windows()]
    per_window = [int(sum(f and i for f, i in zip(flags, w))) for w in inside]
    outside = int(sum(f and not any(w[k] for w in inside) for k, f in enumerate(flags)))
    return per_window, outside


def test_nab_update_catches_the_windows_the_point_wise_model_misses(tmp_path):
    bundles = tmp_path / "bundles"
    desired = tmp_path / "desired.json"
    with file_server(bundles) as (base, asked), \
            in_process(tmp_path, agent={"default_model": "nab-forest", "desired_file": desired}) as agent:
        before = run_demo("--url", agent.url, "--out", str(tmp_path / "point-wise"))
        made = subprocess.run([sys.executable, str(ROOT / "demo" / "nab_update.py"), "--out",
                               str(bundles / UPDATE_VERSION), "--version", UPDATE_VERSION,
                               "--url", f"{base}/{UPDATE_VERSION}/payload.zst"],
                              capture_output=True, text=True, timeout=300)
        assert made.returncode == 0, made.stdout + made.stderr
        shutil.copy(bundles / UPDATE_VERSION / "desired.json", desired)
        wait_for(lambda: requests.get(agent.url + "/model", timeout=5).json()["version"] == UPDATE_VERSION,
                 "the NAB update to become active", timeout=60, interval=0.2)
        served = requests.get(agent.url + "/model", timeout=5).json()
        after = run_demo("--url", agent.url, "--out", str(tmp_path / "update"))
        # --partition names the history: a second run under the same name continues it, warm at once.
        named = [run_demo("--url", agent.url, "--out", str(tmp_path / f"named-{i}"), "--limit", "30",
                          "--partition", "sensor-7") for i in range(2)]
    assert before.returncode == 0 and after.returncode == 0, before.stderr + after.stderr
    assert f"/{UPDATE_VERSION}/payload.zst" in asked  # it came by URL, not inline
    assert served["features"]["source"] == "model"
    assert served["features"]["columns"] == ["machine.temperature", "diff(machine.temperature)",
                                             "mean(machine.temperature, 12)", "std(machine.temperature, 12)"]
    payload = (bundles / UPDATE_VERSION / "payload.zst").stat().st_size
    assert f"update cost: payload.zst {payload:,} bytes" in made.stdout and payload < 1_000_000
    assert "signed: no; canary: 3 sequences" in made.stdout  # a windowed canary: message sequences

    # The point-wise default: windows 2 and 4 only, no false alarm.
    assert f"model {nab.FOREST_VERSION}," in before.stdout
    pointwise = window_flags(before.stdout)
    assert len(pointwise) == 4 and pointwise[0] == 0 and pointwise[2] == 0 and pointwise[1] > 0 and pointwise[3] > 0
    assert "labelled windows with a flag: 2 of 4" in before.stdout

    # The windowed update: every window, the same flags as the model gives its training matrix offline,
    # the first 11 results of the fresh partition not warm, few false alarms.
    assert f"model {UPDATE_VERSION}," in after.stdout
    assert "labelled windows with a flag: 4 of 4" in after.stdout
    assert re.search(r"messages scored: +22,695 \(errors: 0, not warm: 11\)", after.stdout), after.stdout
    per_window, outside = expected_window_flags(bundles / UPDATE_VERSION)
    assert window_flags(after.stdout) == per_window
    assert all(n > 0 for n in per_window)
    assert re.search(rf"flags outside the windows: +{outside:,} of ", after.stdout)
    assert false_alarm_share(after.stdout) < 0.005
    png = (tmp_path / "update" / "nab_scores.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert [re.search(r"not warm: (\d+)\)", n.stdout).group(1) for n in named] == ["11", "0"]
    assert all("partition sensor-7" in n.stdout for n in named)
    # The walk-through pastes a real run of both: its window and false-alarm lines are this run's.
    walkthrough = (ROOT / "docs" / "nab-walkthrough.md").read_text(encoding="utf-8")
    for run in (before.stdout, after.stdout):
        for line in run.splitlines():
            if line.startswith(("  window ", "flags outside", "labelled windows", "anomalies flagged")):
                assert line in walkthrough, f"docs/nab-walkthrough.md does not show this run's line {line!r}"
