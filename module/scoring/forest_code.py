"""One row through a packed forest as generated Python: nested `if x <= threshold` per tree, no numpy.

forest_walk.py walks every tree at once with numpy, which pays ~1 µs per array operation: for one row
(a message) its ~50 operations cost 35 µs in a loop and about 60 inside the agent, more than the rest of
a request. The same trees as straight-line Python comparisons on floats cost about 6 µs a row.

The arithmetic is the walk's, so the bits are too: x is rounded to float32 as scikit-learn's trees see
it (struct 'f' is the same C double -> float conversion as numpy's cast), a row goes left when
`x <= threshold` compared in double, the trees' leaf values are added in tree order (np.cumsum's
order), `-(depth / denominator)` is the same IEEE division, and the power of 2 is numpy's own (it may
use SIMD code whose last bit differs from libm's, so Python's ** is not used). compiled_forest.choose
checks every check row against the numpy walk before this serves, and keeps the walk on any difference.

The source holds only integers and `repr()` of finite floats taken from the packed arrays, so it is
the model's numbers and nothing else. It is compiled in a separate interpreter (`python -I -S`):
compile() holds the GIL for its whole run (about 0.2 s for 100 trees here, seconds on an arm32v7
device), which would stall every request in the agent; the code object comes back with marshal.
"""

from __future__ import annotations

import marshal
import math
import struct
import subprocess
import sys
from typing import Callable

import numpy as np

from .forest_arrays import ForestArrays

#: Beyond these the source (about 60 bytes a node) and its compile time grow past what one row saves.
MAX_NODES = 250_000
MAX_LEVELS = 40
COMPILE_TIMEOUT_S = 120.0
_CHILD = ("import marshal, sys; sys.stdout.buffer.write(marshal.dumps("
          "compile(sys.stdin.buffer.read(), '<forest>', 'exec')))")


class NotGenerated(Exception):
    """This forest gets no generated code (too large, too deep, or the compile failed); the walk serves."""


def source(arrays: ForestArrays) -> str:
    """`def depth(x0, x1, ...)`: the forest's summed per-tree path value for one float32-rounded row."""
    nodes = len(arrays.child) // 2
    if nodes > MAX_NODES or arrays.levels > MAX_LEVELS:
        raise NotGenerated(f"{nodes} nodes, {arrays.levels} levels (generated code: at most {MAX_NODES:,} "
                           f"and {MAX_LEVELS})")
    child, feature = arrays.child.tolist(), arrays.feature.tolist()
    threshold, leaf = arrays.threshold.tolist(), arrays.leaf_value.tolist()
    if not all(map(math.isfinite, threshold)) or not all(map(math.isfinite, leaf)):
        raise NotGenerated("a threshold or leaf value is not finite")
    lines = [f"def depth({', '.join(f'x{i}' for i in range(arrays.width))}):"]

    def node(slot: int, pad: str, assign: str) -> None:
        if child[slot] == slot:  # a leaf points both ways to itself
            lines.append(f"{pad}s {assign} {leaf[slot]!r}")
            return
        lines.append(f"{pad}if x{int(feature[slot])} <= {threshold[slot]!r}:")
        node(child[slot], pad + " ", assign)
        lines.append(f"{pad}else:")
        node(child[slot + 1], pad + " ", assign)

    for number, root in enumerate(arrays.roots.tolist()):
        node(root, " ", "=" if number == 0 else "+=")  # the first tree's value, then tree after tree
    lines.append(" return s")
    return "\n".join(lines) + "\n"


def compile_depth(text: str, timeout_s: float = COMPILE_TIMEOUT_S) -> Callable[..., float]:
    try:
        done = subprocess.run([sys.executable, "-I", "-S", "-c", _CHILD], input=text.encode("ascii"),
                              capture_output=True, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NotGenerated(f"compiling the generated code failed: {exc}") from None
    if done.returncode != 0:
        last = (done.stderr.decode("utf-8", "replace").strip().splitlines() or ["no message"])[-1]
        raise NotGenerated(f"compiling the generated code failed (exit {done.returncode}): {last}")
    namespace: dict = {"__builtins__": {}}
    exec(marshal.loads(done.stdout), namespace)  # a def statement: it only binds depth
    return namespace["depth"]


class RowCode:
    """score() for a few rows of finite float64 values within float32's range (the caller checks)."""

    def __init__(self, arrays: ForestArrays, depth: Callable[..., float]):
        self._depth = depth
        self._f32 = struct.Struct(f"<{arrays.width}f")
        self._denominator = float(arrays.denominator)

    @classmethod
    def build(cls, arrays: ForestArrays) -> "RowCode":
        if float(arrays.denominator) == 0:  # before the compile: it would be wasted
            raise NotGenerated("a forest of single-sample trees (denominator 0) keeps scikit-learn's own division")
        return cls(arrays, compile_depth(source(arrays)))

    def score(self, rows: list[list[float]]) -> np.ndarray:
        pack, unpack, depth, denominator = self._f32.pack, self._f32.unpack, self._depth, self._denominator
        exponents = [-(depth(*unpack(pack(*row))) / denominator) for row in rows]
        return -np.power(2.0, np.array(exponents))
