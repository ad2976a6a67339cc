"""Trees whose node arrays are not trees (allow-listed classes only): refused before anything walks them."""

from __future__ import annotations

import numpy as np
import pytest

from module.scoring.tree_structure import Malformed, check_estimator, check_nodes

from . import hostile_models
from .conftest import settle, train
from .malicious import section_for

HOSTILE = {
    "children out of range": (hostile_models.children_out_of_range, "outside the tree's"),
    "cycle": (hostile_models.cycle, "do not form a tree"),
    "feature out of range": (hostile_models.feature_out_of_range, "input columns"),
    "leaf value NaN": (hostile_models.leaf_value_nan, "not finite"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_malformed_tree_is_refused_and_the_old_model_keeps_serving(start_agent, bundle, name):
    make, message = HOSTILE[name]
    agent = start_agent()
    good = bundle("1", seed=1)
    agent.handle_desired({"model": good.section, "$version": 1})
    assert settle(agent)["status"] == "active"
    before = agent.slot.current
    agent.handle_desired({"model": section_for(make(), "2"), "$version": 2})
    state = settle(agent)
    assert state["status"] == "failed" and state["error"].startswith("load: malformed tree"), state
    assert message in state["error"]
    assert agent.slot.current is before and before.version == "1"
    assert np.isfinite(before.scorer.score(np.zeros((2, before.n_features)))).all()  # still serving


def test_an_honest_update_passes_after_a_refused_tree(start_agent, bundle):
    agent = start_agent()
    agent.handle_desired({"model": section_for(hostile_models.cycle(), "2"), "$version": 1})
    assert settle(agent)["status"] == "failed"
    agent.handle_desired({"model": bundle("3", seed=3).section, "$version": 2})
    state = settle(agent)
    assert state["status"] == "active" and agent.slot.current.version == "3"


def test_an_honest_forest_passes_and_every_tree_is_counted():
    assert check_estimator(train(1, trees=4)) == 4


@pytest.mark.parametrize("left,right,feature,message", [
    ([1, -1, -1], [2, -1, -1], [0, -2, -2], None),
    ([1, -1], [5, -1], [0, -2], "outside the tree's 2 nodes"),
    ([1, 1, -1], [2, 2, -1], [0, 0, -2], "do not form a tree"),
    ([1, 0, -1], [2, 2, -1], [0, 0, -2], "child index \\(0\\)"),
    ([1, -1, -1], [-1, -1, -1], [0, -2, -2], "one child"),
    ([1, -1, -1], [2, -1, -1], [7, -2, -2], "input columns"),
    ([1, -1, -1], [2, -1, -1], [-3, -2, -2], "input columns"),
    ([], [], [], "empty"),
])
def test_check_nodes(left, right, feature, message):
    arrays = [np.array(a, dtype=np.int64) for a in (left, right, feature)]
    if message is None:
        assert check_nodes(*arrays, width=3) == 1
    else:
        with pytest.raises(Malformed, match=message):
            check_nodes(*arrays, width=3)


def test_a_two_node_cycle_unreachable_from_the_root_is_found():
    # root 0 is a leaf-free split to 1 and 2; nodes 3 and 4 point at each other: each has one parent.
    left = np.array([1, -1, -1, 4, 3]); right = np.array([2, -1, -1, 4, 3])
    with pytest.raises(Malformed):
        check_nodes(left, right, np.zeros(5, dtype=np.int64), width=1)


def test_depth_is_bounded(monkeypatch):
    from module.scoring import tree_structure

    monkeypatch.setattr(tree_structure, "MAX_DEPTH", 3)
    n = 9  # a chain: node i splits into leaf i+1 and node i+2
    left, right = np.full(n, -1), np.full(n, -1)
    for i in range(0, n - 2, 2):
        left[i], right[i] = i + 1, i + 2
    with pytest.raises(Malformed, match="deeper than 3"):
        check_nodes(left, right, np.zeros(n, dtype=np.int64), width=1)


def test_a_hist_gradient_boosting_forest_passes():
    from sklearn.ensemble import HistGradientBoostingRegressor

    X = np.random.default_rng(0).normal(size=(200, 3))
    model = HistGradientBoostingRegressor(max_iter=5).fit(X, X[:, 0])
    assert check_estimator(model) == 5
