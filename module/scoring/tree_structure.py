"""Structural checks of every decision tree a loaded estimator holds, before anything walks one.

scikit-learn's Cython tree code trusts its node arrays: a child index out of range reads outside the
array (SIGSEGV), a cycle makes `apply` loop forever, a feature index past the input reads past the row.
A pickle made only of allow-listed classes can carry such arrays, so every tree is checked here:
children in range, every node but the root with exactly one parent and reachable from the root
(hence acyclic), depth bounded, feature indices inside the input, leaf values finite. A malformed tree refuses the model;
nothing falls back to another scorer for it.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

_TREE_LEAF = -1

#: Deeper than any tree scikit-learn grows on a device's data (an IsolationForest of 256 samples: 8).
MAX_DEPTH = 4096

#: Objects looked at while searching an estimator for its trees; a fitted pipeline holds a few thousand.
MAX_OBJECTS = 1_000_000


class Malformed(ValueError):
    """A tree whose node arrays are not those of a binary tree scikit-learn could have grown."""


def check_nodes(left: np.ndarray, right: np.ndarray, feature: np.ndarray, width: int | None,
                where: str = "a tree") -> int:
    """The tree's depth; raises Malformed naming what is wrong. Linear in the node count, never loops."""
    return int(node_depths(left, right, feature, width, where).max())


def node_depths(left: np.ndarray, right: np.ndarray, feature: np.ndarray, width: int | None,
                where: str = "a tree") -> np.ndarray:
    """Every node's depth (the root's is 0), once the node arrays passed every check of check_nodes."""
    left, right, feature = (np.asarray(a).reshape(-1) for a in (left, right, feature))
    n = len(left)
    if n == 0 or len(right) != n or len(feature) != n:
        raise Malformed(f"{where}: its node arrays are empty or differ in length")
    for name, arr in (("children_left", left), ("children_right", right), ("feature", feature)):
        if arr.dtype.kind not in "iu":
            raise Malformed(f"{where}: {name} is not an integer array ({arr.dtype})")
    left, right = left.astype(np.int64), right.astype(np.int64)
    leaf = left == _TREE_LEAF
    if (leaf != (right == _TREE_LEAF)).any():
        raise Malformed(f"{where}: a node has one child")
    inner = ~leaf
    children = np.concatenate([left[inner], right[inner]])
    if children.size and (children.min() < 1 or children.max() >= n):
        bad = int(children[(children < 1) | (children >= n)][0])
        raise Malformed(f"{where}: a child index ({bad}) is outside the tree's {n} nodes")
    # In range now, so the platform's index type holds them (bincount refuses int64 on 32-bit arm).
    left, right, children = left.astype(np.intp), right.astype(np.intp), children.astype(np.intp)
    parents = np.bincount(children, minlength=n)
    if parents[0] != 0 or (parents[1:] != 1).any():
        raise Malformed(f"{where}: its nodes do not form a tree (a node with several parents, or a cycle)")
    depths = _depths(left, right, inner, n, where)
    feat = np.asarray(feature, dtype=np.int64)[inner]
    if feat.size and (feat.min() < 0 or (width is not None and feat.max() >= width)):
        raise Malformed(f"{where}: a node tests feature {int(feat.max() if feat.min() >= 0 else feat.min())}, "
                        f"outside the {width} input columns")
    return depths


def _depths(left: np.ndarray, right: np.ndarray, inner: np.ndarray, n: int, where: str) -> np.ndarray:
    """Level by level from the root; with one parent per node each node is visited once."""
    depths = np.zeros(n, dtype=np.intp)
    seen, frontier, level = 0, np.array([0], dtype=np.intp), 0
    while True:
        seen += frontier.size
        depths[frontier] = level
        split = frontier[inner[frontier]]
        if not split.size:
            break
        level += 1
        if level > MAX_DEPTH:
            raise Malformed(f"{where}: deeper than {MAX_DEPTH} levels")
        frontier = np.concatenate([left[split], right[split]])
    if seen != n:
        raise Malformed(f"{where}: {n - seen} of its {n} nodes are unreachable from the root (a cycle)")
    return depths


def check_values(values: Any, where: str) -> None:
    """A NaN or infinite leaf value would turn into a NaN score that no threshold compares sensibly."""
    if not np.isfinite(np.asarray(values, dtype=np.float64)).all():
        raise Malformed(f"{where}: a leaf value is not finite")


def check_sklearn_tree(tree: Any, width: int | None, where: str) -> int:
    """sklearn.tree._tree.Tree: its own n_features bounds the feature ids too."""
    own = int(getattr(tree, "n_features", width if width is not None else 0))
    bound = own if width is None else min(own, width)
    depth = check_nodes(tree.children_left, tree.children_right, tree.feature, bound, where)
    check_values(tree.value, where)
    return depth


def check_predictor(predictor: Any, width: int | None, where: str) -> int:
    """HistGradientBoosting's TreePredictor: a structured array of nodes (left, right, is_leaf, feature_idx)."""
    nodes = predictor.nodes
    leaf = nodes["is_leaf"].astype(bool)
    left = np.where(leaf, _TREE_LEAF, nodes["left"].astype(np.int64))
    right = np.where(leaf, _TREE_LEAF, nodes["right"].astype(np.int64))
    depth = check_nodes(left, right, nodes["feature_idx"], width, where)
    check_values(nodes["value"][leaf], where)
    return depth


def _trees(root: Any) -> Iterator[tuple[Any, int | None, str]]:
    """(tree, input width of its owner, where) for every tree reachable from an estimator's attributes."""
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.tree._tree import Tree

    seen: set[int] = set()
    stack: list[tuple[Any, int | None, str]] = [(root, None, type(root).__name__)]
    while stack:
        obj, width, where = stack.pop()
        if id(obj) in seen or isinstance(obj, (str, bytes, int, float, bool, type(None), np.ndarray, np.generic)):
            continue
        seen.add(id(obj))
        if len(seen) > MAX_OBJECTS:
            raise Malformed(f"the model holds more than {MAX_OBJECTS} objects")
        if isinstance(obj, Tree):
            yield obj, width, where
            continue
        if isinstance(obj, TreePredictor):
            yield obj, width, where
            continue
        own = getattr(obj, "n_features_in_", None) if hasattr(obj, "__dict__") else None
        width = int(own) if isinstance(own, (int, np.integer)) else width
        if isinstance(obj, dict):
            items = list(obj.items())
        elif isinstance(obj, (list, tuple)):
            items = list(enumerate(obj))
        elif hasattr(obj, "__dict__") and isinstance(vars(obj), dict):
            items = list(vars(obj).items())
        else:
            continue
        for key, value in items:
            stack.append((value, width, f"{where}.{key}" if isinstance(key, str) else f"{where}[{key}]"))


def check_estimator(estimator: Any) -> int:
    """Check every tree in the estimator; the number checked. Raises Malformed for the first bad one."""
    from sklearn.tree._tree import Tree

    count = 0
    for tree, width, where in _trees(estimator):
        if isinstance(tree, Tree):
            check_sklearn_tree(tree, width, where)
        else:
            check_predictor(tree, width, where)
        count += 1
    return count
