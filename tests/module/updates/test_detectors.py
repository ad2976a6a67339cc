"""Every outlier detector of scikit-learn's outlier-detection guide goes through the update path by default
(bundle -> URL download -> verify -> restricted load -> canary -> swap) and serves exactly its own scores:
alone and ending a Pipeline(StandardScaler, PCA), as pickle and as skops."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import skops.io as sio
from sklearn.covariance import EllipticEnvelope
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.linear_model import SGDOneClassSVM
from sklearn.neighbors import LocalOutlierFactor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM

from deployment.bundling import build_bundle
from tests.helpers.http_fault_server import FaultServer

from .conftest import nab_rows, settle

DETECTORS = {
    "isolation-forest": lambda: IsolationForest(n_estimators=20, random_state=0),
    "lof-kd-tree": lambda: LocalOutlierFactor(novelty=True, algorithm="kd_tree"),
    "lof-ball-tree": lambda: LocalOutlierFactor(novelty=True, algorithm="ball_tree"),
    "one-class-svm": lambda: OneClassSVM(nu=0.05),
    "sgd-one-class-svm": lambda: SGDOneClassSVM(random_state=0),
    "elliptic-envelope": lambda: EllipticEnvelope(random_state=0),
}


def _estimator(name: str, piped: bool):
    detector = DETECTORS[name]()
    return make_pipeline(StandardScaler(), PCA(n_components=3), detector) if piped else detector


@pytest.mark.parametrize("fmt", ["pickle", "skops"])
@pytest.mark.parametrize("piped", [False, True], ids=["alone", "pipeline"])
@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_the_detector_loads_and_serves_its_exact_scores(name, piped, fmt, start_agent, loopback, tmp_path):
    X = nab_rows()
    estimator = _estimator(name, piped).fit(X[::20])
    path = tmp_path / f"model.{'pkl' if fmt == 'pickle' else 'skops'}"
    if fmt == "pickle":
        path.write_bytes(pickle.dumps(estimator, protocol=5))
    else:
        sio.dump(estimator, path)
    with FaultServer(loopback) as server:
        b = build_bundle(path, "2", tmp_path / "bundle", url=server.url("/2.zst"))
        server.add("/2.zst", (b.directory / "payload.zst").read_bytes())
        agent = start_agent()
        agent.handle_desired({"model": b.section, "$version": 1})
        state = settle(agent)
    assert state["status"] == "active", state
    rows = X[100:140]
    method = "score_samples" if hasattr(estimator, "score_samples") else "decision_function"
    served = agent.slot.current.scorer.score(rows)
    assert np.array_equal(served, getattr(estimator, method)(rows))
