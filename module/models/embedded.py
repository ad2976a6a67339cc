"""The embedded default model: an IsolationForest trained at start on the bundled NAB series.

No pickle is committed (a pickle is tied to the scikit-learn that wrote it): the model is trained with a
fixed seed on every start (about 0.15 s), so it is the same model, with the same sha256, on every device
that runs the same runtime version set.
"""

from __future__ import annotations

import hashlib
import pickle

from sklearn.ensemble import IsolationForest

from ..runtime import fingerprint
from . import nab

VERSION = "embedded-default-1"
TREES = 100
CONTAMINATION = 0.01
SEED = 0


def train() -> IsolationForest:
    _, values = nab.load_series()
    X = nab.to_features(values)
    return IsolationForest(n_estimators=TREES, contamination=CONTAMINATION, random_state=SEED).fit(X)


def build() -> tuple[IsolationForest, bytes]:
    """(estimator, its pickle bytes): the bytes give the sha256 an update would pin for the same model."""
    model = train()
    return model, pickle.dumps(model, protocol=5)


def manifest(payload: bytes) -> dict:
    return {
        "version": VERSION,
        "format": "pickle",
        "sha256": hashlib.sha256(payload).hexdigest(),
        "size": len(payload),
        "runtime": fingerprint(),
    }
