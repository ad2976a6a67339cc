"""A spec file (YAML or JSON) -> FeatureSpec."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from .errors import SpecError
from .spec import FeatureSpec, parse_spec


def load_spec(path: str | Path) -> FeatureSpec:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read {path}: {exc.strerror}") from None
    try:
        document = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise SpecError(f"{path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}") from None
    return parse_spec(document)
