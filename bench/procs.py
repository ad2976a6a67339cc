"""The servers under test as real processes: the agent (`python -m module`) and the naive baselines.

Each is started the way a device or a user would start it, timed from spawn to its first /readyz 200,
and stopped with SIGTERM (then SIGKILL if it hangs). Its output goes to a log file, never a pipe that
could fill and stall it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .httpclient import Connection, get_request

REPO = Path(__file__).resolve().parent.parent


def rss_mb(pid: int) -> dict:
    """Resident set now and at its peak (VmHWM), in MB (10^6 bytes), from /proc."""
    out = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024 / 1e6
    return {"rss_mb": out.get("VmRSS"), "peak_rss_mb": out.get("VmHWM")}


class Server:
    """A child process serving HTTP on host:port; `ready_s` is spawn -> first /readyz 200."""

    def __init__(self, argv: list[str], host: str, port: int, log_path: Path, env: dict | None = None):
        self.host, self.port, self.log_path = host, port, log_path
        self._log = open(log_path, "wb")
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(argv, cwd=REPO, env=full_env, stdout=self._log, stderr=subprocess.STDOUT)
        self.ready_s: float | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float = 60.0, path: str = "/readyz") -> float:
        request = get_request(self.host, self.port, path)
        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.proc.args} exited with {self.proc.returncode}; see {self.log_path}")
            conn = Connection(self.host, self.port, timeout=2)
            try:
                status, _ = conn.send(request)
                if status == 200:
                    self.ready_s = time.perf_counter() - self.started
                    return self.ready_s
            except OSError:
                pass
            finally:
                conn.close()
            time.sleep(0.005)
        raise TimeoutError(f"{self.proc.args} not ready after {timeout}s; see {self.log_path}")

    def memory(self) -> dict:
        return rss_mb(self.pid)

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


#: The model every agent under test serves: the 100-tree IsolationForest on NAB that the baselines (naive
#: Flask, naive module) train too, so only the design differs. (The out-of-the-box default is a small
#: envelope of SimulatedTemperatureSensor's normal run: cheaper, so not a fair match for them.)
AGENT_MODEL = {"AGENT_AGENT_DEFAULT_MODEL": "nab-forest"}


def agent(host: str, port: int, workdir: Path, env: dict | None = None, extra: list[str] | None = None) -> Server:
    """The agent in local mode (HTTP only), its own data dir, serving AGENT_MODEL; `env` adds AGENT_* settings."""
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "module", "--local", "--http-host", host, "--http-port", str(port),
            "--data-dir", str(data), *(extra or [])]
    return Server(argv, host, port, workdir / "agent.log", {**AGENT_MODEL, **(env or {})})


def naive_flask(host: str, port: int, workdir: Path, threads: int, model_free: bool = False) -> Server:
    argv = [sys.executable, "-m", "bench.naive_flask", "--host", host, "--port", str(port), "--threads", str(threads)]
    if model_free:
        argv.append("--model-free")
    return Server(argv, host, port, workdir / ("web_ceiling.log" if model_free else "naive_flask.log"))
