"""Turn a freshly loaded estimator into a LoadedModel: its scorer, its cut-off and its input width."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UpdateError
from . import entry_script
from .scorer import build_scorer, default_threshold, score_method
from .slot import LoadedModel
from .tree_structure import Malformed, check_estimator

log = logging.getLogger(__name__)


def prepare(
    estimator: Any,
    manifest: dict,
    source: str,
    n_features: int,
    compiled: bool = True,
    check_rows: np.ndarray | None = None,
    path: Path | None = None,
    features: Any = None,
    live: bool = True,
) -> LoadedModel:
    """Raises UpdateError (stage "load") when the estimator cannot serve the configured features or holds a
    malformed tree. live=False (the trial child, which checks a model but never serves it) skips the Azure ML
    entry script's init() and the compiled forest's generated one-row code."""
    try:
        score_method(estimator)
    except TypeError as exc:
        raise UpdateError(str(exc), stage="load") from None
    width = getattr(estimator, "n_features_in_", None)
    if width is not None and int(width) != n_features:
        what = f"its feature spec has {n_features} columns" if features is not None else \
            f"scoring.features has {n_features}"
        raise UpdateError(f"model expects {int(width)} input features but {what}", stage="load")
    try:
        check_estimator(estimator)  # before anything walks a tree: sklearn's Cython code trusts its arrays
        scorer, reason = build_scorer(estimator, compiled, check_rows, generate_rows=live)
    except Malformed as exc:
        raise UpdateError(f"malformed tree, the model is refused: {exc}", stage="load") from None
    # Last: init() of a configured Azure ML entry script runs only for a model that passed every check.
    entry = entry_script.build(manifest, estimator, path) if live else None
    model = LoadedModel(
        version=str(manifest["version"]),
        sha256=str(manifest.get("sha256", "")),
        format=str(manifest.get("format", "pickle")),
        estimator=estimator,
        scorer=scorer,
        n_features=None if width is None else int(width),
        default_threshold=default_threshold(estimator),
        source=source,
        scorer_reason=reason,
        path=path,
        manifest=dict(manifest),
        entry=entry,
        features=features,
    )
    log.info("model prepared", extra={"model_version": model.version, "scorer": scorer.name, "reason": reason})
    return model
