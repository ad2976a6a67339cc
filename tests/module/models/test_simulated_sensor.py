"""The re-implementation of SimulatedTemperatureSensor keeps the module's published behaviour."""

import json

import numpy as np

from module.models import simulated_sensor


def columns(run):
    t = np.array([m["machine"]["temperature"] for m in run])
    p = np.array([m["machine"]["pressure"] for m in run])
    a = np.array([m["ambient"]["temperature"] for m in run])
    h = np.array([m["ambient"]["humidity"] for m in run])
    return t, p, a, h


def test_a_run_climbs_from_21_past_100_then_wanders():
    run = simulated_sensor.run(seed=3)
    assert len(run) == 500
    t, _, _, _ = columns(run)
    steps = np.diff(np.concatenate([[21.0], t]))
    climbing = np.concatenate([[21.0], t[:-1]]) <= 100.0
    assert 20.75 <= t[0] <= 22.25
    assert steps[climbing].min() >= -0.25 and steps[climbing].max() <= 1.25
    assert steps[~climbing].min() >= -0.5 and steps[~climbing].max() <= 0.5
    assert climbing[:100].all() and (~climbing).sum() > 250  # past 100 within ~160 messages, then wandering


def test_pressure_follows_temperature_onto_1_to_10_and_ambient_keeps_its_ranges():
    t, p, a, h = columns(simulated_sensor.run(seed=4))
    assert np.allclose(p, 1.0 + (t - 21.0) * 9.0 / 79.0, rtol=0, atol=1e-12)
    assert simulated_sensor.pressure_for(100.0) == 10.0
    assert a.min() >= 20.5 and a.max() <= 21.5
    assert set(h.tolist()) == {24, 25, 26}


def test_runs_are_seeded_and_shaped_like_the_module_sends_them():
    first, again, other = simulated_sensor.run(20, seed=1), simulated_sensor.run(20, seed=1), simulated_sensor.run(20, seed=2)
    assert first == again and first != other
    message = json.loads(json.dumps(first[1]))
    assert set(message) == {"machine", "ambient", "timeCreated"}
    assert set(message["machine"]) == {"temperature", "pressure"} and set(message["ambient"]) == {"temperature", "humidity"}
    assert isinstance(message["ambient"]["humidity"], int)
    assert first[0]["timeCreated"] == "2024-01-01T00:00:00.0000000Z" and first[1]["timeCreated"] == "2024-01-01T00:00:05.0000000Z"
