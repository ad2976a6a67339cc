"""The agent as a real subprocess (`python -m module --local ...`), for the crash-safety tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tests.helpers.local_agent import ADMIN_HEADERS, ADMIN_TOKEN
from tests.helpers.net import free_port

from .conftest import wait_for

REPO = Path(__file__).resolve().parents[3]


class AgentProcess:
    def __init__(self, tmp_path: Path, desired: Path, data_dir: Path, host: str, env: dict | None = None):
        self.tmp_path, self.desired, self.data_dir, self.host = tmp_path, desired, data_dir, host
        self.env = {
            **os.environ,
            "AGENT_UPDATES_BAKED_MODEL_DIR": str(tmp_path / "no-baked"),
            "AGENT_UPDATES_BACKOFF_BASE_S": "0.05",
            "AGENT_UPDATES_BACKOFF_MAX_S": "0.2",
            "AGENT_UPDATES_READ_TIMEOUT_S": "3",
            "AGENT_HTTP_ADMIN_TOKEN": ADMIN_TOKEN,  # model() reads the full view (sha256)
            **(env or {}),
        }
        self.proc: subprocess.Popen | None = None
        self.runs = 0

    def start(self, **env) -> "AgentProcess":
        self.runs += 1
        self.port = free_port(self.host)
        self.log = self.tmp_path / f"agent-{self.runs}.log"
        cmd = [sys.executable, "-m", "module", "--local", "--desired", str(self.desired), "--data-dir",
               str(self.data_dir), "--http-host", self.host, "--http-port", str(self.port)]
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                         env={**self.env, **env})
        wait_for(self._ready, timeout=90, what="the agent to be ready")
        return self

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"agent exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://{self.host}:{self.port}/readyz", timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def model(self) -> dict:
        req = urllib.request.Request(f"http://{self.host}:{self.port}/model", headers=ADMIN_HEADERS)
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())

    def logged(self, text: str) -> bool:
        return text in self.log.read_text(errors="replace")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def wait_version(self, version: str) -> dict:
        wait_for(lambda: self.model().get("version") == version, timeout=60, what=f"version {version}")
        return self.model()
