"""Pack a fitted IsolationForest's trees into flat numpy arrays, reading only internals we know.

scikit-learn's private attributes change between releases, so packing is guarded: the running
scikit-learn version must be one whose `IsolationForest._compute_score_samples` we have read and
reproduced (see compiled_forest.py), and every attribute we read must be there with the shape we expect.
Anything else raises Unsupported with a reason a person can act on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sklearn

from .tree_structure import node_depths

#: scikit-learn versions whose IsolationForest scoring internals this package reproduces. 1.2.1 is the
#: one runtime version set of the fleet (Debian bookworm's python3-sklearn, pinned in requirements).
SUPPORTED_SKLEARN = frozenset({"1.2.1"})

_TREE_LEAF = -1  # sklearn.tree._tree.TREE_LEAF

#: Nodes over all trees above which the packed arrays (64 bytes a node) would cost a device too much
#: memory; 300 trees of 256 samples hold about 150,000.
MAX_NODES = 2_000_000


class Unsupported(Exception):
    """The estimator or the scikit-learn it runs on is outside what the compiled evaluator reproduces."""


@dataclass(frozen=True)
class ForestArrays:
    """Every tree of one forest in flat arrays indexed by a "slot" = 2 * global node id.

    A walk keeps one slot per (row, tree); one step is
    `slot = child[slot + (x[feature[slot]] > threshold[slot])]`, so a leaf points both ways to itself
    and a walk of `levels` steps ends on every tree's leaf whatever its depth.
    """

    feature: np.ndarray  # intp, global input column tested at the slot (0 at leaves)
    threshold: np.ndarray  # float64, go right when float32(x) > threshold, as sklearn's `X <= t` goes left
    child: np.ndarray  # intp, slot + 0 -> left child's slot, slot + 1 -> right child's slot
    leaf_value: np.ndarray  # float64, at a leaf: path nodes + _average_path_length(n_node_samples) - 1.0
    roots: np.ndarray  # intp, each tree's root slot, in sklearn's tree order
    levels: int  # the deepest leaf's depth: steps a walk needs
    denominator: np.ndarray  # float64 (1,), n_trees * _average_path_length([max_samples_])
    width: int  # input columns (n_features_in_)

    @property
    def n_trees(self) -> int:
        return len(self.roots)


def check_version(version: str | None = None) -> None:
    version = sklearn.__version__ if version is None else version
    if version not in SUPPORTED_SKLEARN:
        known = ", ".join(sorted(SUPPORTED_SKLEARN))
        raise Unsupported(f"scikit-learn {version} is not a version whose IsolationForest internals are known ({known})")


def _average_path_length():
    try:
        from sklearn.ensemble._iforest import _average_path_length as apl
    except ImportError as exc:  # pragma: no cover - only on a scikit-learn we refuse anyway
        raise Unsupported(f"sklearn.ensemble._iforest._average_path_length is missing: {exc}") from None
    return apl


def _attribute(owner, name: str):
    if not hasattr(owner, name):
        raise Unsupported(f"{type(owner).__name__} has no attribute {name!r} (not fitted, or another scikit-learn)")
    return getattr(owner, name)


def _tree_columns(forest, n_trees: int, width: int) -> list[np.ndarray]:
    """Input columns each tree's feature ids refer to, exactly as score_samples picks them.

    sklearn subsamples columns only when `_max_features != X.shape[1]`; with all features it passes X
    as is, whatever estimators_features_ holds.
    """
    features = list(_attribute(forest, "estimators_features_"))
    if len(features) != n_trees:
        raise Unsupported("estimators_features_ and estimators_ differ in length")
    if int(_attribute(forest, "_max_features")) == width:
        return [np.arange(width, dtype=np.intp)] * n_trees
    columns = [np.asarray(f, dtype=np.intp) for f in features]
    if any(c.ndim != 1 or (c.size and (c.min() < 0 or c.max() >= width)) for c in columns):
        raise Unsupported("estimators_features_ holds columns outside the input")
    return columns


def _tree_parts(tree):
    t = _attribute(tree, "tree_")
    parts = [np.asarray(_attribute(t, n)) for n in ("children_left", "children_right", "feature", "threshold")]
    parts.append(np.asarray(_attribute(t, "n_node_samples")))
    if len({len(p) for p in parts}) != 1 or len(parts[0]) == 0:
        raise Unsupported("a tree's node arrays differ in length")
    return parts


def pack(forest) -> ForestArrays:
    """Raises Unsupported when the forest is not one whose scoring we reproduce, Malformed (from
    tree_structure) when a tree is not a tree: then no scorer may walk it."""
    check_version()
    apl = _average_path_length()
    trees = list(_attribute(forest, "estimators_"))
    width = int(_attribute(forest, "n_features_in_"))
    if not trees:
        raise Unsupported("the forest has no trees")
    columns = _tree_columns(forest, len(trees), width)
    nodes = sum(int(_attribute(_attribute(tree, "tree_"), "node_count")) for tree in trees)
    if nodes > MAX_NODES:
        raise Unsupported(f"the forest has {nodes} nodes; the compiled scorer packs at most {MAX_NODES}")
    feature, threshold, child, leaf_value, roots = [], [], [], [], []
    offset, levels = 0, 0
    for number, (tree, cols) in enumerate(zip(trees, columns)):
        left, right, feat, thr, samples = _tree_parts(tree)
        # Malformed (not Unsupported): a tree sklearn itself would walk out of bounds refuses the model.
        depth = node_depths(left, right, feat, len(cols), f"tree {number}")
        n = len(left)
        leaf = left == _TREE_LEAF
        levels = max(levels, int(depth.max()))
        own = np.arange(n, dtype=np.intp)
        # The exact expression sklearn adds per tree: decision_path's node count (depth + 1, an integer)
        # plus _average_path_length of the leaf's training samples, minus 1.0, in that order.
        leaf_value.append((depth + 1) + apl(samples) - 1.0)
        feature.append(np.where(leaf, 0, cols[np.where(leaf, 0, feat)]))
        threshold.append(np.where(leaf, 0.0, thr).astype(np.float64))
        child.append(2 * (offset + np.stack([np.where(leaf, own, left), np.where(leaf, own, right)], axis=1)))
        roots.append(2 * offset)
        offset += n
    slots = 2 * offset
    return ForestArrays(
        feature=_interleave(np.concatenate(feature), slots, np.intp),
        threshold=_interleave(np.concatenate(threshold), slots, np.float64),
        child=np.concatenate(child).reshape(-1).astype(np.intp),
        leaf_value=_interleave(np.concatenate(leaf_value), slots, np.float64),
        roots=np.asarray(roots, dtype=np.intp),
        levels=levels,
        denominator=len(trees) * apl([_attribute(forest, "max_samples_")]),
        width=width,
    )


def _interleave(per_node: np.ndarray, slots: int, dtype) -> np.ndarray:
    """Per-node values at even slots (the odd slot only ever indexes `child`)."""
    out = np.zeros(slots, dtype=dtype)
    out[0::2] = per_node
    return out
