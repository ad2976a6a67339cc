"""`python -m module` as a user runs it: starts on the embedded default, serves HTTP, stops on SIGTERM."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from module.models import embedded
from tests.helpers.local_agent import ROOT, subprocess_agent
from tests.helpers.net import loopback_address

pytestmark = pytest.mark.slow

MSG = {
    "machine": {"temperature": 21.32, "pressure": 1.04},
    "ambient": {"temperature": 20.86, "humidity": 25},
    "timeCreated": "2024-01-01T00:00:00.0000000Z",
}


def test_help():
    done = subprocess.run([sys.executable, "-m", "module", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for option in ("--local", "--config", "--desired", "--data-dir", "--http-port", "--http-host"):
        assert option in done.stdout


@pytest.mark.parametrize("args", [("--local",), ()], ids=["--local", "no-edge-environment"])
def test_starts_serves_and_stops_on_sigterm(tmp_path, args):
    with subprocess_agent(tmp_path, *args) as agent:
        agent.wait_ready()
        ready = requests.get(agent.url + "/readyz", timeout=10).json()
        assert ready == {"status": "ready", "model_version": embedded.VERSION}
        result = requests.post(agent.url + "/score", json=MSG, timeout=10).json()
        assert result["model_version"] == embedded.VERSION and isinstance(result["score"], float)
        # A first message is not warm (the default reads windows): never flagged, whatever its score.
        assert result["warm"] is False and result["anomaly"] is False
        agent.proc.send_signal(signal.SIGTERM)
        assert agent.proc.wait(timeout=20) == 0
        logs = agent.logs()
    messages = [line["msg"] for line in logs]
    assert "agent ready" in messages and "stop requested" in messages and messages[-1] == "agent stopped"
    local_lines = [line for line in logs if "local mode" in line["msg"]]
    assert local_lines, "the log must say the agent runs in local mode"
    if not args:
        assert "no IoT Edge environment" in local_lines[0]["msg"]
    assert any(line.get("model_version") == embedded.VERSION for line in logs if line["msg"] == "model active")


def test_stops_on_a_sigterm_the_kernel_hands_to_another_thread(tmp_path):
    """`kill` names the process, and the kernel may pick any of its threads. CPython then only flags the
    signal for the main thread: one blocked without a timeout never runs the handler (seen in CI: an
    agent that ignored edgeAgent's SIGTERM). tgkill picks a thread that is not the main one."""
    with subprocess_agent(tmp_path, "--local") as agent:
        agent.wait_ready()
        pid = agent.proc.pid
        other = next(int(tid) for tid in os.listdir(f"/proc/{pid}/task") if int(tid) != pid)
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.tgkill(pid, other, signal.SIGTERM) == 0, os.strerror(ctypes.get_errno())
        assert agent.proc.wait(timeout=20) == 0
        messages = [line["msg"] for line in agent.logs()]
    assert "stop requested" in messages and messages[-1] == "agent stopped"


def test_sigusr1_prints_every_threads_stack_and_the_agent_keeps_serving(tmp_path):
    with subprocess_agent(tmp_path, "--local") as agent:
        agent.wait_ready()
        agent.proc.send_signal(signal.SIGUSR1)
        assert requests.post(agent.url + "/score", json=MSG, timeout=10).status_code == 200
        deadline = time.monotonic() + 10
        while "module/__main__.py" not in (dump := agent.stderr_path.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert agent.proc.poll() is None
    assert dump.count("Thread 0x") > 3 and "module/__main__.py" in dump


def test_port_already_taken_exits_1_with_a_message(tmp_path):
    host = loopback_address()
    with socket.socket() as holder:
        holder.bind((host, 0))
        holder.listen()
        port = holder.getsockname()[1]
        taken = subprocess.run(
            [sys.executable, "-m", "module", "--local", "--http-host", host, "--http-port", str(port),
             "--data-dir", str(tmp_path / "data")],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )
    assert taken.returncode == 1
    assert "failed to start" in taken.stderr and "Address already in use" in taken.stderr
