"""The quick start as the README and the pages show it: the agent started by the shown command, every
shown `curl` sent to it, and each answer compared with the one on the page (exact where the page shows
every digit). The expected values are read from the pages, so a new default model means new pages."""

from __future__ import annotations

import shlex
import subprocess
import sys

import pytest
import requests

from module.settings import DEFAULT_HTTP_PORT
from tests.helpers.local_agent import ADMIN_HEADERS, subprocess_agent
from tests.helpers.shown_commands import ROOT, curl_examples, mismatches, sh_blocks
from tests.helpers.waiting import wait_for

pytestmark = pytest.mark.slow

PAGES_WITH_ANSWERS = {"README.md": 1, "docs/getting-started.md": 1, "docs/clients.md": 4}
VENV_PYTHON = ".venv/bin/python"


def shown_run_command(page: str) -> list[str]:
    """The arguments after `python -m module` in the page's first command that starts the agent."""
    for block in sh_blocks(ROOT / page):
        for line in block.splitlines():
            for part in line.split("&&"):
                words = shlex.split(part, comments=True)
                if words[:3] == [VENV_PYTHON, "-m", "module"]:
                    return words[3:]
    raise AssertionError(f"{page} shows no `{VENV_PYTHON} -m module` command")


def test_the_shown_commands_are_the_ones_ci_and_the_agent_use():
    first = sh_blocks(ROOT / "README.md")[0]
    assert "./tools/test.sh" in [shlex.split(line, comments=True)[0] for line in first.splitlines()]
    assert "tools/test.sh" in (ROOT / ".ci/run").read_text()
    assert shown_run_command("README.md") == shown_run_command("docs/getting-started.md") == ["--local"]
    for page in PAGES_WITH_ANSWERS:
        for example in curl_examples(ROOT / page):
            assert example.url.startswith(f"localhost:{DEFAULT_HTTP_PORT}/"), example.command


def test_every_shown_answer_is_what_the_agent_answers(tmp_path):
    examples = {page: curl_examples(ROOT / page) for page in PAGES_WITH_ANSWERS}
    for page, at_least in PAGES_WITH_ANSWERS.items():
        assert len(examples[page]) >= at_least, f"{page}: the examples with answers are gone"
    with subprocess_agent(tmp_path, *shown_run_command("README.md")) as agent:
        agent.wait_ready()
        problems = []
        for example in [e for found in examples.values() for e in found]:
            answer = requests.request(example.method, example.request_url(agent.url), data=example.data,
                                      headers=example.headers, timeout=30)
            where = f"{example.page}: {example.command[:90]}"
            if answer.status_code != example.status:
                problems.append(f"{where}: page shows {example.status}, got {answer.status_code} {answer.text}")
                continue
            problems += [f"{where}: {m}" for m in mismatches(example.answer, answer.json())]
    assert not problems, "\n".join(problems)


def shown_update_steps() -> str:
    """The README's three steps (train, bundle, publish), as the shell script they are."""
    for block in sh_blocks(ROOT / "README.md"):
        if block.startswith("# 1. Train"):
            return block
    raise AssertionError("README.md: the train/bundle/publish block is gone")


def test_the_readme_update_switches_the_agent_to_the_new_model(tmp_path):
    """Start the agent as the README shows, run its three steps in the same directory, see model 2 serve."""
    steps = shown_update_steps().replace(VENV_PYTHON, sys.executable)
    work = tmp_path / "checkout-dir"
    work.mkdir()
    with subprocess_agent(tmp_path, *shown_run_command_with("--desired"), cwd=work) as agent:
        agent.wait_ready()
        script = "\n".join(line for line in steps.splitlines() if not line.startswith("curl "))
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=work, capture_output=True,
                              text=True, timeout=240)
        assert done.returncode == 0, done.stderr
        assert "delivery: inline in the twin" in done.stdout  # small enough for the twin, as the README says
        wait_for(lambda: requests.get(agent.url + "/model", timeout=5).json()["version"] == "2",
                 "the agent to serve model 2", timeout=60)
        shown = requests.get(agent.url + "/model", timeout=5).json()  # as the README's curl shows it
        assert shown["scorer"] == "compiled-forest" and "threshold" in shown and "update" not in shown
        model = requests.get(agent.url + "/model", headers=ADMIN_HEADERS, timeout=5).json()
        assert (model["source"], model["update"]["status"]) == ("update", "active")
        reading = curl_examples(ROOT / "README.md")[0].data
        assert requests.post(agent.url + "/score", data=reading, timeout=5).json()["model_version"] == "2"


def shown_run_command_with(flag: str) -> list[str]:
    for block in sh_blocks(ROOT / "README.md"):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words[:3] == [VENV_PYTHON, "-m", "module"] and flag in words:
                return words[3:]
    raise AssertionError(f"README.md shows no agent command with {flag}")


def shown_sensor_loop() -> list[str]:
    """The command in front of the README's `| while read` loop that feeds the agent readings."""
    for block in sh_blocks(ROOT / "README.md"):
        for line in block.splitlines():
            if "| while read" in line and "curl" in line:
                return shlex.split(line.split("|", 1)[0])
    raise AssertionError("README.md: the loop that keeps readings flowing is gone")


def test_the_readme_reading_loop_stays_normal_on_the_default_model(tmp_path):
    """The loop must send a sensor's varying readings: one reading resent is a stuck sensor, and flagged."""
    command = shown_sensor_loop()
    assert command[:2] == [VENV_PYTHON, "-m"]
    done = subprocess.run([sys.executable, *command[1:], "--messages", "60"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=True)
    readings = done.stdout.splitlines()
    assert len(readings) == 60 and len(set(readings)) == 60
    with subprocess_agent(tmp_path, *shown_run_command("README.md")) as agent:
        agent.wait_ready()
        answers = [requests.post(agent.url + "/score", data=r, timeout=5).json() for r in readings]
    assert all(a["model_version"] == "embedded-default-2" for a in answers)
    assert answers[-1]["warm"], "the last readings should have the history the default's windows need"
    flagged = [i for i, a in enumerate(answers) if a["anomaly"]]
    assert not flagged, f"normal readings flagged at {flagged}"
