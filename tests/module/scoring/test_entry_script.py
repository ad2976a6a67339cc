"""Azure ML entry scripts in the agent: init() per model with AZUREML_MODEL_DIR and the Model shim,
run() per message behind the real HTTP server, a swap re-runs init(), failures stay contained."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import requests
from sklearn.ensemble import IsolationForest

from deployment.bundling import build_bundle
from module.agent import Agent
from module.errors import UpdateError
from module.models import nab
from module.scoring import entry_script
from module.scoring.entry_model_dir import ROOT_NAME
from module.scoring.prepare import prepare
from module.settings import load
from tests.helpers.net import loopback_address, wait_listening

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "azureml_iot_score" / "iot_score.py"

#: Records what init() saw, so a test can tell which model file each instance loaded.
RECORDING_SCRIPT = """
import json, os
import joblib
from azureml.core.model import Model

def init():
    global model, seen_dir, trees
    seen_dir = os.environ["AZUREML_MODEL_DIR"]
    model = joblib.load(Model.get_model_path("model.pkl"))
    trees = len(model.estimators_)
    if trees == 3:
        raise RuntimeError("this script refuses models of 3 trees")
    print("init done", trees)

def run(input_str):
    msg = json.loads(input_str)
    if msg.get("boom"):
        raise ValueError("boom requested")
    row = [[msg["machine"]["temperature"], msg["machine"]["pressure"],
            msg["ambient"]["temperature"], msg["ambient"]["humidity"]]]
    msg["score"] = float(model.score_samples(row)[0])
    msg["trees"] = trees
    msg["seen_dir"] = seen_dir
    return [json.dumps(msg)]
"""


def message(row, **extra) -> dict:
    return {**nab.to_message(np.asarray(row, dtype=float), "2024-01-01T00:00:00Z"), **extra}


def nab_rows(n: int = 5) -> np.ndarray:
    _, values = nab.load_series()
    X = nab.to_features(values[:n])
    X[-1] = [21.32, 1.04, 20.86, 25.0]  # the quick start's example reading: an anomaly for the default model
    return X


def write_script(tmp_path: Path, source: str, name: str = "score.py") -> Path:
    path = tmp_path / "scripts" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


def stored_model(tmp_path: Path, version: str, trees: int, seed: int) -> tuple[IsolationForest, dict, Path]:
    """A model as the update pipeline leaves it: its file in a store directory, and its manifest."""
    _, values = nab.load_series()
    estimator = IsolationForest(n_estimators=trees, random_state=seed).fit(nab.to_features(values[:2000]))
    payload = pickle.dumps(estimator, protocol=5)
    directory = tmp_path / "store" / version
    directory.mkdir(parents=True)
    (directory / "model.pkl").write_bytes(payload)
    sha = hashlib.sha256(payload).hexdigest()
    manifest = {"version": version, "format": "pickle", "file": "model.pkl", "sha256": sha}
    return estimator, manifest, directory / "model.pkl"


def small_bundle(tmp_path: Path, version: str, trees: int, seed: int):
    """A bundle made by the real bundler from a model small enough to travel inline in the twin."""
    _, values = nab.load_series()
    estimator = IsolationForest(n_estimators=trees, max_samples=16, random_state=seed)
    estimator.fit(nab.to_features(values)[::50])
    path = tmp_path / f"m-{version}.pkl"
    path.write_bytes(pickle.dumps(estimator, protocol=5))
    bundle = build_bundle(path, version, tmp_path / "bundles" / version)
    assert bundle.inline
    return bundle, estimator


def apply_desired(agent: Agent, bundle, desired_version: int = 1) -> dict:
    """Hand the desired `model` section to the agent as the twin would; the reported state once it settles."""
    agent.handle_desired({"model": bundle.section, "$version": desired_version})
    assert agent.updater.reconciler.wait_idle(60), "the update did not finish"
    return agent.reported.snapshot("model")


@pytest.fixture
def run_agent(tmp_path):
    """Start an agent with an entry script, HTTP on its own loopback address; stopped after the test."""
    started = []

    def start(script: Path) -> tuple[Agent, str]:
        host = loopback_address()
        settings = load(
            environ={},
            overrides={
                "agent": {"local": True, "data_dir": str(tmp_path / "data"), "entry_script": str(script),
                          "default_model": "nab-forest"},  # the example script reads a forest
                "http": {"host": host, "port": 0},
                # The compiled scorer's bit-for-bit check at load is not what these tests are about.
                "scoring": {"compiled": False},
                "updates": {"baked_model_dir": str(tmp_path / "no-baked-model")},
            },
        )
        agent = Agent(settings)
        started.append(agent)
        agent.start(local=True)
        return agent, f"http://{host}:{agent.http.port}"

    try:
        yield start
    finally:
        for agent in started:
            agent.stop()
        entry_script.configure(None, tmp_path)


def swap_in(agent: Agent, estimator, manifest: dict, path: Path):
    """What the update pipeline does after verify: prepare (init() runs here), then the one swap."""
    new = prepare(estimator, manifest, source="update", n_features=4, path=path)
    agent.activate(new)
    return new


def post(base: str, body) -> requests.Response:
    return requests.post(f"{base}/score", json=body, timeout=10)


# -- the seed-shaped example ---------------------------------------------------------------------------


def test_example_script_adds_anomaly_to_the_message(run_agent):
    agent, base = run_agent(EXAMPLE)
    X = nab_rows()
    sent = [message(r, id=i) for i, r in enumerate(X)]
    response = post(base, sent)
    assert response.status_code == 200
    got = response.json()
    predicted = agent.slot.current.estimator.predict(X)
    for original, result, label in zip(sent, got, predicted):
        assert result["anomaly"] is bool(label == -1)
        assert result["model_version"] == "embedded-default-1"
        assert {k: v for k, v in result.items() if k not in ("anomaly", "model_version")} == original
    assert got[-1]["anomaly"] is True
    single = post(base, sent[0])
    assert single.status_code == 200 and single.json()["machine"] == sent[0]["machine"]


def test_embedded_default_goes_through_init_from_a_verified_copy(run_agent, tmp_path):
    agent, _ = run_agent(EXAMPLE)
    model = agent.slot.current
    model_file = model.entry.model_dir / "model.pkl"
    assert model.entry.model_dir.parent == tmp_path / "data" / ROOT_NAME
    assert hashlib.sha256(model_file.read_bytes()).hexdigest() == model.sha256
    assert os.environ["AZUREML_MODEL_DIR"] == str(model.entry.model_dir)
    assert agent.slot.current.describe()["entry_script"] == str(EXAMPLE)


# -- swaps ------------------------------------------------------------------------------------------------


def test_update_reruns_init_and_results_name_the_new_version(run_agent, tmp_path):
    """Through the update pipeline (desired model section, inline in the twin budget): verify, safe load,
    prepare (init() of a fresh script instance), canary, swap."""
    agent, base = run_agent(write_script(tmp_path, RECORDING_SCRIPT))
    old = agent.slot.current
    reading = message(nab_rows()[0])
    first = post(base, reading).json()
    assert (first["model_version"], first["trees"]) == ("embedded-default-1", 100)

    bundle, estimator = small_bundle(tmp_path, "2", trees=5, seed=1)
    state = apply_desired(agent, bundle)
    assert (state["status"], state["version"]) == ("active", "2")
    new = agent.slot.current
    second = post(base, reading).json()
    assert (second["model_version"], second["trees"]) == ("2", 5)
    assert second["score"] == float(estimator.score_samples(nab_rows()[:1])[0])
    assert second["seen_dir"] == str(new.entry.model_dir) != first["seen_dir"]
    # The old instance kept its own globals: a batch still holding it is scored by the old model.
    (held,) = old.entry.run_messages([reading], old)
    assert (held["model_version"], held["trees"]) == ("embedded-default-1", 100)


def test_init_failure_on_a_new_model_keeps_the_old_one_serving_and_reports_why(run_agent, tmp_path):
    agent, base = run_agent(write_script(tmp_path, RECORDING_SCRIPT))
    bundle, _ = small_bundle(tmp_path, "3", trees=3, seed=2)
    state = apply_desired(agent, bundle)
    assert state["status"] == "failed"
    assert state["error"].startswith("load: entry script score.py init() failed for model 3")
    assert "this script refuses models of 3 trees" in state["error"]
    assert agent.slot.current.version == "embedded-default-1"
    result = post(base, message(nab_rows()[0])).json()
    assert (result["model_version"], result["trees"]) == ("embedded-default-1", 100)
    assert os.environ["AZUREML_MODEL_DIR"] == str(agent.slot.current.entry.model_dir)
    assert not any(p.name.startswith("3-") for p in (tmp_path / "data" / ROOT_NAME).iterdir())
    # The same script then takes a model it accepts: nothing was left half-swapped.
    good, _ = small_bundle(tmp_path, "4", trees=5, seed=3)
    state = apply_desired(agent, good, desired_version=2)
    assert state.get("version") == "4", json.dumps(state)
    assert post(base, message(nab_rows()[0])).json()["model_version"] == "4"


def test_prepare_runs_init_before_the_swap(run_agent, tmp_path):
    """prepare() alone builds the instance (init() has run); the slot changes only at activate()."""
    agent, base = run_agent(write_script(tmp_path, RECORDING_SCRIPT))
    estimator, manifest, path = stored_model(tmp_path, "5", trees=5, seed=4)
    new = prepare(estimator, manifest, source="update", n_features=4, path=path)
    assert new.entry is not None and agent.slot.current.version == "embedded-default-1"
    assert post(base, message(nab_rows()[0])).json()["model_version"] == "embedded-default-1"
    agent.activate(new)
    assert post(base, message(nab_rows()[0])).json()["trees"] == 5


def test_a_tampered_model_file_is_refused_before_init(run_agent, tmp_path):
    agent, _ = run_agent(write_script(tmp_path, RECORDING_SCRIPT))
    estimator, manifest, path = stored_model(tmp_path, "4", trees=20, seed=3)
    path.write_bytes(path.read_bytes() + b"tampered")
    with pytest.raises(UpdateError, match="changed after it was verified"):
        swap_in(agent, estimator, manifest, path)
    assert agent.slot.current.version == "embedded-default-1"


# -- run() failures ---------------------------------------------------------------------------------------


def test_run_raising_yields_error_results_and_the_process_stays_up(run_agent, tmp_path):
    agent, base = run_agent(write_script(tmp_path, RECORDING_SCRIPT))
    good = message(nab_rows()[0], id="a")
    bad = message(nab_rows()[1], id="b", boom=True)
    response = post(base, [good, bad, good])
    assert response.status_code == 200
    first, failed, third = response.json()
    assert failed == {
        "error": "entry script run() raised ValueError('boom requested')",
        "error_type": "ScoringFailed",
        "model_version": "embedded-default-1",
        "id": "b",
    }
    assert first["trees"] == third["trees"] == 100
    single = post(base, bad)
    assert single.status_code == 500 and single.json()["error_type"] == "ScoringFailed"
    assert post(base, good).status_code == 200
    assert 'agent_errors_total{kind="ScoringFailed"}' in requests.get(f"{base}/metrics", timeout=5).text


@pytest.mark.parametrize(
    "returned, expected",
    [
        ('[json.dumps({"a": 1})]', {"a": 1}),
        ('{"a": np.float64(2.5), "b": np.array([1, 2])}', {"a": 2.5, "b": [1, 2]}),
        ('json.dumps([1, 2])', {"results": [1, 2]}),
        ('["x", "y"]', {"results": ["x", "y"]}),
        ('"plain text"', {"result": "plain text"}),
        ("42", {"result": 42}),
    ],
)
def test_run_return_values_become_result_dicts(run_agent, tmp_path, returned, expected):
    script = f"import json\nimport numpy as np\ndef init():\n    pass\ndef run(input_str):\n    return {returned}\n"
    _, base = run_agent(write_script(tmp_path, script))
    assert post(base, {"id": 9}).json() == {**expected, "model_version": "embedded-default-1", "id": 9}


def test_run_returning_what_json_cannot_carry_is_an_error_result(run_agent, tmp_path):
    script = "def init():\n    pass\ndef run(input_str):\n    return {'x': float('nan'), 'y': object()}\n"
    _, base = run_agent(write_script(tmp_path, script))
    result = post(base, {"a": 1}).json()
    assert result["error_type"] == "ScoringFailed" and "JSON cannot carry" in result["error"]


# -- loading ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source, reason",
    [
        ("def init():\n    pass\n", "has no run() function"),
        ("def run(s):\n    return s\n", "has no init() function"),
        ("def init(:\n", "failed to import: SyntaxError"),
        ("import no_such_package_here\n", "failed to import: ModuleNotFoundError"),
    ],
)
def test_a_script_that_cannot_serve_is_refused_at_load(tmp_path, source, reason):
    entry_script.configure(write_script(tmp_path, source), tmp_path / "data")
    try:
        estimator, manifest, path = stored_model(tmp_path, "5", trees=5, seed=4)
        with pytest.raises(UpdateError, match=re.escape(reason)):
            prepare(estimator, manifest, source="update", n_features=4, path=path)
    finally:
        entry_script.configure(None, tmp_path)


def test_an_unwritable_model_directory_is_refused_at_load(tmp_path):
    blocked = tmp_path / "data-is-a-file"
    blocked.write_text("")
    entry_script.configure(EXAMPLE, blocked)
    try:
        estimator, manifest, path = stored_model(tmp_path, "6", trees=5, seed=5)
        with pytest.raises(UpdateError, match="cannot write the entry script's model directory") as caught:
            prepare(estimator, manifest, source="update", n_features=4, path=path)
        assert caught.value.stage == "load"
    finally:
        entry_script.configure(None, tmp_path)


def test_script_reading_azureml_model_dir_directly(run_agent, tmp_path):
    script = """
    import json, os, pickle
    def init():
        global model
        with open(os.path.join(os.getenv("AZUREML_MODEL_DIR"), "model.pkl"), "rb") as f:
            model = pickle.load(f)
    def run(input_str):
        return {"trees": len(model.estimators_)}
    """
    _, base = run_agent(write_script(tmp_path, script))
    assert post(base, {}).json()["trees"] == 100


def test_print_in_a_script_becomes_a_log_line(run_agent, tmp_path, caplog):
    caplog.set_level("INFO")
    run_agent(write_script(tmp_path, RECORDING_SCRIPT))
    (record,) = [r for r in caplog.records if r.getMessage() == "init done 100"]
    assert record.model_version == "embedded-default-1"


def test_shim_is_installed_only_without_azureml(tmp_path):
    fake = tmp_path / "site" / "azureml" / "core"
    fake.mkdir(parents=True)
    (fake.parent / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("")
    (fake / "model.py").write_text("class Model:\n    real = True\n")
    code = (
        "from module.scoring import azureml_shim as s; print(s.install());"
        "from azureml.core.model import Model; print(hasattr(Model, 'real'))"
    )
    with_real = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                               env={**os.environ, "PYTHONPATH": f"{tmp_path / 'site'}:{REPO}"})
    without = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    assert with_real.stdout.split() == ["False", "True"], with_real.stderr
    assert without.stdout.split() == ["True", "False"], without.stderr


# -- the command line ---------------------------------------------------------------------------------------


def test_command_line_runs_the_example_script(tmp_path):
    host = loopback_address()
    from tests.helpers.net import free_port

    port = free_port(host)
    cmd = [sys.executable, "-m", "module", "--local", "--entry-script", str(EXAMPLE), "--data-dir", str(tmp_path),
           "--http-host", host, "--http-port", str(port)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_listening(host, port, timeout=60)
        result = post(f"http://{host}:{port}", message(nab_rows()[-1])).json()
        assert result["anomaly"] is True and result["model_version"] == "embedded-default-1"
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    logged = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert any(line.get("msg") == "entry script initialised" for line in logged)


def test_command_line_refuses_a_missing_script(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "module", "--local", "--entry-script", str(tmp_path / "nope.py")],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "agent.entry_script" in proc.stderr and "no such file" in proc.stderr
