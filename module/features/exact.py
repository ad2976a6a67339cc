"""Exact running sums: the values as integer multiples of 2**-bits, so adding and removing never rounds.

Why: a running float sum drifts from one recomputed over the same window, so a window rebuilt from the
raw history (after a restart or a spec swap) or computed offline would differ in the last bits. With
exact integer sums the mean and the standard deviation depend only on the values in the window, and are
rounded once, correctly (CPython's int / int is correctly rounded; math.sqrt is too).

Every finite double is an integer multiple of 2**-1074, but sums at that scale are 1,100-bit integers
(and their squares 2,200), slow to add, square and divide. `bits` is instead the finest binary fraction
any value added has needed (about 50 for a sensor reading), and grows when a finer one arrives; mean and
std are ratios of the sums at the same scale, so their values do not depend on it.
"""

from __future__ import annotations

import math


class ExactSums:
    """n, sum and sum of squares of the values in a window, as exact integers at scale 2**bits."""

    __slots__ = ("n", "s1", "s2", "bits")

    def __init__(self) -> None:
        self.n = 0
        self.s1 = 0
        self.s2 = 0
        self.bits = 0

    def scaled(self, x: float) -> int:
        """x * 2**bits, exactly; first rescales the sums when x needs a finer scale."""
        num, den = x.as_integer_ratio()
        need = den.bit_length() - 1
        if need > self.bits:
            shift = need - self.bits
            self.s1 <<= shift
            self.s2 <<= 2 * shift
            self.bits = need
        return num << (self.bits - need)

    def add(self, x: float) -> None:
        v = self.scaled(x)
        self.n += 1
        self.s1 += v
        self.s2 += v * v

    def remove(self, x: float) -> None:
        v = self.scaled(x)
        self.n -= 1
        self.s1 -= v
        self.s2 -= v * v

    def mean(self) -> float:
        return self.s1 / (self.n << self.bits)

    def std(self) -> float:
        """Population standard deviation (ddof=0): sqrt of the exactly computed variance, rounded once."""
        n = self.n
        numerator = n * self.s2 - self.s1 * self.s1
        if numerator <= 0:
            return 0.0
        denominator = (n * n) << (2 * self.bits)
        try:
            return math.sqrt(numerator / denominator)
        except OverflowError:  # values near 1e300: the variance is past the float range, its root is not
            k = (numerator.bit_length() - denominator.bit_length()) // 2
            return math.ldexp(math.sqrt(numerator / (denominator << (2 * k))), k)
