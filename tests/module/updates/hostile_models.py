"""Model files made of allow-listed classes only, each with a broken tree scikit-learn would walk blindly."""

from __future__ import annotations

import pickle

import numpy as np

from .conftest import train


def _edit_first_tree(edit) -> bytes:
    """A fitted IsolationForest whose first tree's node array was changed by edit(nodes)."""
    forest = train(3, trees=3, samples=16)
    tree = forest.estimators_[0].tree_
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    edit(nodes)
    tree.__setstate__({**state, "nodes": nodes})
    return pickle.dumps(forest, protocol=5)


def children_out_of_range() -> bytes:
    def edit(nodes):
        inner = np.flatnonzero(nodes["left_child"] != -1)
        nodes["left_child"][inner[-1]] = 10_000_000

    return _edit_first_tree(edit)


def cycle() -> bytes:
    """The deepest inner node's left child is an inner node above it: scikit-learn's apply() would never end."""

    def edit(nodes):
        inner = np.flatnonzero(nodes["left_child"] != -1)
        nodes["left_child"][inner[-1]] = inner[1]

    return _edit_first_tree(edit)


def feature_out_of_range() -> bytes:
    def edit(nodes):
        nodes["feature"][0] = 1_000

    return _edit_first_tree(edit)


def leaf_value_nan() -> bytes:
    forest = train(3, trees=3, samples=16)
    tree = forest.estimators_[0].tree_
    state = tree.__getstate__()
    values = state["values"].copy()
    values[-1] = np.nan
    tree.__setstate__({**state, "values": values})
    return pickle.dumps(forest, protocol=5)
