"""Model bundles: the manifest, the zstd payload and the desired `model` section an agent applies.

The small API other commands build on:
  build_bundle(model_file, version, out_dir, fmt=None, canary_csv=None, sign_key=None, url=None, rollback=False)
      -> Bundle(directory, manifest, section, inline)   writes the bundle directory (see below)
  desired_section(manifest, payload, url=None) -> (section, inline)   inline when it fits the twin budget
  fits_inline(payload) -> bool
Sections are written for twin merge semantics: every key the agent reads is present, null when unused
(url or inline, signature, canary, rollback, and numbered chunk and canary keys up to their maximum), so
the section works the same as a whole document or as a patch over an older section.
A bundle directory holds manifest.json, the model file, payload.zst (zstd of the model file, to host at a
URL) and desired.json = {"model": section}, a desired document usable as-is with `--desired FILE`.
Signing and the canonical manifest are module.updates.signing: the very code the agent verifies with.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zstandard

from module.features import FeatureSpec, SpecError, load_spec, training_matrix
from module.features.offline import nest, read_csv
from module.features.spec import canonical_json
from module.models import nab
from module.runtime import fingerprint
from module.scoring.scorer import score_method
from module.updates import compat, safe_load, signing
from module.updates.section import (
    CHUNK_CHARS,
    INLINE_BUDGET,
    OTHER_SECTIONS_RESERVE,
    TWIN_DESIRED_LIMIT,
    URL_PLACEHOLDER,
)

FORMAT_BY_SUFFIX = {".pkl": "pickle", ".pickle": "pickle", ".joblib": "joblib", ".skops": "skops"}
ZSTD_LEVEL = 19
#: Canary rows shipped with an update: enough to catch a wrong model, small enough for the twin (~90 B each).
CANARY_ROWS = 8
CANARY_TOLERANCE = 1e-6


#: The fleet's runtime version set (the pins both images install): a model bundled elsewhere is refused there.
FLEET_REQUIREMENTS = Path(__file__).resolve().parents[1] / "requirements" / "runtime.txt"


def fleet_runtime(path: Path = FLEET_REQUIREMENTS) -> dict[str, str]:
    """`name==version` pins of the packages the runtime rule compares, from the fleet's requirements."""
    pins = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return pins
    for line in lines:
        name, sep, version = line.split("#")[0].split(";")[0].strip().partition("==")
        if sep and name.strip().lower() in compat.RULE:
            pins[name.strip().lower()] = version.strip()
    return pins


def runtime_warnings(runtime: dict[str, str]) -> list[str]:
    """Why devices would refuse a model written by `runtime` (empty when it matches the fleet's pins)."""
    fleet = fleet_runtime()
    if not fleet:
        return []
    return [f"devices will refuse this model: it was written with {m}"
            for m in compat.mismatches(runtime, fleet, own_label="requirements/runtime.txt pins")]


class BundleError(ValueError):
    """The model file or an option cannot make a bundle; the message names which."""


@dataclass(frozen=True)
class Bundle:
    directory: Path
    manifest: dict
    section: dict
    """The desired `model` section (also in desired.json under "model")."""
    inline: bool
    warnings: tuple[str, ...] = ()


def detect_format(path: Path, fmt: str | None = None) -> str:
    if fmt:
        if fmt not in safe_load.FORMATS:
            raise BundleError(f"--format must be one of {', '.join(safe_load.FORMATS)}, not {fmt!r}")
        return fmt
    try:
        return FORMAT_BY_SUFFIX[path.suffix.lower()]
    except KeyError:
        raise BundleError(f"cannot tell the format of {path.name} from its suffix; pass --format") from None


def load_estimator(path: Path, fmt: str) -> Any:
    """Through the agent's own restricted loader: a model the agent would refuse is refused here, early."""
    try:
        return safe_load.load(path, fmt)
    except Exception as exc:
        raise BundleError(f"{path.name}: {exc}") from None


def canary_rows(estimator: Any, canary_csv: Path | None) -> np.ndarray | None:
    """Rows from a CSV (numbers only, a header line is skipped), else NAB rows when the model takes 4 features."""
    if canary_csv:
        with open(canary_csv, newline="", encoding="utf-8") as fh:
            rows = [r for r in csv.reader(fh) if r]
        try:
            if rows and not _numeric(rows[0]):
                rows = rows[1:]
            X = np.asarray([[float(v) for v in r] for r in rows[:CANARY_ROWS]], dtype=np.float64)
        except ValueError as exc:
            raise BundleError(f"--canary-data {canary_csv}: {exc}") from None
        if X.ndim != 2 or not len(X):
            raise BundleError(f"--canary-data {canary_csv}: no rows of numbers")
        return X
    if getattr(estimator, "n_features_in_", None) != 4:
        return None
    _, values = nab.load_series()
    X = nab.to_features(values)
    picks = np.linspace(0, len(X) - 1, CANARY_ROWS - 1).astype(int).tolist() + [int(np.argmax(values))]
    return X[picks]


def _numeric(row: list[str]) -> bool:
    try:
        [float(v) for v in row]
    except ValueError:
        return False
    return True


def canary_for(estimator: Any, X: np.ndarray) -> dict:
    """Expected scores computed by the model itself (score_samples, as the agent scores)."""
    try:
        scores = np.asarray(getattr(estimator, score_method(estimator))(X), dtype=np.float64).reshape(-1)
    except Exception as exc:
        raise BundleError(f"the model cannot score the canary rows: {exc}") from None
    return {
        "inputs": {str(i): json.dumps([float(v) for v in row]) for i, row in enumerate(X)},
        "expected": {str(i): repr(float(s)) for i, s in enumerate(scores)},
        "tolerance": CANARY_TOLERANCE,
    }


#: Numbered keys a section always carries (unused ones null): a twin patch merges objects key by key, so
#: a new model with fewer chunks or canary rows than the last one must delete the old keys explicitly.
MAX_CHUNKS = -(-INLINE_BUDGET // CHUNK_CHARS)


def _padded(values: dict, slots: int) -> dict:
    return {str(i): values.get(str(i)) for i in range(max(slots, len(values)))}


def fits_inline(payload: bytes) -> bool:
    return len(base64.b64encode(payload)) <= INLINE_BUDGET


def desired_section(manifest: dict, payload: bytes, url: str | None = None) -> tuple[dict, bool]:
    """The desired `model` section; unused keys are null so that a twin patch deletes stale values.

    The feature spec travels as one JSON string (twins allow no arrays; a string replaces as a whole)."""
    section = {k: manifest.get(k) for k in ("version", "format", "sha256", "size", "signature", "canary", "runtime")}
    section["rollback"] = True if manifest.get("rollback") else None
    features = manifest.get("features")
    section["features"] = canonical_json(features) if features else None
    if section["canary"]:
        canary = section["canary"]
        rows = "sequences" if "sequences" in canary else "inputs"
        other = "inputs" if rows == "sequences" else "sequences"
        section["canary"] = {**canary, rows: _padded(canary[rows], CANARY_ROWS), other: None,
                             "expected": _padded(canary["expected"], CANARY_ROWS)}
    text = base64.b64encode(payload).decode("ascii")
    inline = url is None and fits_inline(payload)
    if inline:
        chunks = {str(i): text[o: o + CHUNK_CHARS] for i, o in enumerate(range(0, len(text), CHUNK_CHARS))}
        section.update(url=None, inline={"encoding": "zstd+base64", "chunks": _padded(chunks, MAX_CHUNKS)})
        if len(json.dumps({"model": section})) > TWIN_DESIRED_LIMIT - OTHER_SECTIONS_RESERVE:
            inline = False
    if not inline:
        section.update(inline=None, url=url or URL_PLACEHOLDER.format(version=manifest["version"]))
    return section, inline


#: Canary sequences for a model with a feature spec, and the most messages one may hold (twin budget).
CANARY_SEQUENCES = 3
CANARY_SEQUENCE_MAX = 16


def canary_sequences(estimator: Any, spec: FeatureSpec, series: Path) -> dict:
    """Short message sequences from a recorded series, and the model's score of each one's last row
    (computed through the offline function on a fresh state, as the agent replays them)."""
    try:
        messages = read_csv(series)
    except (OSError, ValueError) as exc:
        raise BundleError(f"--canary-data {series}: {exc}") from None
    length = min(spec.needs_values, CANARY_SEQUENCE_MAX, len(messages))
    keep = (*spec.paths, *((spec.time.field,) if spec.time.field else ()),
            *((spec.partition.name,) if spec.partition.kind == "field" else ()))
    starts = np.linspace(0, len(messages) - length, CANARY_SEQUENCES).astype(int).tolist()
    sequences, last = {}, []
    for i, start in enumerate(starts):
        chunk = [nest({p: _at(m, p) for p in keep}) for m in messages[start:start + length]]
        try:
            last.append(training_matrix(spec, chunk, partition=f"canary-{i}").X[-1])
        except ValueError as exc:
            raise BundleError(f"--canary-data {series}: {exc}") from None
        sequences[str(i)] = json.dumps(chunk, separators=(",", ":"))
    canary = canary_for(estimator, np.vstack(last))
    return {"sequences": sequences, "expected": canary["expected"], "tolerance": canary["tolerance"]}


def _at(message: dict, path: str) -> Any:
    node: Any = message
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def load_features(path: Path | None) -> FeatureSpec | None:
    if path is None:
        return None
    try:
        return load_spec(path)
    except SpecError as exc:
        raise BundleError(f"--features {path}: {exc}") from None


def build_bundle(model_file: Path, version: str, out_dir: Path, fmt: str | None = None,
                 canary_csv: Path | None = None, sign_key: Path | None = None, url: str | None = None,
                 rollback: bool = False, features: Path | None = None) -> Bundle:
    model_file = Path(model_file)
    if not model_file.is_file():
        raise BundleError(f"model file {model_file} not found")
    fmt = detect_format(model_file, fmt)
    data = model_file.read_bytes()
    estimator = load_estimator(model_file, fmt)
    manifest: dict[str, Any] = {
        "version": str(version), "format": fmt, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
        "file": {"pickle": "model.pkl", "joblib": "model.joblib", "skops": "model.skops"}[fmt],
        "runtime": fingerprint(),
    }
    from module.updates.section import VERSION_PATTERN

    if not VERSION_PATTERN.fullmatch(manifest["version"]):
        raise BundleError("--version must be 1-64 of A-Z a-z 0-9 . _ - (it names a directory on the device)")
    if rollback:
        manifest["rollback"] = True
    spec = load_features(features)
    if spec is not None:
        width = getattr(estimator, "n_features_in_", None)
        if width is not None and int(width) != spec.width:
            raise BundleError(f"the model takes {int(width)} features but --features {features} has {spec.width} columns")
        manifest["features"] = spec.document
        if canary_csv:
            manifest["canary"] = canary_sequences(estimator, spec, canary_csv)
    else:
        X = canary_rows(estimator, canary_csv)
        if X is not None:
            manifest["canary"] = canary_for(estimator, X)
    if sign_key:
        try:
            manifest["signature"] = signing.sign(manifest, signing.load_private_key(sign_key))
        except (OSError, ValueError, TypeError) as exc:
            raise BundleError(f"--sign-key {sign_key}: {exc}") from None
    payload = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(data)
    section, inline = desired_section(manifest, payload, url)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / manifest["file"]).write_bytes(data)
    (out / "payload.zst").write_bytes(payload)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    (out / "desired.json").write_text(json.dumps({"model": section}, indent=1) + "\n", encoding="utf-8")
    return Bundle(out, manifest, section, inline, tuple(runtime_warnings(manifest["runtime"])))
