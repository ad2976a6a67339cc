"""Model bundles for tests: a real scikit-learn model pickled in this environment, in the shared bundle format."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
from sklearn.ensemble import IsolationForest

from module.runtime import fingerprint

RUNTIME_KEYS = ("python", "scikit-learn", "numpy", "scipy", "joblib")


def train(n_estimators: int = 100, max_samples: int | str = "auto", seed: int = 0) -> IsolationForest:
    """An IsolationForest on 4 features like the SimulatedTemperatureSensor's (deterministic for a seed)."""
    rows = np.random.default_rng(seed).normal([21.0, 1.0, 25.0, 50.0], [2.0, 0.1, 1.0, 5.0], size=(2000, 4))
    return IsolationForest(n_estimators=n_estimators, max_samples=max_samples, contamination=0.01,
                           random_state=seed).fit(rows)


def fixed_rows(count: int = 20) -> np.ndarray:
    return np.random.default_rng(1234).normal([21.0, 1.0, 25.0, 50.0], [4.0, 0.3, 2.0, 10.0], size=(count, 4))


def write_bundle(directory: Path, version: str, estimator=None, *, model_bytes: bytes | None = None,
                 runtime: dict | None = None) -> Path:
    """manifest.json + model.pkl; `runtime` overrides the recorded version set (to build a mismatch)."""
    directory.mkdir(parents=True, exist_ok=True)
    data = model_bytes if model_bytes is not None else pickle.dumps(estimator, protocol=5)
    (directory / "model.pkl").write_bytes(data)
    own = fingerprint()
    manifest = {"version": version, "format": "pickle", "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data), "file": "model.pkl",
                "runtime": runtime or {k: own[k] for k in RUNTIME_KEYS}}
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return directory


def messages(rows: np.ndarray) -> list[dict]:
    """Rows as SimulatedTemperatureSensor messages (what POST /score takes)."""
    from module.models.nab import to_message

    return [to_message(row, "2026-01-01T00:00:00Z") for row in rows]
