"""The agent under test as a device runs it: `python -m module` with the IoT Edge environment variables."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from tests.helpers.edgehub_standin import EdgeHubStandin
from tests.helpers.net import free_port, wait_listening

REPO = Path(__file__).resolve().parents[3]


class AgentProcess:
    """Started with the stand-in's EdgeHubConnectionString and EdgeModuleCACertificateFile; JSON log
    lines are kept for assertions."""

    def __init__(self, hub: EdgeHubStandin, data_dir: Path, env: dict[str, str] | None = None):
        self.hub = hub
        self.data_dir = data_dir
        self.http_host = "127.0.0.1"
        self.http_port = free_port(self.http_host)
        self.extra_env = env or {}
        self.process: subprocess.Popen | None = None
        self.lines: list[str] = []
        self._reader: threading.Thread | None = None

    def start(self) -> "AgentProcess":
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_", "IOTEDGE_"))}
        env.update(self.hub.module_environment())
        env.update(self.extra_env)
        env["PYTHONPATH"] = str(REPO)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "module", "--data-dir", str(self.data_dir),
             "--http-port", str(self.http_port), "--http-host", self.http_host],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        wait_listening(self.http_host, self.http_port, timeout=60)
        return self

    def _read(self) -> None:
        assert self.process and self.process.stdout
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def logs(self) -> list[dict]:
        out = []
        for line in list(self.lines):
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"raw": line})
        return out

    def wait_log(self, msg: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for entry in self.logs():
                if entry.get("msg") == msg:
                    return entry
            time.sleep(0.05)
        raise TimeoutError(f"no log line {msg!r}; last lines: {self.lines[-15:]}")

    def wait_connected(self, timeout: float = 60.0) -> None:
        """Connected with its handlers set (inputs, methods and desired patches reach it from now on)."""
        self.wait_log("connected to edgeHub", timeout)

    def metrics_text(self) -> str:
        return requests.get(f"http://{self.http_host}:{self.http_port}/metrics", timeout=10).text

    def metric(self, name: str) -> float:
        total = 0.0
        for line in self.metrics_text().splitlines():
            if line.startswith(name) and (line[len(name)] in " {"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def terminate(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout: float = 30.0) -> int:
        assert self.process
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGUSR1)  # every thread's stack, to say where it is stuck
            time.sleep(1.0)
            raise AssertionError(f"no exit within {timeout}s; last lines:\n" + "\n".join(self.lines[-120:]))
        if self._reader:
            self._reader.join(5)
        return code

    def stop(self) -> None:
        """SIGTERM, then kill if it does not exit (a test failure must not leave it running)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> "AgentProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
