"""The `storage` section of an operator config file (JSON/YAML), merged with the command line: where
`publish` hosts payload.zst. Credentials never go in the file: they come from the environment."""

from __future__ import annotations

from pathlib import Path

import yaml

from .errors import UsageError

KEYS = {"container_url", "sas_days"}


def storage_options(config: str | None, upload: str | None, sas_days: float | None) -> tuple[str | None, float | None]:
    """(container URL, SAS days): the command line wins over the config file's `storage` section."""
    section: dict = {}
    if config:
        try:
            doc = yaml.safe_load(Path(config).read_text())
        except FileNotFoundError:
            raise UsageError(f"--config {config}: no such file") from None
        except yaml.YAMLError as exc:
            raise UsageError(f"--config {config}: not valid JSON/YAML ({exc})") from None
        section = (doc or {}).get("storage") or {} if isinstance(doc, dict) else None
        if not isinstance(section, dict):
            raise UsageError(f"--config {config}: `storage` must be an object with container_url, sas_days")
        unknown = sorted(set(section) - KEYS)
        if unknown:
            raise UsageError(f"--config {config}: storage.{unknown[0]} is not a setting (known: {', '.join(sorted(KEYS))})")
        if "sas_days" in section and not isinstance(section["sas_days"], (int, float)):
            raise UsageError(f"--config {config}: storage.sas_days must be a number of days")
        if "container_url" in section and not isinstance(section["container_url"], str):
            raise UsageError(f"--config {config}: storage.container_url must be a URL string")
    return upload or section.get("container_url"), sas_days if sas_days is not None else section.get("sas_days")
