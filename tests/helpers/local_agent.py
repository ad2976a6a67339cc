"""A real agent on a loopback address, in this process or as `python -m module --local` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import requests

from module.agent import Agent
from module.settings import load
from tests.helpers.net import free_port, loopback_address, wait_listening

ROOT = Path(__file__).resolve().parents[2]
#: The admin token the test agents run with (GET /model's full view, /admin/*): AGENT_HTTP_ADMIN_TOKEN.
ADMIN_TOKEN = "test-admin-token-0123456789"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@contextmanager
def in_process(tmp_path: Path, **sections) -> Iterator[Agent]:
    """Agent.start(local=True) with HTTP on a fresh 127.x.y.z; `sections` override settings, e.g.
    scoring={"threshold": -0.6}, agent={"desired_file": path}."""
    overrides = {"agent": {"data_dir": tmp_path / "data"}, "http": {"host": loopback_address(), "port": 0}}
    for name, values in sections.items():
        overrides.setdefault(name, {}).update(values)
    agent = Agent(load(environ={}, overrides=overrides))
    try:
        agent.start(local=True)
        agent.url = f"http://{agent.http.host}:{agent.http.port}"
        yield agent
    finally:
        agent.stop()


class AgentProcess:
    """`python -m module` as a user starts it; stdout (JSON log lines) and stderr are kept in files."""

    def __init__(self, tmp_path: Path, *args: str, env: dict | None = None, cwd: Path = ROOT):
        self.host = loopback_address()
        self.port = free_port(self.host)
        self.url = f"http://{self.host}:{self.port}"
        self.stdout_path, self.stderr_path = tmp_path / "agent.out", tmp_path / "agent.err"
        environ = {k: v for k, v in os.environ.items() if not k.startswith("AGENT_")}
        for name in ("EdgeHubConnectionString", "IOTEDGE_WORKLOADURI"):
            environ.pop(name, None)
        environ["AGENT_HTTP_ADMIN_TOKEN"] = ADMIN_TOKEN
        environ.update(env or {})
        command = [sys.executable, "-m", "module", "--http-host", self.host, "--http-port", str(self.port)]
        command += ["--data-dir", str(tmp_path / "data"), *args]
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(command, cwd=cwd, env=environ, stdout=out, stderr=err)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent exited with {self.proc.returncode}: {self.stderr_path.read_text()}")
            try:
                if requests.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"agent not ready after {timeout}s: {self.logs()[-5:]}")

    def logs(self) -> list[dict]:
        lines = self.stdout_path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode


@contextmanager
def subprocess_agent(tmp_path: Path, *args: str, env: dict | None = None,
                     cwd: Path = ROOT) -> Iterator[AgentProcess]:
    agent = AgentProcess(tmp_path, *args, env=env, cwd=cwd)
    try:
        yield agent
    finally:
        agent.stop()


def wait_listening_on(agent: AgentProcess, timeout: float = 60.0) -> None:
    wait_listening(agent.host, agent.port, timeout)
