"""Exact running sums: every float as an integer multiple of 2**-1074, so adding and removing never rounds.

Why: a running float sum drifts from one recomputed over the same window, so a window rebuilt from the
raw history (after a restart or a spec swap) or computed offline would differ in the last bits. With
exact integer sums the mean and the standard deviation depend only on the values in the window, and are
rounded once, correctly (CPython's int / int is correctly rounded; math.sqrt is too).
"""

from __future__ import annotations

import math

#: 2**-1074 is the smallest positive double: every finite double is an integer multiple of it.
SCALE_BITS = 1074


def scaled(x: float) -> int:
    """x * 2**1074, exactly."""
    num, den = x.as_integer_ratio()
    return num << (SCALE_BITS - (den.bit_length() - 1))


class ExactSums:
    """n, sum and sum of squares of the values in a window, as exact integers."""

    __slots__ = ("n", "s1", "s2")

    def __init__(self) -> None:
        self.n = 0
        self.s1 = 0
        self.s2 = 0

    def add(self, v: int) -> None:
        self.n += 1
        self.s1 += v
        self.s2 += v * v

    def remove(self, v: int) -> None:
        self.n -= 1
        self.s1 -= v
        self.s2 -= v * v

    def mean(self) -> float:
        return self.s1 / (self.n << SCALE_BITS)

    def std(self) -> float:
        """Population standard deviation (ddof=0): sqrt of the exactly computed variance, rounded once."""
        n = self.n
        numerator = n * self.s2 - self.s1 * self.s1
        if numerator <= 0:
            return 0.0
        return math.sqrt(numerator / ((n * n) << (2 * SCALE_BITS)))
