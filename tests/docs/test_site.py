"""The documentation site builds with `mkdocs build --strict`: a broken link or anchor, a page missing
from the navigation, or a settings field without its docstring fails here, so it fails CI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from module.settings import Settings
from tests.helpers.shown_commands import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import settings_reference  # noqa: E402

pytestmark = pytest.mark.slow

PAGES = ["index.md", "getting-started.md", "clients.md", "updates.md", "features.md", "nab-walkthrough.md",
         "operators.md", "iot-edge.md", "security.md", "settings.md", "benchmarks.md", "architecture.md"]


def build(tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                           "-d", str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True, timeout=240)


def test_the_site_builds_strict_with_every_page(tmp_path):
    done = build(tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (ROOT / "docs").glob("*.md")) == sorted(PAGES)
    for page in PAGES:
        name = page.removesuffix(".md")
        assert (tmp_path / "site" / ("index.html" if name == "index" else f"{name}/index.html")).is_file()
    settings_page = (tmp_path / "site" / "settings" / "index.html").read_text()
    for section, field in Settings.model_fields.items():
        for key in field.annotation.model_fields:
            assert f"{section}.{key}" in settings_page


def test_a_broken_link_fails_the_build(tmp_path):
    """The strict build is what catches a bad link: a copy of the docs with one is refused."""
    docs = tmp_path / "docs"
    subprocess.run(["cp", "-r", str(ROOT / "docs"), str(docs)], check=True)
    page = docs / "features.md"
    page.write_text(page.read_text() + "\nSee [nowhere](no-such-page.md#nothing).\n")
    config = tmp_path / "mkdocs.yml"
    text = (ROOT / "mkdocs.yml").read_text().replace("docs_dir: docs", f"docs_dir: {docs}")
    config.write_text(text.replace("tools/settings_reference.py", str(ROOT / "tools/settings_reference.py")))
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config),
                           "-d", str(tmp_path / "site")], capture_output=True, text=True, timeout=240)
    assert done.returncode != 0
    assert "no-such-page.md" in done.stderr


def test_every_setting_has_its_attribute_docstring():
    missing = []
    for section, field in Settings.model_fields.items():
        cls = field.annotation
        docs = settings_reference.attribute_docstrings(cls)
        missing += [f"{section}.{key}" for key in cls.model_fields if not docs.get(key)]
        assert cls.__doc__, f"section {section} has no class docstring"
    assert not missing, f"settings without an attribute docstring under them: {missing}"


def test_the_reference_shows_types_defaults_and_bounds():
    text = settings_reference.render()
    assert "| `http.port` | integer (≥ 0, ≤ 65535) | `8080` |" in text
    assert "| `updates.max_model_bytes` | integer (≥ 1) | `67108864` (64 MiB) |" in text
    assert "Environment `AGENT_SCORING_<KEY>`; live" in text
    assert "Environment `AGENT_UPDATES_<KEY>`; read at start" in text
