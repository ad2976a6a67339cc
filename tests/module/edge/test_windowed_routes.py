"""A model with a feature spec on the edgeHub path: the default partition is the sending module, and the
served scores equal the offline matrix's score_samples, bit for bit (real SDK over MQTT/TLS)."""

from __future__ import annotations

import json
import pickle

import numpy as np
from sklearn.ensemble import IsolationForest

from deployment.bundling import build_bundle
from module.features import load_spec, training_matrix
from module.features.offline import read_csv
from tests.module.features.test_streaming_agent import NAB

SPEC = {"columns": ["value", "diff(value)", "mean(value, 12)", "std(value, 12)", "min(value, 3600s)"],
        "time": "timestamp"}


def test_each_sending_module_has_its_own_history_and_scores_are_exact(hub, agent, tmp_path):
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    spec = load_spec(tmp_path / "spec.json")
    matrix = training_matrix(spec, NAB)
    model = IsolationForest(n_estimators=10, max_samples=64, random_state=0).fit(matrix.X[matrix.warm])
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(model))
    built = build_bundle(tmp_path / "model.pkl", "e1", tmp_path / "b", canary_csv=NAB, features=tmp_path / "spec.json")
    hub.set_desired({"model": built.section})
    hub.wait_reported(lambda r: r.get("model", {}).get("version") == "e1" and r["model"].get("status") == "active")
    messages = read_csv(NAB)[:120]
    scores_a, warm_a = [], []
    for i, message in enumerate(messages):
        # Sent one at a time: the SDK hands inputs to a pool of 4 handler threads (see docs/features.md).
        hub.send_input(message, correlation_id=f"a-{i}", source_module="sensorA")
        [out] = hub.wait_correlated("scores", f"a-{i}")
        body = out.json()
        scores_a.append(body["score"])
        warm_a.append(body["warm"])
        if i == 60:  # another module's first message mid-stream: a cold history of its own
            hub.send_input(messages[0], correlation_id="b-0", source_module="sensorB")
            [b] = hub.wait_correlated("scores", "b-0")
            assert b.json()["warm"] is False and b.json()["anomaly"] is False
    expected = model.score_samples(matrix.X[:120])
    assert np.array(scores_a).tobytes() == expected.tobytes()
    assert warm_a == matrix.warm[:120].tolist()
