"""The compiled forest scorer gives scikit-learn's scores bit for bit, or scikit-learn serves with a reason."""

from __future__ import annotations

import functools
import threading

import numpy as np
import pytest
import sklearn
from sklearn.ensemble import IsolationForest
from sklearn.neighbors import LocalOutlierFactor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler
from sklearn.svm import OneClassSVM

from module.agent import Agent
from module.models import nab
from module.scoring import compiled_forest
from module.scoring.compiled_forest import Compiled, CompiledForestScorer, choose, compile_estimator
from module.scoring.forest_arrays import SUPPORTED_SKLEARN, pack
from module.scoring.forest_check import CostModel
from module.scoring.forest_walk import SMALL_VALUES, ForestWalk
from module.scoring.prepare import prepare
from module.scoring.scorer import EstimatorScorer, build_scorer
from module.settings import load

# scikit-learn's own finiteness check warns when it sums rows of float32's largest values.
pytestmark = pytest.mark.filterwarnings(
    "ignore:invalid value encountered in reduce:RuntimeWarning", "ignore:overflow encountered in cast:RuntimeWarning"
)

F32_MAX = float(np.finfo(np.float32).max)
BATCHES = (1, 7, 64, 1_000, 10_000)


@functools.lru_cache(maxsize=None)
def data(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, query rows): NAB-derived features, or random columns of mixed scales."""
    if name == "nab":
        _, values = nab.load_series()
        X = nab.to_features(values)
        return X, X[np.linspace(0, len(X) - 1, 10_000).astype(int)]  # the whole series, failures included
    rng = np.random.RandomState(7)
    scales = np.array([1e-3, 1.0, 250.0, 1e6, 3.0])
    return rng.randn(3_000, 5) * scales, rng.standard_cauchy((10_000, 5)) * scales


@functools.lru_cache(maxsize=None)
def forest(name: str, max_features: float, max_samples, trees: int) -> IsolationForest:
    X, _ = data(name)
    model = IsolationForest(n_estimators=trees, max_features=max_features, max_samples=max_samples, random_state=3)
    return model.fit(X)


FORESTS = [
    pytest.param(name, mf, ms, trees, id=f"{name}-mf{mf}-ms{ms}-{trees}trees")
    for name in ("nab", "random")
    for mf in (1.0, 0.5)
    for ms in (16, "auto")
    for trees in (1, 300)
]


@pytest.mark.parametrize("name,max_features,max_samples,trees", FORESTS)
@pytest.mark.parametrize("batch", BATCHES)
def test_compiled_walk_equals_score_samples_bit_for_bit(name, max_features, max_samples, trees, batch):
    model = forest(name, max_features, max_samples, trees)
    rows = data(name)[1][:batch]
    walk = ForestWalk(pack(model))
    assert np.array_equal(walk.score(rows), model.score_samples(rows))


def test_big_batches_are_walked_in_chunks():
    walk = ForestWalk(pack(forest("nab", 1.0, "auto", 300)))
    assert walk.chunk_rows < 1_000  # so the 1,000 and 10,000 row batches above cross chunk boundaries


def test_nab_features_hold_values_float32_cannot_represent():
    rows = data("nab")[1]
    assert (rows.astype(np.float32).astype(np.float64) != rows).any()


def _ties(model: IsolationForest, base: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Rows putting each split's feature exactly on its threshold, and how many reach that split
    (per sklearn's own decision_path) and how many of those go right because float32(t) > t."""
    rows, reached, right_by_rounding = [], 0, 0
    for tree, columns in zip(model.estimators_[:20], model.estimators_features_):
        if model._max_features == model.n_features_in_:
            columns = np.arange(model.n_features_in_)
        t = tree.tree_
        for node in np.flatnonzero(t.children_left != -1):
            threshold = float(t.threshold[node])
            candidates = base.copy()
            candidates[:, columns[t.feature[node]]] = threshold
            paths = tree.decision_path(candidates[:, columns])
            hits = np.asarray(paths[:, node].todense()).ravel() > 0
            reached += int(hits.sum())
            if np.float32(threshold) > threshold:
                right_by_rounding += int(hits.sum())
            rows.append(candidates)
    return np.concatenate(rows), reached, right_by_rounding


@pytest.mark.parametrize("max_features", (1.0, 0.5))
def test_values_exactly_on_split_thresholds(max_features):
    model = forest("nab", max_features, 16, 300)
    rows, reached, right_by_rounding = _ties(model, data("nab")[1][::997])
    assert reached > 100 and right_by_rounding > 10  # the ties really are exercised, both ways
    assert np.array_equal(ForestWalk(pack(model)).score(rows), model.score_samples(rows))


def test_float64_values_that_round_when_converted_to_float32():
    model = forest("random", 1.0, "auto", 300)
    rng = np.random.RandomState(11)
    low = rng.randn(500, 5).astype(np.float32).astype(np.float64)
    high = np.nextafter(low.astype(np.float32), np.float32(np.inf)).astype(np.float64)
    halfway = (low + high) / 2  # exactly between two float32 values: rounds to the even one
    nudged = np.nextafter(halfway, np.inf)  # a hair above halfway: rounds up
    rows = np.concatenate([halfway, nudged, low + (high - low) / 3]) * np.array([1e-3, 1.0, 250.0, 1.0, 3.0])
    assert (rows.astype(np.float32).astype(np.float64) != rows).mean() > 0.9
    assert np.array_equal(ForestWalk(pack(model)).score(rows), model.score_samples(rows))


def test_single_rows_reach_float32_exactly_as_numpy_casts_them():
    """Up to SMALL_VALUES values go through Python floats, not numpy's cast: same bits, same scores."""
    model = forest("random", 1.0, "auto", 300)
    rng = np.random.RandomState(12)
    low = rng.randn(300, 5).astype(np.float32).astype(np.float64)
    high = np.nextafter(low.astype(np.float32), np.float32(np.inf)).astype(np.float64)
    halfway = (low + high) / 2
    extremes = np.array([[F32_MAX, -F32_MAX, 1e-45, -1e-45, 1e-300], [0.0, -0.0, 1e30, -1e30, 5e-324]])
    rows = np.concatenate([halfway, np.nextafter(halfway, np.inf), np.nextafter(halfway, -np.inf), extremes])
    cast = rows.astype(np.float32).view(np.uint32)
    assert np.array_equal(np.array(rows.tolist(), dtype=np.float32).view(np.uint32), cast)
    walk = ForestWalk(pack(model))
    expected = model.score_samples(rows)
    one_by_one = np.array([walk.score(rows[i:i + 1])[0] for i in range(len(rows))])
    assert rows[:1].size <= SMALL_VALUES < rows.size
    assert np.array_equal(one_by_one, expected)


def test_extreme_values():
    model = forest("random", 0.5, 16, 300)
    extremes = [F32_MAX, -F32_MAX, 1e30, -1e30, 1e-45, -1e-45, 1e-300, 0.0, -0.0]
    rows = np.array([[a, b, c, a, b] for a in extremes for b in extremes for c in (0.5, -F32_MAX)])
    scorer, _ = build_scorer(model, True, None)
    assert scorer.name == "compiled-forest"
    assert np.array_equal(scorer.score(rows), model.score_samples(rows))


@pytest.mark.parametrize("bad", (1e300, np.inf, np.nan), ids=("beyond-float32", "inf", "nan"))
def test_rows_sklearn_refuses_fail_with_sklearns_own_error(bad):
    model = forest("nab", 1.0, "auto", 1)
    rows = np.array([[60.0, 5.0, 21.0, 25.0], [bad, 5.0, 21.0, 25.0]])
    scorer, reason = build_scorer(model, True, rows)  # such a canary row is left out of the check
    assert scorer.name == "compiled-forest", reason
    with pytest.raises(ValueError) as ours:
        scorer.score(rows)
    with pytest.raises(ValueError) as theirs:
        model.score_samples(rows)
    assert str(ours.value) == str(theirs.value)


def test_no_rows_fail_with_sklearns_own_error():
    model = forest("nab", 1.0, "auto", 1)
    scorer, reason = build_scorer(model, True, None)
    assert scorer.name == "compiled-forest", reason
    empty = np.empty((0, 4))
    with pytest.raises(ValueError) as ours:
        scorer.score(empty)
    with pytest.raises(ValueError) as theirs:
        model.score_samples(empty)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize(
    "training,max_samples",
    [(np.ones((40, 4)), "auto"), (np.arange(160.0).reshape(40, 4), 1)],
    ids=("constant-data", "one-sample-trees"),
)
def test_single_leaf_trees(training, max_samples):
    model = IsolationForest(n_estimators=50, max_samples=max_samples, random_state=0).fit(training)
    assert all(t.tree_.node_count == 1 for t in model.estimators_)
    rows = np.concatenate([training, -training, np.full((3, 4), F32_MAX)])
    scorer, reason = build_scorer(model, True, rows)
    assert scorer.name == "compiled-forest", reason
    assert np.array_equal(scorer.score(rows), model.score_samples(rows))


@pytest.mark.parametrize(
    "front,described",
    [
        ((StandardScaler(),), "StandardScaler (numpy)"),
        ((MinMaxScaler(clip=True),), "MinMaxScaler (numpy)"),
        ((MinMaxScaler(feature_range=(-1, 1)), RobustScaler()), "RobustScaler (sklearn)"),
    ],
    ids=("standard", "minmax-clip", "minmax-robust"),
)
def test_pipelines_of_transformers_ending_in_a_forest(front, described):
    X, queries = data("nab")
    model = make_pipeline(*front, IsolationForest(n_estimators=100, max_features=0.5, random_state=1)).fit(X)
    scorer, reason = build_scorer(model, True, queries[:5])
    assert scorer.name == "compiled-forest" and described in reason, reason
    rows = np.concatenate([queries[:2_000], queries[:50] * 1e6, -queries[:50]])
    assert np.array_equal(scorer.score(rows), model.score_samples(rows))
    assert np.array_equal(scorer.score(rows[:1]), model.score_samples(rows[:1]))


class OwnScoringForest(IsolationForest):
    """A subclass may score differently from the IsolationForest the evaluator reproduces."""


@pytest.mark.parametrize(
    "estimator",
    [OneClassSVM(gamma="auto"), LocalOutlierFactor(novelty=True), OwnScoringForest(random_state=0)],
    ids=("OneClassSVM", "LocalOutlierFactor", "IsolationForest-subclass"),
)
def test_unsupported_models_are_served_by_sklearn_with_the_reason(estimator):
    X, queries = data("nab")
    estimator.fit(X[:2_000])
    model = prepare(estimator, {"version": "x"}, source="update", n_features=4, check_rows=queries[:3])
    assert model.scorer.name == "sklearn"
    assert type(estimator).__name__ in model.scorer_reason
    assert model.describe()["scorer_reason"] == model.scorer_reason
    assert np.array_equal(model.scorer.score(queries[:64]), estimator.score_samples(queries[:64]))


def test_a_forest_too_big_to_pack_is_served_by_sklearn(monkeypatch):
    from module.scoring import forest_arrays

    monkeypatch.setattr(forest_arrays, "MAX_NODES", 100)
    model = forest("nab", 1.0, "auto", 1)
    scorer, reason = build_scorer(model, True, None)
    assert scorer.name == "sklearn" and "packs at most 100" in reason


def test_the_supported_version_is_the_pinned_one():
    assert sklearn.__version__ in SUPPORTED_SKLEARN


def test_an_unknown_sklearn_version_falls_back_with_the_reason():
    model = forest("nab", 1.0, "auto", 1)
    plain = EstimatorScorer(model)
    scorer, reason = choose(model, plain, None, sklearn_version="1.4.2")
    assert scorer is plain
    assert "scikit-learn 1.4.2" in reason and "1.2.1" in reason


class Float64Walk(ForestWalk):
    """A plausible bug: comparing the float64 input with the thresholds, skipping the float32 cast."""

    def score(self, X):
        return self._scores(self._depths(np.ascontiguousarray(X, dtype=np.float64)))


class PairwiseSumWalk(ForestWalk):
    """Another: summing the trees with np.sum (pairwise) instead of in sklearn's tree order."""

    def _depths(self, X32):
        return self.arrays.leaf_value[self._leaves(X32)].sum(axis=1)

    def _leaves(self, X32):
        a, flat = self.arrays, X32.reshape(-1)
        slots = np.repeat(a.roots[None, :], len(X32), axis=0)
        row_start = (np.arange(len(X32)) * a.width)[:, None]
        for _ in range(a.levels):
            slots = a.child[slots + (flat[a.feature[slots] + row_start] > a.threshold[slots])]
        return slots


@pytest.mark.parametrize("wrong_walk", (Float64Walk, PairwiseSumWalk))
def test_an_evaluator_that_differs_by_a_bit_falls_back_with_the_reason(wrong_walk):
    model = forest("nab", 1.0, "auto", 300)
    plain = EstimatorScorer(model)

    def wrong_compiler(estimator):
        right = compile_estimator(estimator)
        return Compiled(right.forest, wrong_walk(right.walk.arrays), (), (), right.width, "wrong")

    scorer, reason = choose(model, plain, None, compiler=wrong_compiler)  # generated rows alone catch it
    assert scorer is plain
    assert "!= scikit-learn" in reason and "rows differ" in reason


def test_a_compiler_that_raises_falls_back_with_the_reason():
    model = forest("nab", 1.0, "auto", 1)
    plain = EstimatorScorer(model)

    def broken(estimator):
        raise RuntimeError("boom")

    scorer, reason = choose(model, plain, None, compiler=broken)
    assert scorer is plain and "boom" in reason


class Recording:
    def __init__(self, plain):
        self.plain, self.calls = plain, []

    def score(self, X):
        self.calls.append(len(X))
        return self.plain.score(X)


def test_batches_go_to_the_path_measured_faster_for_their_size():
    model = forest("nab", 1.0, "auto", 300)
    plain = Recording(EstimatorScorer(model))
    crossover_at_10 = CostModel(compiled_fixed=0.0, compiled_per_row=1.0, plain_fixed=10.0, plain_per_row=0.0)
    scorer = CompiledForestScorer(compile_estimator(model), plain, crossover_at_10)
    rows = data("nab")[1]
    assert np.array_equal(scorer.score(rows[:10]), model.score_samples(rows[:10]))
    assert plain.calls == []
    assert np.array_equal(scorer.score(rows[:11]), model.score_samples(rows[:11]))
    assert plain.calls == [11]
    assert "compiled up to 10 rows" in crossover_at_10.describe()


@pytest.mark.parametrize(
    "cost,compiled_at,described",
    [
        (CostModel(0.0, 1.0, 10.0, 0.0), {1: True, 10: True, 11: False}, "compiled up to 10 rows"),
        (CostModel(10.0, 0.0, 0.0, 1.0), {1: False, 10: True, 1_000: True}, "scikit-learn up to 10 rows"),
        (CostModel(0.0, 1.0, 5.0, 2.0), {1: True, 100_000: True}, "compiled at every batch size"),
        (CostModel(5.0, 2.0, 0.0, 1.0), {1: False, 100_000: False}, "scikit-learn at every batch size"),
    ],
)
def test_cost_lines_pick_the_faster_path_per_batch_size(cost, compiled_at, described):
    assert {rows: cost.prefers_compiled(rows) for rows in compiled_at} == compiled_at
    assert described in cost.describe()
    assert cost.never_compiled() == (not any(compiled_at.values()))


def test_the_embedded_nab_forest_is_served_compiled_unless_turned_off(tmp_path):
    forest = {"data_dir": str(tmp_path), "default_model": "nab-forest"}
    on = Agent(load(environ={}, overrides={"agent": forest}))
    off = Agent(load(environ={}, overrides={"agent": forest, "scoring": {"compiled": False}}))
    try:
        served = on.load_embedded_default()
        plain = off.load_embedded_default()
        on.activate(served)
        off.activate(plain)
        reported_on, reported_off = on.reported.snapshot("model"), off.reported.snapshot("model")
    finally:
        on.stop()
        off.stop()
    assert served.describe()["scorer"] == "compiled-forest"
    assert "bit for bit" in served.scorer_reason
    assert plain.describe()["scorer"] == "sklearn" and "scoring.compiled=false" in plain.scorer_reason
    assert reported_on["scorer"] == "compiled-forest" and reported_on["scorer_reason"] == served.scorer_reason
    assert reported_off["scorer"] == "sklearn" and "scoring.compiled=false" in reported_off["scorer_reason"]
    rows = data("nab")[1][:257]
    assert np.array_equal(served.scorer.score(rows), plain.estimator.score_samples(rows))


def test_swapped_models_each_get_their_own_evaluator_and_no_result_mixes_two(tmp_path):
    X, queries = data("nab")
    rows = queries[:40]
    models = {}
    for version, seed in (("a", 1), ("b", 2)):
        estimator = IsolationForest(n_estimators=100, random_state=seed).fit(X)
        models[version] = prepare(estimator, {"version": version}, source="update", n_features=4, check_rows=rows)
    own = {v: m.estimator.score_samples(rows).tolist() for v, m in models.items()}
    assert own["a"] != own["b"]
    assert all(m.scorer.name == "compiled-forest" for m in models.values())
    assert models["a"].scorer is not models["b"].scorer
    agent = Agent(load(environ={}, overrides={"agent": {"data_dir": str(tmp_path)}}))
    messages = [dict(nab.to_message(r, "2026-01-01T00:00:00Z"), id=i) for i, r in enumerate(rows)]
    seen, stop = [], threading.Event()

    def client():
        while not stop.is_set():
            seen.append(agent.service.score_messages(messages, "test"))

    try:
        agent.activate(models["a"])
        clients = [threading.Thread(target=client) for _ in range(3)]
        for c in clients:
            c.start()
        for i in range(60):
            agent.activate(models["ab"[i % 2]])
            threading.Event().wait(0.002)
        stop.set()
        for c in clients:
            c.join()
    finally:
        agent.stop()
    versions = set()
    for results in seen:
        for result in results:
            assert result["score"] == own[result["model_version"]][result["id"]]
        versions |= {r["model_version"] for r in results}
    assert versions == {"a", "b"} and len(seen) > 10


def test_module_exposes_the_contract_build_scorer_calls():
    assert callable(compiled_forest.choose) and compiled_forest.NAME == "compiled-forest"
