"""The built amd64 runtime image: the agent starts from the image's own CMD, scores over HTTP, takes an update."""

from __future__ import annotations

import json
import time

import pytest
import requests

from deployment.commands.fingerprint import requirement_pins
from tests.helpers.model_bundle import fixed_rows, messages, train, write_bundle
from tests.images.image_support import ROOT, ImageAgent, inline_desired, require_image, run_inside, shared_dir

pytestmark = pytest.mark.images


@pytest.fixture(scope="module", autouse=True)
def built():
    return require_image("amd64")


def test_the_image_has_the_pinned_runtime_from_debian(tmp_path):
    work = shared_dir(tmp_path / "work")
    out = run_inside("amd64", work, "python", "-c",
                     "import json, sklearn, pwd, os; from module.runtime import fingerprint; "
                     "print(json.dumps({**fingerprint(), 'sklearn_at': sklearn.__file__, 'uid': os.getuid()}))")
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout.strip().splitlines()[-1])
    pins = requirement_pins(ROOT / "requirements/runtime.txt", "x86_64")
    assert {k: found[k] for k in pins if k in found} == {k: v for k, v in pins.items() if k in found}
    assert found["python"].startswith("3.11.") and found["machine"] == "x86_64"
    assert found["sklearn_at"].startswith("/usr/lib/python3/dist-packages/")
    assert found["uid"] == 10001


def test_the_agent_from_the_images_cmd_answers_readyz_and_scores(tmp_path):
    agent = ImageAgent("amd64", shared_dir(tmp_path / "work"))
    try:
        agent.wait_ready()
        assert requests.get(agent.url + "/healthz", timeout=5).status_code == 200
        scored = requests.post(agent.url + "/score", json=messages(fixed_rows(5)), timeout=30)
        bad = requests.post(agent.url + "/score", data=b"{not json", timeout=30)
    finally:
        agent.stop()
    assert scored.status_code == 200, scored.text
    results = scored.json()
    assert len(results) == 5 and all(isinstance(r["score"], float) and "model_version" in r for r in results)
    assert bad.status_code == 400 and "error" in bad.json()


def test_a_model_update_through_the_desired_file_swaps_the_model(tmp_path):
    work = shared_dir(tmp_path / "work")
    bundle = write_bundle(tmp_path / "bundle", "7.0.0", train(n_estimators=10, max_samples=64))
    agent = ImageAgent("amd64", work, AGENT_AGENT_DESIRED_FILE="/work/desired.json")
    try:
        (work / "desired.json").write_text(json.dumps({}))
        agent.wait_ready()
        before = requests.get(agent.url + "/model", timeout=5).json()["version"]
        (work / "desired.json").write_text(json.dumps(inline_desired(bundle)))
        deadline = time.monotonic() + 120
        while requests.get(agent.url + "/model", timeout=5).json()["version"] != "7.0.0":
            assert time.monotonic() < deadline, agent.log.read_text()[-3000:]
            time.sleep(0.5)
        scored = requests.post(agent.url + "/score", json=messages(fixed_rows(3)), timeout=30).json()
    finally:
        agent.stop()
    assert before != "7.0.0"
    assert {r["model_version"] for r in scored} == {"7.0.0"}
    assert (work / "data").exists() and any((work / "data").rglob("*.pkl"))  # stored on the mounted volume
