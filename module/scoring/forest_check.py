"""Build-time checks of a compiled evaluator: bit-for-bit against scikit-learn, then which is faster when.

Both run once per loaded model, before it is swapped in: a model whose compiled scores differ from
scikit-learn's in a single bit is served by scikit-learn, and the reason names the first difference.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

Score = Callable[[np.ndarray], np.ndarray]

#: Rows of the check set that are also scored one at a time (the one-row path is its own code path).
SINGLE_ROWS = 8


class Mismatch(Exception):
    """The compiled evaluator gave other bits than scikit-learn on a check row."""


def same_bits(name: str, compiled: Score, reference: Score, rows: np.ndarray) -> None:
    """Raises Mismatch unless compiled(rows) equals reference(rows) exactly, as a batch and row by row."""
    if len(rows) == 0:
        return
    _compare(name, compiled(rows), reference(rows), rows)
    for i in range(min(SINGLE_ROWS, len(rows))):
        _compare(name, compiled(rows[i:i + 1]), reference(rows[i:i + 1]), rows[i:i + 1])


def _compare(name: str, got: np.ndarray, want: np.ndarray, rows: np.ndarray) -> None:
    got = np.asarray(got)
    if got.shape == want.shape and got.dtype == want.dtype and np.array_equal(got, want):
        return
    if got.shape != want.shape or got.dtype != want.dtype:
        raise Mismatch(f"{name}: compiled gave {got.dtype}{got.shape}, scikit-learn {want.dtype}{want.shape}")
    i = int(np.flatnonzero(got != want)[0])
    raise Mismatch(
        f"{name}: compiled score {got[i]!r} != scikit-learn {want[i]!r} on row {rows[i].tolist()} "
        f"({int(np.count_nonzero(got != want))} of {len(got)} rows differ)"
    )


@dataclass(frozen=True)
class CostModel:
    """Seconds per call as fixed + per_row * rows for each path, measured on this device at load."""

    compiled_fixed: float
    compiled_per_row: float
    plain_fixed: float
    plain_per_row: float

    def prefers_compiled(self, rows: int) -> bool:
        return self.compiled_fixed + self.compiled_per_row * rows <= self.plain_fixed + self.plain_per_row * rows

    def crossover(self) -> float | None:
        """The batch size where the two paths cost the same; None when one path wins at every size."""
        slope = self.compiled_per_row - self.plain_per_row
        if slope == 0:
            return None
        rows = (self.plain_fixed - self.compiled_fixed) / slope
        return rows if rows > 1 else None

    def describe(self) -> str:
        one_c, one_p = self.compiled_fixed + self.compiled_per_row, self.plain_fixed + self.plain_per_row
        head = f"one row {one_c * 1e3:.3f} ms vs scikit-learn {one_p * 1e3:.3f} ms"
        limit, small = self.crossover(), self.prefers_compiled(1)
        if limit is None:
            return f"{head}; {'compiled' if small else 'scikit-learn'} at every batch size"
        if small:
            return f"{head}; compiled up to {int(limit)} rows per batch, scikit-learn above"
        return f"{head}; scikit-learn up to {int(limit)} rows per batch, compiled above"

    def never_compiled(self) -> bool:
        return self.crossover() is None and not self.prefers_compiled(1)


def _fastest(fn: Score, rows: np.ndarray, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn(rows)
        best = min(best, time.perf_counter() - started)
    return best


def measure(compiled: Score, plain: Score, rows: np.ndarray) -> CostModel:
    """Fits both paths' cost lines from one row and the whole check batch (best of a few runs each)."""
    big = max(2, len(rows))
    if len(rows) < 2:
        rows = np.repeat(rows, 2, axis=0)
    lines = []
    for fn, repeats in ((compiled, 5), (plain, 3)):
        one, many = _fastest(fn, rows[:1], repeats), _fastest(fn, rows, 2)
        per_row = max(0.0, (many - one) / (big - 1))
        lines += [max(0.0, one - per_row), per_row]
    return CostModel(*lines)
