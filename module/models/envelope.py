"""NormalEnvelope: a model of a sensor's normal behaviour as the range each feature column keeps.

Why not an IsolationForest: a forest isolates a value beyond the training range no faster than the
most extreme training value, so a fault that a normal run never comes near (a pressure off its exact
relation to temperature, a temperature that stops moving) scores like the edge of normal, and the cut-off
that keeps a normal run quiet lets it through. The envelope learns, from normal runs, each column's
[min, max] and, for a column pair that is linear in normal operation, the line and the residual's range;
a row scores by how far its worst column lies outside its range, in that column's margin.

score_samples = -(worst excess / margin) (0 inside every range); offset_ = -1: a row is an outlier when
some column is more than its margin outside what normal runs showed. scikit-learn style (fit,
score_samples, decision_function, predict), so it serves through the same scorer as any model.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin


class NormalEnvelope(OutlierMixin, BaseEstimator):
    def __init__(self, margins=(), relations=(), relation_margins=()):
        self.margins = margins
        """Per column: how far beyond its trained range a value is still normal (in the column's units),
        one number for both sides or (below, above)."""
        self.relations = relations
        """(y, x) column pairs that are linear in normal operation: y = a + b * x."""
        self.relation_margins = relation_margins
        """Per relation: how far off the line (in y's units) beyond the trained residual is still normal."""

    def fit(self, X, y=None):
        X = _matrix(X)
        if len(self.margins) != X.shape[1] or len(self.relation_margins) != len(self.relations):
            raise ValueError("one margin per column and one per relation")
        self.n_features_in_ = X.shape[1]
        self.low_, self.high_ = X.min(axis=0), X.max(axis=0)
        lines, low, high = [], [], []
        for y_col, x_col in self.relations:
            slope, intercept = np.polyfit(X[:, x_col], X[:, y_col], 1)
            residual = X[:, y_col] - (intercept + slope * X[:, x_col])
            lines.append((intercept, slope))
            low.append(residual.min())
            high.append(residual.max())
        self.lines_ = np.asarray(lines, dtype=np.float64).reshape(-1, 2)
        self.residual_low_ = np.asarray(low, dtype=np.float64)
        self.residual_high_ = np.asarray(high, dtype=np.float64)
        self.offset_ = -1.0
        return self

    def excess(self, X) -> np.ndarray:
        """Per row and check (columns, then relations): distance outside the trained range, in margins."""
        X = _matrix(X)
        below, above = _sides(self.margins)
        outside = np.maximum(np.maximum((self.low_ - X) / below, (X - self.high_) / above), 0.0)
        if not len(self.relations):
            return outside
        ys = X[:, [y for y, _ in self.relations]]
        xs = X[:, [x for _, x in self.relations]]
        residual = ys - (self.lines_[:, 0] + self.lines_[:, 1] * xs)
        off = np.maximum(np.maximum(self.residual_low_ - residual, residual - self.residual_high_), 0.0)
        return np.hstack([outside, off / np.asarray(self.relation_margins, dtype=np.float64)])

    def score_samples(self, X) -> np.ndarray:
        X = _matrix(X)
        if len(X) == 1 and (floats := self._as_floats()) is not None:
            row = X[0].tolist()
            if all(map(math.isfinite, row)):
                return np.array([_score_one(row, self.relations, floats)])
        return 0.0 - self.excess(X).max(axis=1)  # 0.0 - : inside the envelope is 0.0, not -0.0

    def _as_floats(self) -> tuple | None:
        """The fitted arrays as Python floats for _score_one (None when a margin is not positive: numpy's
        inf/NaN answer then stands). Built at the first score and never pickled (__getstate__)."""
        cached = self.__dict__.get("_floats")
        if cached is None:
            below, above = (side.tolist() for side in _sides(self.margins))
            relation_margins = [float(m) for m in self.relation_margins]
            usable = all(math.isfinite(m) and m > 0 for m in (*below, *above, *relation_margins))
            cached = (self.low_.tolist(), self.high_.tolist(), below, above, self.lines_.tolist(),
                      self.residual_low_.tolist(), self.residual_high_.tolist(), relation_margins) if usable else ()
            self.__dict__["_floats"] = cached
        return cached or None

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop("_floats", None)
        return state

    def decision_function(self, X) -> np.ndarray:
        return self.score_samples(X) - self.offset_

    def predict(self, X) -> np.ndarray:
        return np.where(self.decision_function(X) < 0, -1, 1)


def _score_one(row: list, relations, floats: tuple) -> float:
    """score_samples of one finite row in Python floats: excess()'s IEEE double operations in its order
    (a division by a positive margin keeps max's order, so the same bits), without numpy's ~1 µs per
    operation on tiny arrays that made one row cost ~40 µs: this is the default model's per-message path."""
    low, high, below, above, lines, res_low, res_high, rel_margins = floats
    worst = 0.0
    for x, lo, hi, b, a in zip(row, low, high, below, above):
        worst = max(worst, (lo - x) / b, (x - hi) / a)
    for (y_col, x_col), (intercept, slope), r_lo, r_hi, m in zip(relations, lines, res_low, res_high, rel_margins):
        residual = row[y_col] - (intercept + slope * row[x_col])
        worst = max(worst, max(r_lo - residual, residual - r_hi, 0.0) / m)
    return 0.0 - worst


def _sides(margins) -> tuple[np.ndarray, np.ndarray]:
    pairs = [m if isinstance(m, (tuple, list)) else (m, m) for m in margins]
    return np.array([p[0] for p in pairs], dtype=np.float64), np.array([p[1] for p in pairs], dtype=np.float64)


def _matrix(X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"expected a 2-d matrix, got shape {list(X.shape)}")
    return X
