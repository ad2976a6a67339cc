"""The models the update rows ship, and their bundles made by the operator's own code (deployment/bundling.py).

Sizes are those of the pickle: ~6 KB (the figure measured on a real device for a small model), the
embedded default (100 trees, ~1.2 MB) and ~5 MB (100 trees with more samples per tree). Every one is an
IsolationForest on the same NAB-derived features, so the agent takes each without a settings change.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

from sklearn.ensemble import IsolationForest

from . import workload

#: name -> (trees, max_samples); max_samples tuned so the pickle lands near the named size.
SIZES = {
    "6 KB": (4, 12),
    "embedded default": (100, "auto"),
    "5 MB": (100, 1170),
}
#: Swap models for the hot-swap run: small enough to travel inline in the twin (about 19 KB of base64).
SWAP_TREES, SWAP_SAMPLES = 20, 32


def forest(trees: int, max_samples, seed: int = 0) -> IsolationForest:
    return IsolationForest(n_estimators=trees, max_samples=max_samples, contamination=0.01,
                           random_state=seed).fit(workload.features())


@dataclass(frozen=True)
class Made:
    name: str
    directory: Path
    manifest: dict
    section: dict
    inline: bool

    @property
    def payload(self) -> Path:
        return self.directory / "payload.zst"


def make(name: str, estimator, version: str, folder: Path, url: str | None = None) -> Made:
    """Pickle the estimator and bundle it; `url` makes a URL section instead of inline."""
    from deployment.bundling import build_bundle

    folder.mkdir(parents=True, exist_ok=True)
    model_file = folder / f"{version}.pkl"
    model_file.write_bytes(pickle.dumps(estimator, protocol=5))
    bundle = build_bundle(model_file, version, folder / f"bundle-{version}", url=url)
    return Made(name, bundle.directory, bundle.manifest, bundle.section, bundle.inline)
