"""Turn a model file in the store into a LoadedModel that may serve: verify, trial, safe-load, prepare, canary.

The same steps for every source (a fresh update, the store at start, a baked model, a rollback). A new
candidate is first tried in a child process (trial.py); the manager loads it live only after that. The
manager skips the trial (trial=False) for a version that already served or passed one with the same bytes
(restore at start, rollback, reload): the sha256 is still checked against the manifest every time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from ..errors import UpdateError
from ..features import FeatureSpec, SpecError, parse_spec
from ..scoring.prepare import prepare
from ..scoring.slot import LoadedModel
from ..settings import Settings
from . import canary, safe_load, trial as trial_mod, verify


def features_of(manifest: dict) -> FeatureSpec | None:
    """The manifest's feature spec, validated (a pure function of the manifest); UpdateError names the column."""
    document = manifest.get("features")
    if document is None:
        return None
    try:
        return parse_spec(document)
    except SpecError as exc:
        raise UpdateError(str(exc), stage="validate") from None


def vet(path: Path, manifest: dict, settings: Settings, check_manifest: bool = True,
        trial: bool = True) -> trial_mod.TrialResult | None:
    """Everything before the live process unpickles: manifest, file, sha256, then (trial=True) the child.
    Raises UpdateError (stage verify, runtime, validate, load or canary)."""
    if check_manifest:
        verify.check_manifest(manifest, settings.updates.public_key, None)
    if not path.is_file():
        raise UpdateError(f"model file {path.name} is missing", stage="verify")
    verify.check_file(path, manifest["sha256"], int(manifest["size"]))
    features_of(manifest)  # a bad spec is refused here, before a child starts
    return trial_mod.run(path, manifest, settings) if trial else None


def open_model(path: Path, manifest: dict, allowed_globals: Iterable[str], default_width: int, compiled: bool,
               source: str, live: bool = True) -> LoadedModel:
    """Unpickle, prepare (structural checks of every tree) and canary: in the trial child, then live."""
    spec = features_of(manifest)
    estimator = safe_load.load(path, manifest.get("format", "pickle"), allowed_globals)
    width = spec.width if spec is not None else default_width
    model = prepare(estimator, manifest, source=source, n_features=width, compiled=compiled, path=path,
                    check_rows=canary.check_rows(manifest.get("canary"), width, spec), features=spec, live=live)
    canary.run(model, manifest.get("canary"), width)
    return model


def open_live(path: Path, manifest: dict, settings: Settings, source: str) -> LoadedModel:
    return open_model(path, manifest, settings.updates.allowed_globals, len(settings.scoring.features),
                      settings.scoring.compiled, source)


def load(path: Path, manifest: dict, settings: Settings, source: str, check_manifest: bool = True,
         trial: bool = True) -> LoadedModel:
    """vet() then open_live(); nothing is unpickled in this process before the checks and the trial pass."""
    vet(path, manifest, settings, check_manifest, trial)
    return open_live(path, manifest, settings, source)
