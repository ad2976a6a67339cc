"""The operator CLI as a person runs it: a separate process, the CA and connection string from the
environment (the machine's own REQUESTS_CA_BUNDLE overridden), exit codes and messages on stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deployment.conftest import MODULE

ROOT = Path(__file__).resolve().parents[2]


def _run(args, env_extra, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT), **env_extra}
    return subprocess.run([sys.executable, "-m", "deployment", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def hub(iothub):
    iothub.state.add_device("truck-1", {"fleet": "trucks"}, (MODULE,))
    return iothub


def test_publish_then_status_in_processes(hub, bundle, tmp_path):
    env = {"IOTHUB_CONNECTION_STRING": hub.connection_string, "REQUESTS_CA_BUNDLE": str(hub.ca_file)}
    done = _run(["publish", "--device", "truck-1", "--bundle", str(bundle)], env, tmp_path)
    assert done.returncode == 0, done.stderr
    hub.state.set_reported("truck-1", MODULE, {"model": {"version": "2", "status": "active"}})
    done = _run(["status", "--device", "truck-1", "--module", MODULE], env, tmp_path)
    assert done.returncode == 0 and "truck-1" in done.stdout and "1/1 active" in done.stdout


def test_the_machine_ca_bundle_does_not_trust_the_stand_in(hub, bundle, tmp_path):
    env = {"IOTHUB_CONNECTION_STRING": hub.connection_string, "REQUESTS_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt"}
    done = _run(["status", "--device", "truck-1", "--module", MODULE], env, tmp_path)
    assert done.returncode == 3
    assert "cannot reach the hub" in done.stderr and "REQUESTS_CA_BUNDLE" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_refused_key_exits_3_with_the_reason(hub, bundle, tmp_path):
    wrong = f"HostName={hub.hostname};SharedAccessKeyName=iothubowner;SharedAccessKey=" + "QUFB" * 11
    env = {"IOTHUB_CONNECTION_STRING": wrong, "REQUESTS_CA_BUNDLE": str(hub.ca_file)}
    done = _run(["publish", "--device", "truck-1", "--bundle", str(bundle)], env, tmp_path)
    assert done.returncode == 3 and "401 Unauthorized" in done.stderr and "Traceback" not in done.stderr


def test_no_connection_string_is_a_usage_error(tmp_path, bundle):
    env = {"IOTHUB_CONNECTION_STRING": ""}
    done = _run(["publish", "--device", "truck-1", "--bundle", str(bundle)], env, tmp_path)
    assert done.returncode == 2 and "IOTHUB_CONNECTION_STRING" in done.stderr
