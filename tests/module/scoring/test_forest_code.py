"""The generated one-row code (forest_code.py): scikit-learn's bits for every row, and the numpy walk
whenever the code is not generated, fails to compile or gives a single other bit."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from module.scoring import compiled_forest, forest_code
from module.scoring.forest_arrays import pack
from module.scoring.forest_code import RowCode, source
from module.scoring.prepare import prepare
from module.scoring.scorer import EstimatorScorer, build_scorer
from tests.module.scoring.test_compiled_forest import F32_MAX, data, forest

pytestmark = pytest.mark.filterwarnings(
    "ignore:invalid value encountered in reduce:RuntimeWarning", "ignore:overflow encountered in cast:RuntimeWarning"
)


def _awkward_rows(query: np.ndarray, n: int = 600) -> np.ndarray:
    """Query rows, rows halfway between two float32 values (round to even) and a hair off, extremes."""
    rows = query[:n]
    low = rows.astype(np.float32).astype(np.float64)
    high = np.nextafter(low.astype(np.float32), np.float32(np.inf)).astype(np.float64)
    halfway = (low + high) / 2
    width = rows.shape[1]
    extremes = np.array([[F32_MAX, -F32_MAX, 1e-45, -1e-45, 0.0, -0.0, 5e-324, 1e30][i % 8] for i in
                         range(8 * width)]).reshape(8, width)
    return np.concatenate([rows, halfway, np.nextafter(halfway, np.inf), np.nextafter(halfway, -np.inf), extremes])


@pytest.mark.parametrize("name,max_features,max_samples,trees", [
    ("nab", 1.0, "auto", 100), ("random", 0.5, 16, 300), ("random", 1.0, "auto", 300)])
def test_rows_one_at_a_time_and_in_small_lists_get_sklearns_bits(name, max_features, max_samples, trees):
    model = forest(name, max_features, max_samples, trees)
    scorer, reason = build_scorer(model, True, None)
    assert "one-row code generated, same bits" in reason, reason
    rows = _awkward_rows(data(name)[1])
    expected = model.score_samples(rows)
    one_by_one = np.concatenate([scorer.score(rows[i:i + 1]) for i in range(len(rows))])
    fours = np.concatenate([scorer.score(rows[i:i + 4]) for i in range(0, len(rows), 4)])
    assert one_by_one.tobytes() == expected.tobytes() and fours.tobytes() == expected.tobytes()


def test_the_source_holds_nothing_but_the_models_numbers():
    text = source(pack(forest("nab", 1.0, "auto", 100)))
    number = r"-?\d+\.\d+(e[-+]\d+)?|-?\d+(\.\d+)?e[-+]\d+"
    allowed = re.compile(rf"^def depth\(x0, x1, x2, x3\):$|^ +(if x[0-3] <= ({number}):|else:|s \+?= ({number})|"
                         r"return s)$")
    lines = text.splitlines()
    assert len(lines) > 1000 and all(allowed.match(line) for line in lines), \
        next(line for line in lines if not allowed.match(line))


def test_a_row_beyond_float32_or_not_finite_still_fails_with_sklearns_own_error():
    model = forest("nab", 1.0, "auto", 100)
    scorer, reason = build_scorer(model, True, None)
    assert "one-row code generated" in reason
    for bad in (1e300, np.inf, np.nan):
        row = np.array([[bad, 5.0, 21.0, 25.0]])
        with pytest.raises(ValueError) as ours:
            scorer.score(row)
        with pytest.raises(ValueError) as theirs:
            model.score_samples(row)
        assert str(ours.value) == str(theirs.value)


def _served_by_the_walk(model, reason_part: str, **choose_args) -> None:
    scorer, reason = compiled_forest.choose(model, EstimatorScorer(model), None, **choose_args)
    assert scorer.name == "compiled-forest" and reason_part in reason, reason
    assert scorer._rows is None
    rows = data("nab")[1][:50]
    assert np.concatenate([scorer.score(r[None, :]) for r in rows]).tobytes() == model.score_samples(rows).tobytes()


def test_a_forest_too_deep_for_generated_code_is_walked(monkeypatch):
    monkeypatch.setattr(forest_code, "MAX_LEVELS", 2)
    levels = pack(forest("nab", 1.0, "auto", 100)).levels
    _served_by_the_walk(forest("nab", 1.0, "auto", 100),
                        f"{levels} levels (generated code: at most 2")


def test_a_compile_that_fails_leaves_the_walk_serving(monkeypatch):
    monkeypatch.setattr(forest_code, "_CHILD", "import sys; sys.stderr.write('no room\\n'); sys.exit(3)")
    _served_by_the_walk(forest("nab", 1.0, "auto", 100), "compiling the generated code failed (exit 3): no room")


def test_code_that_differs_from_the_walk_by_one_bit_is_not_used():
    def off_by_a_bit(arrays):
        depth = forest_code.compile_depth(source(arrays))
        return RowCode(arrays, lambda *x: np.nextafter(depth(*x), np.inf))
    _served_by_the_walk(forest("nab", 1.0, "auto", 100), "one-row code differs from the walk on check row 0",
                        generate=off_by_a_bit)


def test_single_sample_trees_keep_sklearns_own_division():
    model = IsolationForest(n_estimators=20, max_samples=1, random_state=0).fit(np.arange(160.0).reshape(40, 4))
    scorer, reason = build_scorer(model, True, None)
    assert "denominator 0" in reason and scorer._rows is None
    rows = np.arange(40.0).reshape(10, 4)
    assert np.concatenate([scorer.score(r[None, :]) for r in rows]).tobytes() == model.score_samples(rows).tobytes()


def test_a_pipeline_keeps_the_walk_and_the_trial_child_generates_nothing():
    X = data("nab")[0]
    pipeline = make_pipeline(StandardScaler(), IsolationForest(n_estimators=20, random_state=0)).fit(X)
    scorer, reason = build_scorer(pipeline, True, None)
    assert "(the transformers are numpy)" in reason and scorer._rows is None
    trial = prepare(forest("nab", 1.0, "auto", 100), {"version": "t"}, source="trial", n_features=4, live=False)
    assert "one-row code not generated here" in trial.scorer_reason and trial.scorer._rows is None
