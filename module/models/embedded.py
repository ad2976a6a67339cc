"""The embedded default model: SimulatedTemperatureSensor's normal behaviour, trained at start.

The sensor users route in first (simulated_sensor.py) is what this model knows: a NormalEnvelope
(envelope.py) over a windowed feature spec, trained on seeded runs of a re-implementation of that
sensor. A normal run scores normal; a pressure off its linear relation to temperature, a temperature
jump (10 degrees from one message to the next) and a stuck reading (the same temperature for
STUCK_WINDOW messages) are flagged. Rows whose partition lacks STUCK_WINDOW messages are not warm
and never flagged (docs/features.md).

No pickle is committed (a pickle is tied to the scikit-learn that wrote it): the model is trained with
fixed seeds on every start (about 0.2 s), so it is the same model, with the same sha256, on every
device that runs the same runtime version set.
"""

from __future__ import annotations

import hashlib
import pickle

import numpy as np

from ..features import FeatureSpec, parse_spec, training_matrix
from ..runtime import fingerprint
from . import nab, simulated_sensor
from .envelope import NormalEnvelope

VERSION = "embedded-default-2"
STUCK_WINDOW = 10
SPEC = {
    "columns": [
        "machine.temperature",
        "machine.pressure",
        "ambient.temperature",
        "ambient.humidity",
        "diff(machine.temperature)",
        f"std(machine.temperature, {STUCK_WINDOW})",
    ],
    "time": {"field": "timeCreated", "fallback": "arrival"},
}
#: Per column, how far beyond the range normal runs showed a value is still normal (in its units):
#: 5 degrees of machine temperature (the pressure's equivalent), 0.25 degree ambient, half a humidity
#: step, half a degree of step; for the spread, nine tenths of the smallest normal one below (a stuck
#: temperature's is 0) and STD_MARGIN_ABOVE above (the climb's spread varies most).
MARGINS = (5.0, 5.0 * simulated_sensor.PRESSURE_PER_DEGREE, 0.25, 0.5, 0.5, None)
STD_MARGIN_ABOVE = 1.0
#: machine.pressure (column 1) is linear in machine.temperature (column 0); 0.05 bar off the line is a fault.
RELATIONS = ((1, 0),)
RELATION_MARGINS = (0.05,)
#: Training runs: seeds 0..RUNS-1 of RUN_MESSAGES each (longer than the sensor's default 500 messages,
#: so the plateau's slow wander above 100 degrees is covered beyond where a default run goes).
RUNS = 8
RUN_MESSAGES = 1_000


def spec() -> FeatureSpec:
    return parse_spec(SPEC)


def training_rows(feature_spec: FeatureSpec, runs: int = RUNS, messages: int = RUN_MESSAGES) -> np.ndarray:
    """The warm rows of `runs` seeded sensor runs, each through a fresh history as serving builds it."""
    blocks = []
    for seed in range(runs):
        matrix = training_matrix(feature_spec, simulated_sensor.run(messages, seed=seed))
        blocks.append(matrix.X[matrix.warm])
    return np.vstack(blocks)


def train(feature_spec: FeatureSpec | None = None) -> NormalEnvelope:
    X = training_rows(feature_spec or spec())
    stuck_margin = 0.9 * X[:, -1].min()  # flagged below a tenth of the smallest normal spread
    margins = MARGINS[:-1] + ((stuck_margin, STD_MARGIN_ABOVE),)
    return NormalEnvelope(margins=margins, relations=RELATIONS, relation_margins=RELATION_MARGINS).fit(X)


def build(kind: str = "simulated-sensor") -> tuple[object, bytes, FeatureSpec | None]:
    """(estimator, its pickle bytes, its feature spec or None for a point-wise model): the bytes give the
    sha256 of the same model. kind: the `agent.default_model` setting."""
    if kind == "nab-forest":
        forest = nab.train_forest()
        return forest, pickle.dumps(forest, protocol=5), None
    feature_spec = spec()
    model = train(feature_spec)
    return model, pickle.dumps(model, protocol=5), feature_spec


def manifest(payload: bytes, feature_spec: FeatureSpec | None) -> dict:
    if feature_spec is None:
        return {"version": nab.FOREST_VERSION, "format": "pickle", "sha256": hashlib.sha256(payload).hexdigest(),
                "size": len(payload), "runtime": fingerprint()}
    return {
        "version": VERSION,
        "format": "pickle",
        "sha256": hashlib.sha256(payload).hexdigest(),
        "size": len(payload),
        "runtime": fingerprint(),
        "features": feature_spec.document,
    }
