"""The operator walk-through as docs/operators.md shows it: its shell block run as it stands (only the two
fixed ports swapped for free ones), from a folder that looks like a checkout: Azurite, the hub stand-in
with a real agent as truck-01, a 100-tree model trained, bundled, uploaded and published, and the agent
serving it at the end."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.helpers.net import free_port
from tests.helpers.shown_commands import ROOT, sh_blocks

pytestmark = pytest.mark.slow
MARKER = "# Walk-through: 100 trees through Azurite to a real agent"


def shown_walkthrough() -> str:
    for block in sh_blocks(ROOT / "docs/operators.md"):
        if block.startswith(MARKER):
            return block
    raise AssertionError(f"docs/operators.md: the block starting {MARKER!r} is gone")


def checkout_like(folder):
    """The checkout's top-level entries linked into `folder`, so what the walk-through writes stays there."""
    folder.mkdir()
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in {line.split("/", 1)[0] for line in tracked.splitlines()} | {".venv"}:
        if (ROOT / name).exists():
            (folder / name).symlink_to(ROOT / name)
    return folder


@pytest.mark.timeout(480)
def test_the_walkthrough_ships_a_100_tree_model_through_azurite_to_a_real_agent(tmp_path):
    hub_port, agent_port = free_port("127.0.0.1"), free_port("127.0.0.1")
    script = shown_walkthrough()
    assert "--port 8443" in script and "localhost:8080" in script
    script = script.replace("--port 8443", f"--port {hub_port}").replace("localhost:8080", f"localhost:{agent_port}")
    work = checkout_like(tmp_path / "checkout")
    env = {**os.environ, "AGENT_HTTP_PORT": str(agent_port), "AGENT_HTTP_HOST": "127.0.0.1"}
    # The background processes the block starts end with it (the docs say: kill %1 %2 %3).
    wrapped = "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + script
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", wrapped], cwd=work, env=env, capture_output=True,
                          text=True, timeout=450)
    logs = (work / "agent.log").read_text()[-3000:] if (work / "agent.log").exists() else ""
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:] + logs
    assert (work / "model.pkl").stat().st_size > 1_000_000  # a real-size model, not one that fits the twin
    assert "by URL" in done.stdout + done.stderr
    assert "uploaded; SAS read-only, https only, signed with account key" in done.stderr
    served = json.loads(done.stdout.strip().splitlines()[-1])  # the last command: curl /model
    assert (served["version"], served["source"], served["update"]["status"]) == ("5", "update", "active")
    assert served["scorer"] == "compiled-forest"
