"""Section `detectors`: every outlier detector of scikit-learn's outlier-detection guide, alone and as
the last step of Pipeline(StandardScaler, PCA), saved as pickle and as skops, loaded through the agent's
restricted loaders (the allow-list), with the scorer the agent picks for it (compiled when it is exact
and faster, else scikit-learn's own method) and the median time of that scorer on one message (one
feature row). Trained on the NAB-derived features every bench row uses; IsolationForest has 100 trees."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any, Callable

from . import workload
from .context import Context, row
from .stats import median_call_ms, summary

NAME = "detectors"
TITLE = "Outlier detectors through the update path: scorer chosen and one-message latency"


def detectors() -> dict[str, Callable[[], Any]]:
    from sklearn.covariance import EllipticEnvelope
    from sklearn.ensemble import IsolationForest
    from sklearn.linear_model import SGDOneClassSVM
    from sklearn.neighbors import LocalOutlierFactor
    from sklearn.svm import OneClassSVM

    return {
        "IsolationForest (100 trees)": lambda: IsolationForest(n_estimators=100, random_state=0),
        "LocalOutlierFactor(novelty=True), kd_tree": lambda: LocalOutlierFactor(novelty=True, algorithm="kd_tree"),
        "LocalOutlierFactor(novelty=True), ball_tree": lambda: LocalOutlierFactor(novelty=True, algorithm="ball_tree"),
        "OneClassSVM": lambda: OneClassSVM(nu=0.05),
        "SGDOneClassSVM": lambda: SGDOneClassSVM(random_state=0),
        "EllipticEnvelope": lambda: EllipticEnvelope(random_state=0),
    }


def _estimator(make: Callable[[], Any], piped: bool) -> Any:
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), PCA(n_components=3), make()) if piped else make()


def _saved_and_loaded(estimator: Any, fmt: str, folder: Path) -> Any:
    """Written as the operator would, read back by the agent's own restricted loader."""
    import skops.io as sio

    from module.updates.safe_load import load

    path = folder / ("model.pkl" if fmt == "pickle" else "model.skops")
    if fmt == "pickle":
        path.write_bytes(pickle.dumps(estimator, protocol=5))
    else:
        sio.dump(estimator, path)
    return load(path, fmt)


def run(ctx: Context, names: list[str] | None = None) -> dict:
    from module.scoring.scorer import build_scorer

    X = workload.features()
    train, one = X[::20], X[100:101]
    calls = 30 if ctx.quick else 500
    folder = ctx.folder(NAME)
    rows = []
    for name, make in detectors().items():
        if names and name not in names:
            continue
        for piped in (False, True):
            with warnings.catch_warnings():  # EllipticEnvelope's MCD warns on these features; not ours to fix
                warnings.simplefilter("ignore", RuntimeWarning)
                fitted = _estimator(make, piped).fit(train)
            for fmt in ("pickle", "skops"):
                loaded = _saved_and_loaded(fitted, fmt, folder)
                scorer, reason = build_scorer(loaded, compiled=True, check_rows=X[:256])
                kind = "scikit-learn" if scorer.name == "sklearn" else f"compiled ({scorer.name})"
                ms = summary(median_call_ms(scorer.score, one, calls) for _ in range(ctx.trials))
                rows.append(row(f"{name}{', in Pipeline(scaler, PCA)' if piped else ''}", f"{fmt}: {kind}",
                                {"ms": ms}, reason))
    return {"rows": rows, "notes": [f"ms: median of {calls} calls of the chosen scorer on one feature row, "
                                    "after loading through the allow-list"]}
