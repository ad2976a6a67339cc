"""The desired `model` section: validated into a typed, frozen ModelSection at the boundary.

Twins allow no arrays and no string over 4 KB, so inline models travel as zstd+base64 text in numbered
chunks {"0": ..., "1": ...} and canary rows as JSON text under numbered keys.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import UpdateError
from ..features import SpecError, parse_spec

#: Twin limits (IoT Hub): all desired properties together, and one string value.
TWIN_DESIRED_LIMIT = 32 * 1024
TWIN_STRING_LIMIT = 4 * 1024
#: Room kept for the other desired sections (scoring, upstream, edge: about 1 KB today, 4x headroom).
OTHER_SECTIONS_RESERVE = 4 * 1024
#: Room for the model section's other fields and JSON overhead: version, sha256 (64), size, format,
#: signature (88), runtime (~120), canary (16 rows of ~90 chars: ~1.5 KB), plus ~8 bytes of key, quotes
#: and comma per chunk (7 chunks: 56).
MODEL_FIELDS_RESERVE = 4 * 1024
#: Base64 characters an inline model may take: 32 KB - 4 KB - 4 KB = 24,576 (about 18 KB of zstd output).
INLINE_BUDGET = TWIN_DESIRED_LIMIT - OTHER_SECTIONS_RESERVE - MODEL_FIELDS_RESERVE
CHUNK_CHARS = TWIN_STRING_LIMIT

VERSION_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
"""A version names a directory in the store: letters, digits, dot, dash, underscore; 64 at most. Always
used with fullmatch: `$` would let a trailing newline through ("2\n" naming a directory)."""
SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
#: The URL `python -m deployment bundle` writes when it cannot inline a model and was given no --url.
URL_PLACEHOLDER = "https://REPLACE-WITH-YOUR-HOST/models/{version}/payload.zst"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


def _numbered(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not value:
        raise ValueError(f"{what} must be a non-empty object with keys 0, 1, 2, ...")
    try:
        indexes = sorted(int(k) for k in value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} keys must be 0, 1, 2, ... (got {sorted(map(str, value))[:5]})") from None
    if indexes != list(range(len(indexes))) or any(str(int(k)) != str(k) for k in value):
        missing = sorted(set(range(max(indexes) + 1)) - set(indexes))
        raise ValueError(f"{what} keys must run 0..{len(indexes) - 1} without gaps (missing {missing[:5]})")
    return {str(k): value[k] for k in sorted(value, key=int)}


class Inline(_Strict):
    encoding: Literal["zstd+base64"]
    chunks: dict[str, str]

    @field_validator("chunks", mode="before")
    @classmethod
    def _chunks(cls, value: Any) -> dict[str, Any]:
        chunks = _numbered(value, "inline.chunks")
        for key, text in chunks.items():
            if not isinstance(text, str):
                raise ValueError(f"inline.chunks.{key} must be a string")
            if len(text) > CHUNK_CHARS:
                raise ValueError(f"inline.chunks.{key} has {len(text)} characters; a twin string holds {CHUNK_CHARS}")
        total = sum(len(t) for t in chunks.values())
        if total > INLINE_BUDGET:
            raise ValueError(f"inline model is {total} characters, over the twin budget of {INLINE_BUDGET}; use url")
        return chunks

    def ordered(self) -> list[str]:
        """Chunks in key order (0, 1, 2, ...), whatever order the JSON object listed them in."""
        return [self.chunks[k] for k in sorted(self.chunks, key=int)]


class Canary(_Strict):
    inputs: dict[str, str] | None = None
    """Row i as JSON text: "[21.3, 1.04, 20.9, 25]" (a model without a feature spec)."""
    sequences: dict[str, str] | None = None
    """Sequence i as JSON text: a list of messages, replayed on a scratch feature state (a model with a
    spec); expected[i] is the model's score of the last message's row."""
    expected: dict[str, float]
    tolerance: float = Field(1e-6, ge=0)

    @field_validator("inputs", "sequences", mode="before")
    @classmethod
    def _inputs(cls, value: Any, info) -> dict[str, Any] | None:
        return None if value is None else _numbered(value, f"canary.{info.field_name}")

    @field_validator("expected", mode="before")
    @classmethod
    def _expected(cls, value: Any) -> dict[str, Any]:
        return _numbered(value, "canary.expected")

    @model_validator(mode="after")
    def _same_rows(self) -> "Canary":
        if (self.inputs is None) == (self.sequences is None):
            raise ValueError("a canary holds exactly one of inputs (rows) or sequences (messages)")
        given = self.inputs if self.inputs is not None else self.sequences
        if set(given) != set(self.expected):
            raise ValueError("canary.expected must have the same keys as canary.inputs or canary.sequences")
        return self


class ModelSection(_Strict):
    version: str
    format: Literal["pickle", "joblib", "skops"] = "pickle"
    sha256: str
    size: int = Field(gt=0)
    url: str | None = None
    inline: Inline | None = None
    signature: str | None = None
    rollback: bool = False
    """Signed rollback: allows an older version while signing is on (part of the signed manifest)."""
    canary: Canary | None = None
    runtime: dict[str, str] | None = None
    """The versions that wrote the model ({python, scikit-learn, numpy, scipy, joblib})."""
    features: dict | None = None
    """The model's feature spec (module/features), canonical; in the twin a JSON string (no arrays)."""

    @field_validator("features", mode="before")
    @classmethod
    def _features(cls, value: Any) -> dict | None:
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise ValueError(f"is not JSON text of a feature spec: {exc}") from None
        try:
            return parse_spec(value).document
        except SpecError as exc:
            raise ValueError(str(exc).removeprefix("features: ")) from None

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValueError("version must be a string")
        if not VERSION_PATTERN.fullmatch(str(value)) or str(value) in {".", ".."}:
            raise ValueError("version must be 1-64 of A-Z a-z 0-9 . _ - (it names a directory)")
        return str(value)

    @field_validator("sha256")
    @classmethod
    def _sha(cls, value: str) -> str:
        if not SHA256_PATTERN.fullmatch(value):
            raise ValueError("sha256 must be 64 lowercase hex digits")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("url must be an http:// or https:// address")
        if value is not None and "REPLACE-WITH-YOUR-HOST" in value:
            raise ValueError("url is the bundler's placeholder: host payload.zst and put its address in model.url")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> "ModelSection":
        if (self.url is None) == (self.inline is None):
            raise ValueError("exactly one of url or inline is required (set the other to null)")
        return self

    def manifest(self) -> dict[str, Any]:
        """The manifest stored beside the model file (and signed, in its canonical form)."""
        out: dict[str, Any] = {"version": self.version, "format": self.format, "sha256": self.sha256, "size": self.size}
        if self.rollback:
            out["rollback"] = True
        if self.signature:
            out["signature"] = self.signature
        if self.canary:
            out["canary"] = self.canary.model_dump(exclude_none=True)
        if self.runtime:
            out["runtime"] = dict(self.runtime)
        if self.features:
            out["features"] = self.features
        return out


def parse(raw: Any, max_model_bytes: int) -> ModelSection:
    """Raises UpdateError (stage "validate") naming every bad key; `$`-keys (twin metadata) are ignored."""
    if not isinstance(raw, Mapping):
        raise UpdateError(f"model: expected an object, got {type(raw).__name__}", stage="validate")
    clean = _without_nulls({k: v for k, v in raw.items() if not str(k).startswith("$")})
    try:
        section = ModelSection.model_validate(clean)
    except ValidationError as exc:
        raise UpdateError(describe(exc), stage="validate") from None
    if section.size > max_model_bytes:
        raise UpdateError(
            f"model.size {section.size} is over updates.max_model_bytes ({max_model_bytes})", stage="validate"
        )
    return section


def _without_nulls(value: Any) -> Any:
    """Twin semantics: a null value means the key is absent (at any depth)."""
    if isinstance(value, Mapping):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def describe(exc: ValidationError) -> str:
    """Every bad key with its reason; the offending value is cut short (an inline model is 24 KB)."""
    lines = []
    for err in exc.errors():
        key = ".".join(["model", *(str(p) for p in err["loc"])])
        if err["type"] == "extra_forbidden":
            lines.append(f"{key}: unknown key")
            continue
        got = repr(err.get("input"))
        got = got if len(got) <= 60 else got[:57] + "..."
        lines.append(f"{key}: {err['msg'].removeprefix('Value error, ')} (got {got})")
    return "; ".join(lines)
