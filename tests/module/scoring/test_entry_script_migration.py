"""The migration in docs/clients.md, step by step: the seed-shaped iot_score.py runs unchanged in `python -m module`,
then a retrained model reaches it through the desired state (bundle, hosted payload, desired file)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.helpers.local_agent import ADMIN_HEADERS, ROOT, subprocess_agent
from tests.helpers.net import free_port, loopback_address, wait_listening

EXAMPLE = ROOT / "examples" / "azureml_iot_score"
READING = {
    "machine": {"temperature": 21.32, "pressure": 1.04},
    "ambient": {"temperature": 20.86, "humidity": 25},
    "timeCreated": "2024-01-01T00:00:00.0000000Z",
}


def run(*args: str, cwd: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def score(url: str) -> dict:
    response = requests.post(f"{url}/score", json=READING, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for_version(url: str, version: str, timeout: float = 120.0) -> dict:
    """Polls /score until the update is active; the timeout only guards against a hang."""
    deadline = time.monotonic() + timeout
    while True:
        result = score(url)
        if result["model_version"] == version or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def test_readme_migration_runs_as_written(tmp_path):
    desired = tmp_path / "desired.json"
    args = ("--local", "--entry-script", str(EXAMPLE / "iot_score.py"), "--desired", str(desired))
    with subprocess_agent(tmp_path, *args) as agent:
        wait_listening(agent.host, agent.port, timeout=90)
        # 1. The script, unchanged, on the embedded default model.
        first = score(agent.url)
        assert first == {**READING, "anomaly": True, "model_version": "embedded-default-1"}  # the NAB forest: a script reads each message itself

        # 2. Retrain, bundle with a URL, host the payload.
        run(str(EXAMPLE / "train.py"), "model.pkl", cwd=tmp_path)
        host = loopback_address()
        port = free_port(host)
        run("-m", "deployment", "bundle", "model.pkl", "--version", "2", "--url", f"http://{host}:{port}/payload.zst",
            cwd=tmp_path)
        server = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", host, str(port)],
                                  cwd=tmp_path / "bundles" / "2", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_listening(host, port)
            # 3. Deliver it through the desired state the agent watches.
            shutil.copyfile(tmp_path / "bundles" / "2" / "desired.json", desired)
            second = wait_for_version(agent.url, "2")
        finally:
            server.terminate()
            server.wait(10)
        assert second == {**READING, "anomaly": True, "model_version": "2"}
        model = requests.get(f"{agent.url}/model", headers=ADMIN_HEADERS, timeout=5).json()
        assert model["entry_script"] == str(EXAMPLE / "iot_score.py") and model["update"]["status"] == "active"
        initialised = [line for line in agent.logs() if line.get("msg") == "entry script initialised"]
        assert [line["model_version"] for line in initialised] == ["embedded-default-1", "2"]
