"""A bad setting stops `python -m module` at start: exit 2, the message naming the key on stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def run_module(*args, env=None, timeout=60):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AGENT_")}
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "module", *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.slow
def test_bad_config_file_exits_2_with_the_message_on_stderr(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("http:\n  port: nine\nscoring:\n  max_wait: 3\n")
    done = run_module("--local", "--config", str(bad))
    assert done.returncode == 2
    assert "invalid settings" in done.stderr
    assert "http.port" in done.stderr and "'nine'" in done.stderr and "scoring.max_wait" in done.stderr


@pytest.mark.slow
def test_bad_environment_exits_2(tmp_path):
    done = run_module("--local", env={"AGENT_HTTP_PORT": "many"})
    assert done.returncode == 2 and "http.port" in done.stderr and "'many'" in done.stderr


@pytest.mark.slow
def test_bad_command_line_exits_2():
    done = run_module("--http-port", "eighty")
    assert done.returncode == 2 and "--http-port" in done.stderr
