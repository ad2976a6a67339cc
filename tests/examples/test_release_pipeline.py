"""The example release pipeline calls only commands and flags that exist, and its training step makes a
model `bundle` accepts."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from deployment.__main__ import build_parser, main

PIPELINE = Path(__file__).resolve().parents[2] / "examples" / "release-pipeline" / "github-actions.yml"


def _deployment_calls() -> list[list[str]]:
    steps = yaml.safe_load(PIPELINE.read_text())["jobs"]["release"]["steps"]
    calls = []
    for step in steps:
        text = re.sub(r"\$\{\{[^}]*\}\}", "X", step.get("run", ""))
        text = text.replace("$CONTAINER_URL", "https://acct.blob.core.windows.net/models").split(">", 1)[0] \
            if "python -m deployment" in text else text
        if "python -m deployment" in text:
            calls.append(shlex.split(text.split("python -m deployment", 1)[1]))
    return calls


def test_every_deployment_call_parses_with_the_real_parser():
    calls = _deployment_calls()
    assert [c[0] for c in calls] == ["bundle", "publish", "status"]
    for call in calls:
        args = build_parser().parse_args(call)  # exits 2 on an unknown command or flag
        assert args.json, f"{call[0]} in the pipeline should write JSON for the job's artefacts"
    publish = build_parser().parse_args(calls[1])
    assert publish.upload and publish.waves == (1, 10, 100) and publish.wait


def test_the_training_step_makes_a_model_bundle_accepts(tmp_path, capsys):
    root = PIPELINE.parents[2]
    subprocess.run([sys.executable, str(PIPELINE.parent / "train.py"), "--trees", "100",
                    "--out", str(tmp_path / "model.pkl")], check=True, cwd=root, capture_output=True)
    assert main(["bundle", str(tmp_path / "model.pkl"), "--version", "1", "--out", str(tmp_path / "b"), "--json"]) == 0
    assert '"delivery": "url"' in capsys.readouterr().out  # 100 trees: hosted, so publish --upload is needed
