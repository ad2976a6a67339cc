"""The embedded default: SimulatedTemperatureSensor's normal runs are normal, its faults are flagged."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import requests

from module.features import training_matrix
from module.models import embedded, simulated_sensor
from tests.helpers.local_agent import in_process

#: Seeds never used in training (training uses 0 .. embedded.RUNS - 1).
NORMAL_SEEDS = range(1000, 1020)


@pytest.fixture(scope="module")
def default():
    model, payload, spec = embedded.build()
    return model, spec


def flags(default, messages) -> np.ndarray:
    model, spec = default
    matrix = training_matrix(spec, messages)
    return (model.score_samples(matrix.X) < model.offset_) & matrix.warm


def test_the_default_is_deterministic_and_its_manifest_carries_its_spec():
    first_model, first_payload, first_spec = embedded.build()
    second_model, second_payload, _ = embedded.build()
    first = embedded.manifest(first_payload, first_spec)
    assert first["sha256"] == embedded.manifest(second_payload, first_spec)["sha256"]
    assert first["version"] == embedded.VERSION == "embedded-default-2"
    assert first["features"] == first_spec.document and first_spec.width == 6 and first_spec.stateful


def test_normal_runs_are_at_most_half_a_percent_flagged(default):
    flagged = [int(flags(default, simulated_sensor.run(seed=seed)).sum()) for seed in NORMAL_SEEDS]
    assert sum(flagged) <= 0.005 * 500 * len(NORMAL_SEEDS), flagged
    assert max(flagged) <= 0.005 * 500, flagged  # every run, not only on average


def test_a_first_message_is_not_warm_and_never_flagged(default):
    model, spec = default
    matrix = training_matrix(spec, simulated_sensor.run(embedded.STUCK_WINDOW, seed=5))
    assert not matrix.warm[:-1].any() and matrix.warm[-1]
    assert not flags(default, simulated_sensor.run(embedded.STUCK_WINDOW, seed=5)).any()


@pytest.mark.parametrize("at", [60, 300], ids=["climbing", "wandering"])
def test_a_pressure_off_its_relation_to_temperature_is_flagged(default, at):
    run = simulated_sensor.run(seed=7)
    run[at]["machine"]["pressure"] += 0.3  # about 2.6 degrees' worth of pressure, inside the pressure range
    flagged = flags(default, run)
    assert flagged[at] and flagged.sum() == 1


@pytest.mark.parametrize("at", [60, 300], ids=["climbing", "wandering"])
def test_a_jump_of_10_degrees_is_flagged(default, at):
    run = simulated_sensor.run(seed=8)
    for message in run[at:]:  # the machine jumps and stays there; pressure follows, as the sensor's would
        message["machine"]["temperature"] += 10.0
        message["machine"]["pressure"] = simulated_sensor.pressure_for(message["machine"]["temperature"])
    flagged = flags(default, run)
    assert flagged[at] and not flagged[:at].any()


@pytest.mark.parametrize("at", [60, 300], ids=["climbing", "wandering"])
def test_a_stuck_reading_is_flagged_once_the_window_holds_only_it(default, at):
    run = simulated_sensor.run(seed=9)
    for message in run[at:at + 30]:
        message["machine"] = copy.deepcopy(run[at - 1]["machine"])
    flagged = flags(default, run)
    assert not flagged[:at].any()
    assert flagged[at - 1 + embedded.STUCK_WINDOW - 1: at + 30].all()


def test_the_agent_serves_the_default_over_http_as_the_offline_rows_score(tmp_path, default):
    model, spec = default
    run = simulated_sensor.run(seed=11)
    run[400]["machine"]["pressure"] = 1.0  # one fault, so the served flags are not all False
    matrix = training_matrix(spec, run)
    with in_process(tmp_path) as agent:
        assert agent.slot.current.version == embedded.VERSION
        results = requests.post(agent.url + "/score", json=run, headers={"X-Partition": "sensor-1"}, timeout=60).json()
        other = requests.post(agent.url + "/score", json=run[:3], headers={"X-Partition": "sensor-2"}, timeout=60).json()
    assert [r["score"] for r in results] == model.score_samples(matrix.X).tolist()  # ==, not approx
    assert [r["warm"] for r in results] == matrix.warm.tolist()
    assert [i for i, r in enumerate(results) if r["anomaly"]] == [400]
    assert [r["warm"] for r in other] == [False] * 3  # its own partition: sensor-1's history is not shared
