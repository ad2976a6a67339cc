"""The fixed rows every compiled forest is checked on before it may serve: the cases that break evaluators.

Rows are made from the packed forest itself with a fixed seed, so the same model always gets the same
rows: for a sample of split nodes, a row that reaches the node with the split's feature set exactly to
the threshold, to the float64 and float32 neighbours of it, and to the halfway points between float32
neighbours (float64 values that round, ties to even, when sklearn converts X to float32); rows with
extreme values (float32's largest finite values, subnormals, zeros of both signs); random rows around
and beyond the range the thresholds span.
"""

from __future__ import annotations

import numpy as np

from .forest_arrays import ForestArrays

SEED = 20240909
SPLITS = 160  # split nodes probed, each with len(_VARIANTS) rows
RANDOM_ROWS = 64
_F32_MAX = float(np.finfo(np.float32).max)
EXTREMES = (_F32_MAX, -_F32_MAX, 1e30, -1e30, 1e-45, -1e-45, 0.0, -0.0, 1e-300)


def _f32_neighbours(t: float) -> list[float]:
    """float32 values nearest t, the next ones out, and the float64 halfway points between them."""
    near = np.float32(t)
    up, down = np.nextafter(near, np.float32(np.inf)), np.nextafter(near, np.float32(-np.inf))
    points = [float(near), float(up), float(down)]
    points += [(float(near) + float(up)) / 2, (float(near) + float(down)) / 2]
    return [p for p in points if abs(p) <= _F32_MAX]


def _variants(t: float) -> list[float]:
    return [t, float(np.nextafter(t, np.inf)), float(np.nextafter(t, -np.inf))] + _f32_neighbours(t)


def _typical(a: ForestArrays) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(centre, low, high) per column from the thresholds that test it; 0, -1, 1 for an untested column."""
    inner = np.flatnonzero(a.child[0::2] != np.arange(0, len(a.child), 2))
    centre, low, high = np.zeros(a.width), -np.ones(a.width), np.ones(a.width)
    for column in range(a.width):
        t = a.threshold[2 * inner[a.feature[2 * inner] == column]]
        if t.size:
            centre[column], low[column], high[column] = np.median(t), t.min(), t.max()
    return centre, low, high


def _row_reaching(a: ForestArrays, parent: np.ndarray, slot: int, centre: np.ndarray) -> np.ndarray:
    """A row whose path in this tree reaches `slot`: inside every ancestor split's side."""
    low, high = np.full(a.width, -np.inf), np.full(a.width, np.inf)
    node = slot
    while parent[node] >= 0:
        up = parent[node]
        column, t = a.feature[up], a.threshold[up]
        if a.child[up] == node:  # went left: x <= t
            high[column] = min(high[column], t)
        else:
            low[column] = max(low[column], t)
        node = up
    row = centre.copy()
    both = np.isfinite(low) & np.isfinite(high)
    row[both] = (low[both] + high[both]) / 2
    only_low, only_high = np.isfinite(low) & ~both, np.isfinite(high) & ~both
    row[only_low] = low[only_low] + np.abs(low[only_low]) * 0.1 + 1.0
    row[only_high] = high[only_high] - np.abs(high[only_high]) * 0.1 - 1.0
    return row


def _split_rows(a: ForestArrays, centre: np.ndarray, rng: np.random.RandomState) -> list[np.ndarray]:
    slots = np.arange(0, len(a.child), 2)
    inner = slots[a.child[slots] != slots]
    if inner.size == 0:
        return []
    parent = np.full(len(a.child), -1, dtype=np.intp)
    parent[a.child[inner]] = inner
    parent[a.child[inner + 1]] = inner
    rows = []
    for slot in rng.choice(inner, size=min(SPLITS, inner.size), replace=False):
        base = _row_reaching(a, parent, int(slot), centre)
        for value in _variants(float(a.threshold[slot])):
            row = base.copy()
            row[a.feature[slot]] = value
            rows.append(row)
    return rows


def generated_rows(a: ForestArrays) -> np.ndarray:
    """The fixed check rows for one packed forest, in the forest's own input space."""
    rng = np.random.RandomState(SEED)
    centre, low, high = _typical(a)
    rows = _split_rows(a, centre, rng)
    for column in range(a.width):
        for value in EXTREMES:
            row = centre.copy()
            row[column] = value
            rows.append(row)
    rows.append(np.full(a.width, _F32_MAX))
    span = np.maximum(high - low, 1.0)
    rows.extend(rng.uniform(low - span, high + span, size=(RANDOM_ROWS, a.width)))
    return np.ascontiguousarray(rows, dtype=np.float64)
