"""The one workload every row uses: SimulatedTemperatureSensor messages made from the NAB series, and the
embedded default model (IsolationForest, 100 trees, trained on the same NAB-derived features)."""

from __future__ import annotations

import json
from functools import lru_cache

import numpy as np

from module.models import nab

TIME = "2024-01-01T00:00:00.0000000Z"


@lru_cache(maxsize=1)
def features() -> np.ndarray:
    _, values = nab.load_series()
    return nab.to_features(values)


def message(i: int, message_id: str | None = None) -> dict:
    rows = features()
    msg = nab.to_message(rows[i % len(rows)], TIME)
    if message_id is not None:
        msg["id"] = message_id
    return msg


def body(i: int) -> bytes:
    return json.dumps(message(i)).encode()


def batch_body(n: int, start: int = 0) -> bytes:
    return json.dumps([message(start + i) for i in range(n)]).encode()


@lru_cache(maxsize=1)
def model():
    """The same IsolationForest the agent serves by default (same seed, same data, same sha256)."""
    return nab.train_forest()
