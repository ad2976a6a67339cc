"""The offline function: training matrix and warm flags from a CSV, an array or a list of messages."""

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from module.features import SpecError, parse_spec, training_matrix
from module.features.offline import read_csv

NAB = Path(__file__).resolve().parents[3] / "module" / "data" / "nab" / "machine_temperature_system_failure.csv"
SPEC = {"columns": ["value", "diff(value)", "mean(value, 12)", "std(value, 12)", "min(value, 3600s)",
                    "max(value, 12)", "lag(value, 3)", "ewma(value, 0.5)"], "time": "timestamp"}


@pytest.fixture(scope="module")
def nab():
    return training_matrix(SPEC, NAB)


def test_columns_are_the_exact_window_statistics(nab):
    v = nab.X[:, 0]
    for i in range(11, 800):
        w = v[i - 11:i + 1]
        exact_mean = sum(map(Fraction, w)) / 12
        assert nab.X[i, 1] == v[i] - v[i - 1]
        assert nab.X[i, 2] == float(exact_mean)
        exact_var = sum((Fraction(x) - exact_mean) ** 2 for x in w) / 12
        assert nab.X[i, 3] == math.sqrt(float(exact_var))
        assert nab.X[i, 4] == w.min()  # 12 readings 5 minutes apart: the last hour
        assert nab.X[i, 5] == w.max()
        assert nab.X[i, 6] == v[i - 3]


def test_warm_up_rule(nab):
    # 12 values for the count windows, one hour of time for min(value, 3600s), 7 values for ewma(0.5).
    assert not nab.warm[:12].any()
    assert nab.warm[12:].all()
    assert nab.X[0, 1] == 0.0 and nab.X[0, 6] == nab.X[0, 0] and nab.X[0, 3] == 0.0  # cold columns are finite


def test_array_list_and_csv_give_the_same_rows():
    spec = parse_spec({"columns": ["value", "diff(value)", "mean(value, 5)", "ewma(value, 0.3)"]})
    messages = read_csv(NAB)[:300]
    from_list = training_matrix(spec, messages)
    from_array = training_matrix(spec, np.array([m["value"] for m in messages]))
    assert np.array_equal(from_list.X, from_array.X) and np.array_equal(from_list.warm, from_array.warm)


def test_partitions_never_share_a_window():
    spec = {"columns": ["v", "mean(v, 2)"], "partition": "sensor"}
    messages = [{"sensor": "a", "v": 1.0}, {"sensor": "b", "v": 100.0}, {"sensor": "a", "v": 3.0}]
    m = training_matrix(spec, messages)
    assert m.X[:, 1].tolist() == [1.0, 100.0, 2.0]
    assert m.warm.tolist() == [False, False, True]
    assert m.partitions == ["a", "b", "a"]


def test_a_message_missing_a_field_names_it():
    with pytest.raises(ValueError, match=r"message 1: field 'v' is missing"):
        training_matrix({"columns": ["v"]}, [{"v": 1}, {"w": 2}])


def test_duration_windows_need_a_time_offline():
    with pytest.raises(ValueError, match="no time"):
        training_matrix({"columns": ["mean(v, 10s)"], "time": "t"}, [{"v": 1.0}])
    m = training_matrix({"columns": ["mean(v, 10s)"], "time": "t"}, [{"v": 1.0}, {"v": 3.0}], times=[0.0, 5.0])
    assert m.X[:, 0].tolist() == [1.0, 2.0]


def test_an_array_of_the_wrong_width():
    with pytest.raises(SpecError, match="one column per field"):
        training_matrix({"columns": ["a", "b"]}, np.zeros((3, 3)))
