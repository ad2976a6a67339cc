"""The NAB machine-temperature series bundled with the agent, and its mapping onto the default features.

NAB holds one reading (an industrial machine's temperature) every 5 minutes. The default features are
SimulatedTemperatureSensor's four fields; they are made from each NAB reading the way that simulator makes
them from its machine temperature: pressure = 1 + (t - 21) * 9 / 79 (its 21..100 degree range mapped
onto 1..10), ambient temperature 21 +/- 0.5, humidity 24..26 (uniform, seeded, so the rows never change).
"""

from __future__ import annotations

import csv
import json
from datetime import datetime
from importlib import resources

import numpy as np

SERIES = "machine_temperature_system_failure.csv"
WINDOWS = "machine_temperature_windows.json"
SEED = 20131202


def _data(name: str):
    return resources.files("module").joinpath("data", "nab", name)


def load_series() -> tuple[list[str], np.ndarray]:
    """(timestamps, values) of the NAB series, in file order."""
    with _data(SERIES).open("r", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))[1:]
    return [r[0] for r in rows], np.array([float(r[1]) for r in rows], dtype=np.float64)


def load_windows() -> list[tuple[datetime, datetime]]:
    """NAB's labelled anomaly windows for the series."""
    raw = json.loads(_data(WINDOWS).read_text(encoding="utf-8"))[SERIES]
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    return [(datetime.strptime(a, fmt), datetime.strptime(b, fmt)) for a, b in raw]


def to_features(values: np.ndarray, seed: int = SEED) -> np.ndarray:
    """NAB readings -> rows of (machine.temperature, machine.pressure, ambient.temperature, ambient.humidity)."""
    rng = np.random.RandomState(seed)
    ambient = 21.0 + rng.uniform(-0.5, 0.5, size=len(values))
    humidity = rng.randint(24, 27, size=len(values)).astype(np.float64)
    pressure = 1.0 + (values - 21.0) * 9.0 / 79.0
    return np.column_stack([values, pressure, ambient, humidity])


def to_message(row: np.ndarray, time_created: str) -> dict:
    """A row as the JSON SimulatedTemperatureSensor sends."""
    return {
        "machine": {"temperature": float(row[0]), "pressure": float(row[1])},
        "ambient": {"temperature": float(row[2]), "humidity": float(row[3])},
        "timeCreated": time_created,
    }


FOREST_VERSION = "embedded-default-1"
FOREST_TREES = 100
FOREST_CONTAMINATION = 0.01
FOREST_SEED = 0


def train_forest():
    """The point-wise IsolationForest on the NAB-derived rows (the embedded default before version 2):
    the model the benchmarks and the scorer tests measure, and the demo's point-wise baseline."""
    from sklearn.ensemble import IsolationForest

    _, values = load_series()
    return IsolationForest(n_estimators=FOREST_TREES, contamination=FOREST_CONTAMINATION,
                           random_state=FOREST_SEED).fit(to_features(values))
