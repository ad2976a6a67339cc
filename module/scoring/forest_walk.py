"""Score rows through every tree of a packed IsolationForest at once: one numpy step per tree level.

This reproduces scikit-learn 1.2.1's `IsolationForest.score_samples` operation by operation, so the
results are the same float64 values, not merely close ones:
- the trees see X converted to float32 (tree.apply does `check_array(X, dtype=np.float32)`), and a
  row goes left when `float32(x) <= threshold` compared in float64, as the Cython tree code does;
- each tree adds `path node count + _average_path_length(n_node_samples[leaf]) - 1.0` (precomputed per
  leaf in forest_arrays.py) to a running float64 sum, tree after tree in sklearn's order; np.cumsum
  along the tree axis adds in exactly that order (np.sum may add pairwise, which rounds differently);
- then `2 ** (-np.divide(depths, denominator, out=ones, where=denominator != 0))`, negated.
"""

from __future__ import annotations

import numpy as np

from .forest_arrays import ForestArrays

#: (row, tree) pairs walked at once; bounds the walk's temporaries to a few MB whatever the batch.
CHUNK_CELLS = 1 << 16
#: Up to this many values, X reaches float32 through Python floats instead of numpy's cast (see score).
SMALL_VALUES = 64


class ForestWalk:
    """The compiled evaluator of one forest. Holds no per-call state, so threads may share it."""

    def __init__(self, arrays: ForestArrays):
        self.arrays = arrays
        self.chunk_rows = max(1, CHUNK_CELLS // arrays.n_trees)

    def score(self, X: np.ndarray) -> np.ndarray:
        """score_samples for a finite (n, width) float64 matrix whose float32 values are finite too."""
        # Inside the agent, numpy's first float64 -> float32 array cast of a call costs ~9 µs (its cast
        # set-up, measured on the edgeHub path; a second cast right after costs 0.5), building the
        # array from Python floats ~1 µs for one row. Both convert with the same C double -> float
        # rounding, so the float32 values are the same.
        if X.size <= SMALL_VALUES:
            X32 = np.array(X.tolist(), dtype=np.float32).reshape(X.shape)
        else:
            X32 = np.ascontiguousarray(X, dtype=np.float32)
        out = np.empty(len(X32), dtype=np.float64)
        for start in range(0, len(X32), self.chunk_rows):
            stop = start + self.chunk_rows
            out[start:stop] = self._scores(self._depths(X32[start:stop]))
        return out

    def _depths(self, X32: np.ndarray) -> np.ndarray:
        a = self.arrays
        n = len(X32)
        flat = X32.reshape(-1)
        slots = np.repeat(a.roots[None, :], n, axis=0)
        if n == 1:
            for _ in range(a.levels):
                slots = a.child[slots + (flat[a.feature[slots]] > a.threshold[slots])]
        else:
            row_start = (np.arange(n, dtype=np.intp) * a.width)[:, None]
            for _ in range(a.levels):
                slots = a.child[slots + (flat[a.feature[slots] + row_start] > a.threshold[slots])]
        return np.cumsum(a.leaf_value[slots], axis=1)[:, -1]

    def _scores(self, depths: np.ndarray) -> np.ndarray:
        denominator = self.arrays.denominator
        if denominator != 0:  # the same division sklearn's np.divide(..., where=True) does, minus its set-up
            return -(2 ** (-(depths / denominator)))
        # Verbatim sklearn: a forest of single-sample trees has denominator 0 and scores 2 ** -1.
        scores = 2 ** (-np.divide(depths, denominator, out=np.ones_like(depths), where=denominator != 0))
        return -scores
