"""update_many (a list from one sender, a column at a time) gives the rows, errors and state of one
update per message, bit for bit; and the exact sums do not depend on the scale they grew to."""

import math
import random
from fractions import Fraction

import pytest

from module.features import FeatureState, parse_spec
from module.features.exact import ExactSums
from module.features.state import Row
from module.features.windows import Ewma, Extreme, Sums, add_many

COUNT_SPEC = parse_spec({"columns": [
    "a", "diff(a)", "lag(a, 3)", "mean(a, 5)", "std(a, 5)", "min(a, 4)", "max(b, 6)", "ewma(b, 0.3)",
    "std(b, 2)", "b"]})
OTHER_SPEC = parse_spec({"columns": ["c", "mean(c, 3)", "max(a, 9)"]})  # c: only this spec reads it
DURATION_SPEC = parse_spec({"columns": ["a", "mean(a, 10s)"], "time": "t"})


def _message(rng: random.Random, i: int) -> object:
    roll = rng.random()
    if roll < 0.05:
        return rng.choice([{"b": 1.0}, {"a": "x", "b": 1.0}, {"a": float("nan"), "b": 2.0}, [1, 2],
                           {"a": {"deep": 1.0}, "b": 1.0}, {"a": True, "b": 1.0}])
    message = {"a": rng.choice([rng.uniform(-50, 120), float(rng.randint(0, 30)), 0.1 * i, 5e-324, 1e38, -1e38, 3e38]),
               "b": rng.gauss(5, 2), "t": float(i)}
    if rng.random() < 0.5:
        message["c"] = rng.uniform(0, 1)
    return message


def _state_of(state: FeatureState) -> dict:
    """Everything a partition holds, with the exact sums as fractions (scale-free)."""
    out = {"dropped": state.dropped, "out_of_order": state.out_of_order}
    for key, part in state.partitions.items():
        fields = {}
        for path, f in part.fields.items():
            windows = {}
            for wkey, w in f.windows.items():
                if isinstance(w, Sums):
                    s = w.sums
                    windows[wkey] = (list(w.held), s.n, Fraction(s.s1, 2 ** s.bits), Fraction(s.s2, 4 ** s.bits))
                elif isinstance(w, Extreme):
                    windows[wkey] = (list(w.held), w.seq)
                else:
                    windows[wkey] = (w.current, w.n)
            fields[path] = (list(f.raw), f.count, f.first_time, f.kept, windows)
        out[key] = (part.latest, part.last_seen, part.plan, fields)
    return out


def _outcome(result) -> object:
    return result if isinstance(result, Row) else (type(result).__name__, str(result))


def _one_by_one(state: FeatureState, spec, key, messages, arrival) -> list:
    out = []
    for m in messages:
        try:
            out.append(state.update(spec, key, m, arrival))
        except ValueError as exc:
            out.append(exc)
    return out


def _twins(*specs) -> tuple[FeatureState, FeatureState]:
    pair = FeatureState(clock=None), FeatureState(clock=None)
    for state in pair:
        for spec in specs:
            state.require(spec)
    return pair


@pytest.mark.parametrize("seed", range(8))
def test_lists_give_the_rows_errors_and_state_of_one_update_each(seed):
    rng = random.Random(seed)
    one, many = _twins(COUNT_SPEC, OTHER_SPEC)
    arrival, i = 1000.0, 0
    for _ in range(30):
        batch = [_message(rng, i + j) for j in range(rng.choice([1, 2, 3, 7, 20, 60]))]
        i += len(batch)
        key = rng.choice(["s1", "s2"])
        arrival += rng.choice([0.0, 1.0, -5.0])  # the clock may step back: out of order, taken at the latest
        expected = [_outcome(r) for r in _one_by_one(one, COUNT_SPEC, key, batch, arrival)]
        got = [_outcome(r) for r in many.update_many(COUNT_SPEC, key, batch, arrival)]
        assert got == expected
        assert _state_of(many) == _state_of(one)
    assert any(not r.warm for r in many.update_many(COUNT_SPEC, "new", [{"a": 1.0, "b": 2.0}]))
    assert one.out_of_order > 0


def test_a_shorter_retention_after_a_release_prunes_the_same_way():
    one, many = _twins(COUNT_SPEC, OTHER_SPEC)
    rng = random.Random(1)
    batch = [_message(rng, i) for i in range(40)]
    _one_by_one(one, COUNT_SPEC, "s", batch, 1.0)
    many.update_many(COUNT_SPEC, "s", batch, 1.0)
    for state in (one, many):
        state.release(OTHER_SPEC)  # max(a, 9) goes: a's raw history may now hold less
    batch = [_message(rng, i) for i in range(40, 50)]
    assert [_outcome(r) for r in many.update_many(COUNT_SPEC, "s", batch, 2.0)] == \
        [_outcome(r) for r in _one_by_one(one, COUNT_SPEC, "s", batch, 2.0)]
    assert _state_of(many) == _state_of(one)


def test_a_duration_spec_takes_the_one_by_one_path_with_the_same_results():
    one, many = _twins(DURATION_SPEC)
    rng = random.Random(2)
    batch = [_message(rng, i) for i in range(50)]
    assert [_outcome(r) for r in many.update_many(DURATION_SPEC, "s", batch)] == \
        [_outcome(r) for r in _one_by_one(one, DURATION_SPEC, "s", batch, None)]
    assert _state_of(many) == _state_of(one)


def test_a_list_of_only_bad_messages_creates_no_partition():
    state = FeatureState()
    results = state.update_many(COUNT_SPEC, "s", [{"b": 1.0}, [1], {"a": "x", "b": 1.0}])
    assert [str(r) for r in results] == ["field 'a' is missing", "a message must be a JSON object, got list",
                                         """field 'a' is not a number (got "x")"""]
    assert state.partitions == {}


def test_each_window_kind_gives_add_then_value_for_each_value():
    rng = random.Random(3)
    xs = [rng.choice([rng.uniform(-1, 1), 1e-310, 3.0, -2.5e10]) for _ in range(200)]
    makers = [lambda: Sums(7, None), lambda: Extreme("min", 5, None), lambda: Extreme("max", 5, None),
              lambda: Ewma(0.25)]
    for make in makers:
        one, many = make(), make()
        functions = ("mean", "std") if isinstance(one, Sums) else ("v",)
        expected = {f: [] for f in functions}
        for x in xs:
            one.add(0.0, x)
            for f in functions:
                expected[f].append(one.value(f))
        got = add_many(many, 0.0, xs[:50], functions)
        rest = add_many(many, 0.0, xs[50:], functions)
        assert {f: got[f] + rest[f] for f in functions} == expected


def test_exact_sums_are_the_correctly_rounded_statistics_at_any_scale():
    rng = random.Random(4)
    values = [rng.uniform(-100, 100) for _ in range(20)] + [5e-324, 1e-300, 0.1, 3.0]
    sums = ExactSums()
    for x in values:
        sums.add(x)
    for x in values[:3]:
        sums.remove(x)
    window = [Fraction(x) for x in values[3:]]
    mean = sum(window) / len(window)
    assert sums.mean() == float(mean)
    assert sums.std() == math.sqrt(float(sum((x - mean) ** 2 for x in window) / len(window)))
    assert sums.bits == 1074  # grown to 5e-324's scale; the first values needed far fewer bits


def test_a_variance_past_the_float_range_still_gives_its_finite_root():
    sums = ExactSums()
    for x in (1e300, -1e300, 1.5e300):
        sums.add(x)
    window = [Fraction(x) for x in (1e300, -1e300, 1.5e300)]
    mean = sum(window) / 3
    exact_variance = sum((x - mean) ** 2 for x in window) / 3
    assert sums.std() == pytest.approx(math.sqrt(float(exact_variance / 10 ** 600)) * 1e300, rel=1e-15)
