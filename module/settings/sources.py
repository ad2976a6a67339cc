"""Where the raw settings come from, lowest to highest: the defaults, a YAML file, AGENT_<SECTION>_<KEY>
environment variables, command-line overrides; merged and validated into one Settings."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Mapping, Union, get_args, get_origin

import yaml

from .. import safe_yaml
from ..errors import SettingsError
from .validation import Settings, validate

#: The package's name, not this file's: log lines keep the "logger" they had before settings became a package.
log = logging.getLogger(__package__)

ENV_PREFIX = "AGENT_"


def read_file(path: Path) -> dict[str, Any]:
    try:
        data = safe_yaml.load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"cannot read settings file {path}: {exc.strerror}") from None
    except safe_yaml.YamlRefused as exc:
        raise SettingsError(f"settings file {path}: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"settings file {path}: expected a mapping of sections at the top")
    return data


def from_environment(environ: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """AGENT_<SECTION>_<KEY>=value, the value read as a YAML scalar or flow list (AGENT_HTTP_PORT=9000)."""
    sections = set(Settings.model_fields)
    out: dict[str, dict[str, Any]] = {}
    for name, text in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        section, _, key = name[len(ENV_PREFIX):].lower().partition("_")
        if section not in sections:
            # Build systems set AGENT_NAME, AGENT_OS, ... (Azure Pipelines): not ours, so not fatal.
            log.warning("ignoring %s: it names no section of the agent's settings", name)
            continue
        if not key:
            raise SettingsError(f"{name}={text!r}: unknown setting (expected {ENV_PREFIX}<SECTION>_<KEY>)")
        out.setdefault(section, {})[key] = _env_value(section, key, text)
    return out


def _env_value(section: str, key: str, text: str) -> Any:
    """Text settings take the text as it is (a PEM key, "on", "123"); others read it as YAML (9000, [a, b])."""
    if not text:
        return None
    if _wants_text(section, key):
        return text
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _wants_text(section: str, key: str) -> bool:
    field = Settings.model_fields[section].annotation.model_fields.get(key)
    if field is None:
        return False  # validation names it as an unknown setting
    kind = field.annotation
    if get_origin(kind) is Literal:
        return True
    if get_origin(kind) in (Union, UnionType):
        return any(arg in (str, Path) for arg in get_args(kind))
    return kind in (str, Path)


def load(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Settings:
    """Defaults < file < environment < command-line overrides."""
    raw: dict[str, dict[str, Any]] = {}
    layers = [
        read_file(config_file) if config_file else {},
        from_environment(os.environ if environ is None else environ),
        overrides or {},
    ]
    for layer in layers:
        for section, values in layer.items():
            if values is None:  # "http:" with nothing under it
                continue
            if not isinstance(values, Mapping):
                raise SettingsError(f"{section}: expected a mapping of settings, got {values!r}")
            raw.setdefault(section, {}).update(values)
    return validate(raw)
