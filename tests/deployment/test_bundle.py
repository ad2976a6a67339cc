"""`python -m deployment bundle` and `keygen`: the bundle the agent applies, signed with the agent's own code."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zstandard
from sklearn.ensemble import IsolationForest

from deployment.__main__ import main
from module.models import nab
from module.runtime import fingerprint
from module.updates import section as section_mod, signing, verify

REPO = Path(__file__).resolve().parents[2]


def _model(tmp_path, trees=3, name="model.pkl") -> Path:
    _, values = nab.load_series()
    X = nab.to_features(values)[::50]
    path = tmp_path / name
    path.write_bytes(pickle.dumps(IsolationForest(n_estimators=trees, max_samples=16, random_state=1).fit(X)))
    return path


def test_bundle_writes_manifest_payload_and_an_inline_desired_document(tmp_path, capsys):
    model = _model(tmp_path)
    out = tmp_path / "b"
    assert main(["bundle", str(model), "--version", "7", "--out", str(out)]) == 0
    assert "inline in the twin" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    data = model.read_bytes()
    assert manifest["size"] == len(data) and manifest["file"] == "model.pkl" and manifest["format"] == "pickle"
    assert manifest["runtime"] == fingerprint()
    assert zstandard.ZstdDecompressor().decompress((out / "payload.zst").read_bytes()) == data
    desired = json.loads((out / "desired.json").read_text())
    parsed = section_mod.parse(_drop_nulls(desired["model"]), 1 << 30)
    assert parsed.sha256 == manifest["sha256"] == verify.sha256_of(out / "model.pkl")
    assert parsed.inline is not None and parsed.url is None
    assert len(json.dumps(desired)) < section_mod.TWIN_DESIRED_LIMIT - section_mod.OTHER_SECTIONS_RESERVE


def _drop_nulls(value):
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    return value


def test_canary_expected_scores_come_from_the_model(tmp_path):
    from module.updates import safe_load

    model = _model(tmp_path)
    csv = tmp_path / "rows.csv"
    csv.write_text("t,p,a,h\n21.3,1.04,20.9,25\n99,9.9,21,26\n")
    out = tmp_path / "b"
    assert main(["bundle", str(model), "--version", "7", "--out", str(out), "--canary-data", str(csv)]) == 0
    canary = json.loads((out / "manifest.json").read_text())["canary"]
    X = np.array([json.loads(canary["inputs"][k]) for k in ("0", "1")])
    own = safe_load.load(model, "pickle").score_samples(X)
    assert [float(canary["expected"][k]) for k in ("0", "1")] == own.tolist()


def test_large_model_gets_a_url_section(tmp_path, capsys):
    model = _model(tmp_path, trees=60)
    out = tmp_path / "b"
    assert main(["bundle", str(model), "--version", "8", "--out", str(out), "--url", "https://m.example/8.zst"]) == 0
    section = json.loads((out / "desired.json").read_text())["model"]
    assert section["url"] == "https://m.example/8.zst" and section["inline"] is None


def test_model_over_the_inline_budget_falls_back_to_a_url_placeholder(tmp_path):
    model = _model(tmp_path, trees=80)
    out = tmp_path / "b"
    assert main(["bundle", str(model), "--version", "9", "--out", str(out)]) == 0
    payload = (out / "payload.zst").read_bytes()
    section = json.loads((out / "desired.json").read_text())["model"]
    assert len(payload) * 4 / 3 > section_mod.INLINE_BUDGET
    assert section["inline"] is None and "REPLACE-WITH-YOUR-HOST" in section["url"]


def test_keygen_and_signed_bundle_verify_with_the_agents_code(tmp_path):
    keys = tmp_path / "keys"
    assert main(["keygen", "--out", str(keys)]) == 0
    assert (keys / "private.pem").stat().st_mode & 0o777 == 0o600
    assert main(["keygen", "--out", str(keys)]) == 2  # never overwrites a key pair
    out = tmp_path / "b"
    assert main(["bundle", str(_model(tmp_path)), "--version", "7", "--out", str(out),
                 "--sign-key", str(keys / "private.pem")]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    public = signing.load_public_key((keys / "public.pem").read_text())
    signing.verify(manifest, manifest["signature"], public)
    verify.check_manifest(manifest, (keys / "public.pem").read_text(), None)


@pytest.mark.parametrize("args, message", [
    (["--version", "../x"], "--version must be"),
    (["--version", "7\n"], "--version must be"),  # `$` would have matched before the newline
    (["--version", "7", "--format", "skops"], "cannot load the skops file"),
])
def test_bad_options_exit_2_with_a_message(tmp_path, capsys, args, message):
    assert main(["bundle", str(_model(tmp_path)), *args, "--out", str(tmp_path / "b")]) == 2
    assert message in capsys.readouterr().err


def test_a_pickle_the_agent_would_refuse_is_refused_by_the_bundler(tmp_path, capsys):
    import collections

    path = tmp_path / "odd.pkl"
    path.write_bytes(pickle.dumps(collections.OrderedDict(a=1)))
    assert main(["bundle", str(path), "--version", "7", "--out", str(tmp_path / "b")]) == 2
    assert "not on the allow-list" in capsys.readouterr().err


def test_cli_runs_as_a_module(tmp_path):
    done = subprocess.run([sys.executable, "-m", "deployment", "bundle", str(_model(tmp_path)), "--version", "3",
                           "--out", str(tmp_path / "b")], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0 and "desired state:" in done.stdout


def test_bundling_in_another_environment_warns_that_devices_will_refuse(tmp_path):
    from deployment import bundling

    assert bundling.runtime_warnings(fingerprint()) == []  # this project's .venv is the fleet's set
    other = {**fingerprint(), "scikit-learn": "1.5.2"}
    (warning,) = bundling.runtime_warnings(other)
    assert "scikit-learn 1.5.2" in warning and "devices will refuse" in warning
