"""Where settings come from: defaults < YAML file < AGENT_* environment < command line (module/settings/sources.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from module.errors import SettingsError
from module.settings import DEFAULT_FEATURES, Settings, load


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    return path


def test_defaults():
    s = load(environ={})
    assert s.http.port == 8080 and s.scoring.features == DEFAULT_FEATURES and s.scoring.threshold is None


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
    # The JSON lines' "logger" stays the package's name, as before settings became a package.
    assert {r.name for r in caplog.records if "AGENT_NAME" in r.getMessage()} == {"module.settings"}


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


def test_admin_settings_from_the_environment_and_the_token_never_echoed():
    s = load(environ={"AGENT_HTTP_ADMIN_TOKEN": "0123456789abcdef0123", "AGENT_HTTP_ADMIN_HOST": "::1"})
    assert s.http.admin_token == "0123456789abcdef0123" and s.http.admin_host == "::1"
    assert "0123456789abcdef0123" not in repr(s)
    with pytest.raises(SettingsError) as caught:
        load(environ={"AGENT_HTTP_ADMIN_TOKEN": "hunter2"})
    assert "http.admin_token" in str(caught.value) and "16" in str(caught.value)
    assert "hunter2" not in str(caught.value)
