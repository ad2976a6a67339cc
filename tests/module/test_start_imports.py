"""What the agent's process imports at start: what a device never uses must not cost it memory.

The memory target itself lives in bench/ (memory section); this guards the three causes found there:
setuptools' distutils hook (pkg_resources), cryptography without a configured key, and requests in local
mode without a URL download.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
import module.__main__
from module.agent import Agent
from module.settings import load
agent = Agent(load(environ={{}}, overrides={{"http": {{"enabled": False}}, "agent": {{"data_dir": {data!r}}}}}))
agent.start(local=True)
print(json.dumps({{name: name in sys.modules for name in ("pkg_resources", "setuptools", "cryptography",
                                                      "requests", "joblib")}}))
agent.stop()
"""


def test_a_local_agent_without_key_or_url_loads_none_of_them(tmp_path):
    out = subprocess.run([sys.executable, "-c", PROBE.format(data=str(tmp_path / "data"))], cwd=REPO,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    loaded = json.loads(out.strip().splitlines()[-1])
    assert loaded["joblib"], "the probe must have loaded the scientific stack to mean anything"
    assert loaded == {"pkg_resources": False, "setuptools": False, "cryptography": False, "requests": False,
                      "joblib": True}
