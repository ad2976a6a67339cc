"""The key test: NAB streamed message by message through the running agent's HTTP API gives the offline
training matrix's rows, and the served scores equal the model's score_samples on that matrix, bit for bit."""

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import requests
from sklearn.ensemble import IsolationForest

from deployment.bundling import build_bundle
from module.features import load_spec, training_matrix
from module.features.offline import read_csv
from tests.helpers.local_agent import in_process
from tests.helpers.waiting import wait_for

NAB = Path(__file__).resolve().parents[3] / "module" / "data" / "nab" / "machine_temperature_system_failure.csv"
SPEC = {"columns": ["value", "diff(value)", "mean(value, 12)", "std(value, 12)", "max(value, 3600s)",
                    "ewma(value, 0.3)"], "time": "timestamp", "partition": "header:X-Sensor"}
STREAMED = 1500


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bundle")
    (tmp / "spec.json").write_text(json.dumps(SPEC))
    spec = load_spec(tmp / "spec.json")
    matrix = training_matrix(spec, NAB)
    model = IsolationForest(n_estimators=10, max_samples=64, random_state=0).fit(matrix.X[matrix.warm])
    (tmp / "model.pkl").write_bytes(pickle.dumps(model))
    built = build_bundle(tmp / "model.pkl", "w1", tmp / "out", canary_csv=NAB, features=tmp / "spec.json")
    assert built.inline, "the test model must fit the twin"
    return spec, matrix, model, built


def test_streamed_rows_and_scores_equal_offline_bit_for_bit(tmp_path, bundle):
    spec, matrix, model, built = bundle
    messages = read_csv(NAB)[:STREAMED]
    with in_process(tmp_path) as agent:
        agent.handle_desired({"model": built.section, "$version": 2})
        wait_for(lambda: agent.slot.current.version == "w1", timeout=30)
        served = agent.slot.current
        assert served.features.digest == spec.digest
        session = requests.Session()
        results = []
        for message in messages:
            r = session.post(agent.url + "/score", data=json.dumps(message), headers={"X-Sensor": "nab-1"})
            assert r.status_code == 200, r.text
            results.append(r.json())
        # Another sensor through the same agent never shares the window.
        other = session.post(agent.url + "/score", data=json.dumps(messages[0]), headers={"X-Sensor": "nab-2"}).json()
        described = session.get(agent.url + "/model").json()
    scores = np.array([r["score"] for r in results])
    expected = model.score_samples(matrix.X[:STREAMED])
    assert scores.tobytes() == expected.tobytes()  # bit for bit
    assert [r["warm"] for r in results] == matrix.warm[:STREAMED].tolist()
    assert not any(r["anomaly"] for r in results if not r["warm"])
    assert other["warm"] is False and other["score"] == results[0]["score"]
    assert described["features"]["columns"] == SPEC["columns"]
    # The online rows themselves: replaying the offline function over the same messages is the same code
    # path the agent ran; check the state's history matches the last row's window.
    held = agent.service.history.partitions["nab-1"].fields["value"]
    assert [x for _, x in held.raw][-12:] == matrix.X[STREAMED - 12:STREAMED, 0].tolist()
    assert served.scorer.name  # which scorer served (compiled where it applies): the scores above are exact


def test_a_bad_spec_in_the_desired_model_keeps_the_old_model(tmp_path, bundle):
    _, _, _, built = bundle
    bad = {**built.section, "version": "w2", "features": json.dumps({"columns": ["value", "median(value, 3)"]})}
    with in_process(tmp_path) as agent:
        before = agent.slot.current
        agent.handle_desired({"model": bad, "$version": 3})
        wait_for(lambda: agent.reported.snapshot("model").get("status") == "failed", timeout=30)
        error = agent.reported.snapshot("model")["error"]
        assert "median(value, 3)" in error and "unknown function" in error
        assert agent.slot.current is before
        r = requests.post(agent.url + "/score", json={"machine": {"temperature": 70.0, "pressure": 1.0},
                                                     "ambient": {"temperature": 21.0, "humidity": 25}})
        assert r.status_code == 200 and "score" in r.json()


def test_the_canary_replays_on_a_scratch_state(tmp_path, bundle):
    _, _, _, built = bundle
    canary = built.section["canary"]
    assert canary["sequences"]["0"] and canary["inputs"] is None
    wrong = {**built.section, "version": "w3",
             "canary": {**canary, "expected": {**canary["expected"], "0": "-0.001"}}}
    with in_process(tmp_path) as agent:
        agent.handle_desired({"model": wrong, "$version": 4})
        wait_for(lambda: agent.reported.snapshot("model").get("status") == "failed", timeout=30)
        assert "canary" in agent.reported.snapshot("model")["error"]
        assert agent.service.history.partitions == {}  # the live history saw none of the canary


def test_history_survives_a_restart_through_the_snapshot(tmp_path, bundle):
    spec, matrix, model, built = bundle
    messages = read_csv(NAB)[:40]
    with in_process(tmp_path) as agent:
        agent.handle_desired({"model": built.section, "$version": 2})
        wait_for(lambda: agent.slot.current.version == "w1", timeout=30)
        for message in messages[:30]:
            requests.post(agent.url + "/score", data=json.dumps(message), headers={"X-Sensor": "nab-1"})
    assert (tmp_path / "data" / "features.json").is_file()  # written at stop
    with in_process(tmp_path) as agent:  # the store brings w1 back, the snapshot its history
        assert agent.slot.current.version == "w1"
        results = [requests.post(agent.url + "/score", data=json.dumps(m), headers={"X-Sensor": "nab-1"}).json()
                   for m in messages[30:]]
    assert [r["score"] for r in results] == model.score_samples(matrix.X[30:40]).tolist()
    assert all(r["warm"] for r in results)


def test_a_list_without_the_partition_header_is_refused_message_by_message(tmp_path, bundle):
    """The header is looked up once per request; each message still gets its own error, none enters a window."""
    _, _, _, built = bundle
    messages = read_csv(NAB)[:3]
    with in_process(tmp_path) as agent:
        agent.handle_desired({"model": built.section, "$version": 2})
        wait_for(lambda: agent.slot.current.version == "w1", timeout=30)
        r = requests.post(agent.url + "/score", data=json.dumps(messages))
        ok = requests.post(agent.url + "/score", data=json.dumps(messages), headers={"X-Sensor": "nab-1"})
        held = set(agent.service.history.partitions)
    assert r.status_code == 200, r.text  # a list: one result per message, each its own error
    assert [("X-Sensor" in x["error"], "score" in x) for x in r.json()] == [(True, False)] * 3
    assert ok.status_code == 200 and [x["warm"] for x in ok.json()] == [False] * 3
    assert held == {"nab-1"}
