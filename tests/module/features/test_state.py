"""The online state: arrival order, out-of-order times, bounds, spec swaps keep history warm."""

import random

import numpy as np

from module.features import FeatureState, parse_spec, training_matrix
from module.features.state import Row

SPEC = parse_spec({"columns": ["v", "mean(v, 3)", "max(v, 10s)"], "time": "t"})


def test_update_returns_the_row_and_warm():
    state = FeatureState()
    rows = [state.update(SPEC, "a", {"v": float(i), "t": float(i * 5)}) for i in range(4)]
    assert rows[0] == Row((0.0, 0.0, 0.0), False)
    assert rows[2] == Row((2.0, 1.0, 2.0), True)  # 3 values, and 10 s since the first
    assert rows[3].values == (3.0, 2.0, 3.0)  # max over (5, 15]: t=10 and t=15


def test_out_of_order_times_are_taken_at_the_partitions_latest():
    state = FeatureState()
    state.update(SPEC, "a", {"v": 1.0, "t": 100.0})
    row = state.update(SPEC, "a", {"v": 5.0, "t": 50.0})  # late: joins at t=100, never rewinds windows
    assert row.values == (5.0, 3.0, 5.0)
    assert state.out_of_order == 1
    assert state.partitions["a"].latest == 100.0


def test_a_bad_message_changes_no_history():
    state = FeatureState()
    state.update(SPEC, "a", {"v": 1.0, "t": 0.0})
    for bad in ({"t": 1.0}, {"v": "x", "t": 1.0}, {"v": float("nan"), "t": 1.0}, ["v"]):
        try:
            state.update(SPEC, "a", bad)
        except ValueError:
            pass
        else:
            raise AssertionError(f"{bad} was accepted")
    assert state.partitions["a"].fields["v"].count == 1


def test_a_random_key_flood_stays_bounded_and_drops_the_oldest_idle():
    now = [0.0]
    state = FeatureState(max_partitions=100, idle_ttl_s=3600, clock=lambda: now[0])
    state.update(SPEC, "steady", {"v": 1.0, "t": 0.0})
    for i in range(5000):
        now[0] = float(i)
        if i % 50 == 0:
            state.update(SPEC, "steady", {"v": 1.0, "t": now[0]})
        state.update(SPEC, f"flood-{random.getrandbits(64):x}", {"v": 1.0, "t": now[0]})
        assert len(state.partitions) <= 100
    assert "steady" in state.partitions  # recently seen: never the one dropped
    assert state.dropped >= 5000 - 100
    now[0] += 3601
    state.expire()
    assert len(state.partitions) == 0


def test_a_spec_required_before_its_swap_is_warm_at_once():
    state = FeatureState()
    old = parse_spec({"columns": ["v"]})
    new = parse_spec({"columns": ["mean(v, 20)", "std(v, 20)", "min(v, 20)"]})
    state.require(old)
    messages = [{"v": float(x)} for x in np.random.default_rng(1).normal(size=80)]
    for m in messages[:20]:
        state.update(old, "a", m, arrival=0.0)
    state.require(new)  # the candidate validated: from now on the history is held for its windows too
    for m in messages[20:37]:
        state.update(old, "a", m, arrival=0.0)
    # Held: message 19 (all the old spec kept) and 20..37: 19 values, one short of the new windows.
    assert not state.update(new, "a", messages[37], arrival=0.0).warm
    rows = [state.update(new, "a", m, arrival=0.0) for m in messages[38:]]  # the swap: new serves
    assert all(r.warm for r in rows)
    offline = training_matrix(new, messages)
    assert np.array_equal(np.array([r.values for r in rows]), offline.X[38:])  # bit for bit


def test_history_is_kept_only_as_long_as_the_longest_window():
    state = FeatureState()
    spec = parse_spec({"columns": ["lag(v, 4)", "mean(v, 2)"]})
    for i in range(50):
        state.update(spec, "a", {"v": float(i)}, arrival=0.0)
    assert len(state.partitions["a"].fields["v"].raw) == 5


def test_a_reading_past_the_bound_is_refused_and_never_enters_a_window():
    """1e38 is the largest reading a spec field takes: a diff of two of them stays in float32's range."""
    spec = parse_spec({"columns": ["v", "diff(v)", "std(v, 3)"]})
    state = FeatureState(clock=None)
    state.update(spec, "a", {"v": -1e38})
    row = state.update(spec, "a", {"v": 1e38})
    assert row.values[1] == 2e38 and all(abs(x) <= np.finfo(np.float32).max for x in row.values)
    for bad in (3e38, -1e39, 10 ** 40):
        try:
            state.update(spec, "a", {"v": bad})
        except ValueError as exc:
            assert "field 'v' is beyond +-1e+38" in str(exc)
        else:
            raise AssertionError(f"{bad} was accepted")
    assert [x for _, x in state.partitions["a"].fields["v"].raw] == [-1e38, 1e38]
    assert [str(r) for r in state.update_many(spec, "a", [{"v": 1.0}, {"v": 5e38}])][1].startswith("field 'v' is beyond")
