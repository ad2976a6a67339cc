"""Settings: file < AGENT_* environment < command line < desired sections; every error names key and value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from module.errors import SettingsError
from module.settings import DEFAULT_FEATURES, Settings, load

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    return path


def test_defaults():
    s = load(environ={})
    assert s.http.port == 8080 and s.scoring.features == DEFAULT_FEATURES and s.scoring.threshold is None


@pytest.mark.parametrize(
    "text, words",
    [
        ("http:\n  prot: 9000\n", ["http.prot", "unknown setting", "9000"]),  # a bad key
        ("http:\n  port: nine\n", ["http.port", "'nine'", "integer"]),  # a bad type
        ("http:\n  port: 70000\n", ["http.port", "70000"]),  # out of range
        ("telemetry:\n  x: 1\n", ["telemetry", "unknown setting"]),  # an unknown section
        ("http: 5\n", ["http", "expected a mapping", "5"]),
        ("scoring:\n  threshold: .nan\n", ["scoring.threshold", "finite", "nan"]),
        ("scoring:\n  features: []\n", ["scoring.features", "at least one"]),
        ("scoring:\n  features: ['a..b']\n", ["scoring.features", "a..b"]),
        ("scoring:\n  features: {'0': a, '2': b}\n", ["scoring.features", "0..n-1"]),
        ("agent:\n  log_level: loud\n", ["agent.log_level", "'loud'"]),
        ("- a\n- b\n", ["expected a mapping of sections"]),
        ("http: [\n", ["not valid YAML"]),
        ("http:\n  admin_host: 0.0.0.0\n", ["http.admin_host", "loopback", "http.admin_token"]),
        ("http:\n  admin_host: 10.1.2.3\n", ["http.admin_host", "loopback"]),
        ("http:\n  admin_host: localhost\n", ["http.admin_host", "loopback IP address"]),
        ("http:\n  max_connections: 2\n", ["http.max_connections"]),
        ("http:\n  header_timeout_s: 0\n", ["http.header_timeout_s"]),
        ("http: &h {port: 1}\n", ["anchors (&h) are not allowed"]),
    ],
)
def test_bad_file_names_key_and_value(tmp_path, text, words):
    with pytest.raises(SettingsError) as caught:
        load(write(tmp_path, text), environ={})
    for word in words:
        assert word in str(caught.value)


def test_every_bad_key_is_named_at_once(tmp_path):
    with pytest.raises(SettingsError) as caught:
        load(write(tmp_path, "http:\n  port: x\n  hots: y\nscoring:\n  max_batch: 0\n"), environ={})
    message = str(caught.value)
    assert "http.port" in message and "http.hots" in message and "scoring.max_batch" in message


def test_missing_file(tmp_path):
    with pytest.raises(SettingsError, match="cannot read settings file"):
        load(tmp_path / "absent.yaml", environ={})


@pytest.mark.parametrize(
    "environ, words",
    [
        ({"AGENT_HTTP_PORT": "abc"}, ["http.port", "'abc'"]),
        ({"AGENT_HTTP_PROT": "1"}, ["http.prot", "unknown setting"]),
        ({"AGENT_HTTP": "1"}, ["AGENT_HTTP", "unknown setting"]),
        ({"AGENT_SCORING_THRESHOLD": "high"}, ["scoring.threshold", "'high'"]),
    ],
)
def test_bad_environment_names_key_and_value(environ, words):
    with pytest.raises(SettingsError) as caught:
        load(environ=environ)
    for word in words:
        assert word in str(caught.value)


def test_variables_of_other_tools_are_ignored_not_fatal(caplog):
    """Azure Pipelines sets AGENT_NAME, AGENT_OS, ...: they name no section of ours."""
    s = load(environ={"AGENT_NAME": "Hosted Agent", "AGENT_OS": "Linux", "AGENT_HTTP_PORT": "9001"})
    assert s.http.port == 9001
    assert "AGENT_NAME" in caplog.text


def test_environment_values():
    s = load(
        environ={
            "AGENT_HTTP_PORT": "9000",
            "AGENT_SCORING_THRESHOLD": "-0.55",
            "AGENT_SCORING_FEATURES": "[a.b, c]",
            "AGENT_SCORING_COMPILED": "false",
            "AGENT_HTTP_MAX_BODY_BYTES": "65536",
            "AGENT_EDGE_INPUT_NAME": "123",  # a text setting keeps its text, not YAML's int
            "AGENT_UPDATES_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n",
            "PATH": "/usr/bin",
        }
    )
    assert s.http.port == 9000 and s.scoring.threshold == -0.55 and s.scoring.features == ("a.b", "c")
    assert s.scoring.compiled is False and s.http.max_body_bytes == 65536
    assert s.edge.input_name == "123"
    assert s.updates.public_key.splitlines()[1] == "MCowBQYDK2VwAyEA"


def test_precedence_file_then_environment_then_command_line(tmp_path):
    path = write(tmp_path, "http:\n  port: 7000\n  threads: 3\nscoring:\n  max_batch: 10\n")
    s = load(path, environ={"AGENT_HTTP_PORT": "7100", "AGENT_SCORING_MAX_BATCH": "20"}, overrides={"http": {"port": 7200}})
    assert (s.http.port, s.http.threads, s.scoring.max_batch) == (7200, 3, 20)


def test_empty_file_and_empty_section(tmp_path):
    assert load(write(tmp_path, ""), environ={}) == Settings()
    assert load(write(tmp_path, "http:\n"), environ={}).http.port == 8080


def test_features_as_a_numbered_object(tmp_path):
    s = load(write(tmp_path, "scoring:\n  features: {'1': b.c, '0': a}\n"), environ={})
    assert s.scoring.features == ("a", "b.c")


def test_live_sections_merge_and_null_returns_to_base(tmp_path):
    base = load(write(tmp_path, "scoring:\n  threshold: -0.6\n"), environ={})
    live = base.with_sections({"scoring": {"threshold": -0.4, "features": {"0": "x", "1": "y"}, "$version": 4}}, base)
    assert live.scoring.threshold == -0.4 and live.scoring.features == ("x", "y")
    partly = live.with_sections({"scoring": {"threshold": None}}, base)  # a twin deletes a key with null
    assert partly.scoring.threshold == -0.6 and partly.scoring.features == ("x", "y")
    reset = live.with_sections({"scoring": None}, base)
    assert reset.scoring == base.scoring
    assert live.with_sections({"scoring": {"features": None}}).scoring.features == DEFAULT_FEATURES


@pytest.mark.parametrize(
    "sections, words",
    [
        ({"scoring": {"threshold": "high"}}, ["scoring.threshold", "'high'"]),
        ({"scoring": {"treshold": 1}}, ["scoring.treshold", "unknown setting"]),
        ({"scoring": 5}, ["scoring", "expected an object", "5"]),
        ({"telemetry": {}}, ["unknown section", "telemetry"]),
    ],
)
def test_bad_live_section(sections, words):
    with pytest.raises(SettingsError) as caught:
        Settings().with_sections(sections)
    for word in words:
        assert word in str(caught.value)


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


def test_admin_settings_from_the_environment_and_the_token_never_echoed():
    s = load(environ={"AGENT_HTTP_ADMIN_TOKEN": "0123456789abcdef0123", "AGENT_HTTP_ADMIN_HOST": "::1"})
    assert s.http.admin_token == "0123456789abcdef0123" and s.http.admin_host == "::1"
    assert "0123456789abcdef0123" not in repr(s)
    with pytest.raises(SettingsError) as caught:
        load(environ={"AGENT_HTTP_ADMIN_TOKEN": "hunter2"})
    assert "http.admin_token" in str(caught.value) and "16" in str(caught.value)
    assert "hunter2" not in str(caught.value)
