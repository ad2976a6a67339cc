"""Turn a model file in the store into a LoadedModel that may serve: verify, safe-load, prepare, canary.

The same steps for every source (a fresh update, the store at start, a baked model, a rollback).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UpdateError
from ..features import FeatureSpec, SpecError, parse_spec
from ..scoring.prepare import prepare
from ..scoring.slot import LoadedModel
from ..settings import Settings
from . import canary, safe_load, verify


def features_of(manifest: dict) -> FeatureSpec | None:
    """The manifest's feature spec, validated (a pure function of the manifest); UpdateError names the column."""
    document = manifest.get("features")
    if document is None:
        return None
    try:
        return parse_spec(document)
    except SpecError as exc:
        raise UpdateError(str(exc), stage="validate") from None


def load(path: Path, manifest: dict, settings: Settings, source: str, check_manifest: bool = True) -> LoadedModel:
    """Raises UpdateError (stage verify, runtime, load or canary); nothing is unpickled before the checks pass."""
    if check_manifest:
        verify.check_manifest(manifest, settings.updates.public_key, None)
    if not path.is_file():
        raise UpdateError(f"model file {path.name} is missing", stage="verify")
    verify.check_file(path, manifest["sha256"], int(manifest["size"]))
    spec = features_of(manifest)
    estimator = safe_load.load(path, manifest.get("format", "pickle"), settings.updates.allowed_globals)
    width = spec.width if spec is not None else len(settings.scoring.features)
    model = prepare(estimator, manifest, source=source, n_features=width,
                    compiled=settings.scoring.compiled, path=path,
                    check_rows=canary.check_rows(manifest.get("canary"), width, spec), features=spec)
    canary.run(model, manifest.get("canary"), width)
    return model
