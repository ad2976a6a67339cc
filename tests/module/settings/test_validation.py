"""Validation: every error names its key and value, all of them at once; desired sections merge over the
base, null goes back to it (module/settings/validation.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from module.errors import SettingsError
from module.settings import DEFAULT_FEATURES, Settings, load


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    return path


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
