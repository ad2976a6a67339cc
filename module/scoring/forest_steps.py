"""The transformers in front of a forest in a Pipeline: numpy copies of the simple ones, sklearn for the rest.

Pipeline.score_samples calls each transformer's `transform` in order (skipping None and "passthrough")
and hands the result to the final step. StandardScaler and MinMaxScaler (1.2.1) transform a dense
float64 matrix with in-place numpy arithmetic on a copy; the functions here do the same operations in the
same order, so they give the same bits without sklearn's per-call validation. Any other transformer is
called through its own `transform`: exact by construction, just not faster. Errors for bad input (NaN,
infinities, wrong width) are left to sklearn: the scorer hands such batches to the plain scorer.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

Step = Callable[[np.ndarray], np.ndarray]


def _standard_scaler(scaler) -> Step:
    mean = scaler.mean_ if scaler.with_mean else None
    scale = scaler.scale_ if scaler.with_std else None

    def transform(X: np.ndarray) -> np.ndarray:
        X = np.array(X, dtype=np.float64, copy=True)
        if mean is not None:
            X -= mean
        if scale is not None:
            X /= scale
        return X

    return transform


def _min_max_scaler(scaler) -> Step:
    scale, offset, (low, high), clip = scaler.scale_, scaler.min_, scaler.feature_range, scaler.clip

    def transform(X: np.ndarray) -> np.ndarray:
        X = np.array(X, dtype=np.float64, copy=True)
        X *= scale
        X += offset
        if clip:
            np.clip(X, low, high, out=X)
        return X

    return transform


def _numpy_step(transformer) -> Step | None:
    """The numpy copy of a transformer when we have one for exactly its class, else None."""
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    if type(transformer) is StandardScaler and getattr(transformer, "mean_", None) is not None:
        return _standard_scaler(transformer)
    if type(transformer) is MinMaxScaler and hasattr(transformer, "scale_"):
        return _min_max_scaler(transformer)
    return None


def prefix_steps(transformers: list[Any]) -> tuple[list[Step], list[str]]:
    """(steps to apply in order, a description of each: "StandardScaler (numpy)" / "... (sklearn)")."""
    steps, described = [], []
    for transformer in transformers:
        step = _numpy_step(transformer)
        kind = "numpy"
        if step is None:
            step, kind = transformer.transform, "sklearn"
        steps.append(step)
        described.append(f"{type(transformer).__name__} ({kind})")
    return steps, described
