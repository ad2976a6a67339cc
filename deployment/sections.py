"""The desired sections an operator publishes: the `model` section read from a bundle directory (inline,
or pointing at the URL where the operator uploaded payload.zst), and optional `scoring`/`upstream` files."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from .errors import UsageError

PAYLOAD_FILE = "payload.zst"
PLACEHOLDER_HOST = "REPLACE-WITH-YOUR-HOST"  # bundling.URL_PLACEHOLDER


@dataclass(frozen=True)
class Bundle:
    """What publish needs from a bundle directory (the format `bundle` writes)."""

    directory: Path
    manifest: dict
    section: dict  # the desired `model` section as bundled (inline chunks, or a url placeholder)

    @property
    def version(self) -> str:
        return str(self.manifest.get("version") or self.section.get("version"))

    @property
    def payload(self) -> Path:
        return self.directory / PAYLOAD_FILE

    @property
    def needs_url(self) -> bool:
        """No inline chunks and no real URL yet (`bundle` writes a placeholder host when it has none)."""
        url = self.section.get("url") or ""
        return not self.section.get("inline") and (not url or PLACEHOLDER_HOST in url)


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{what}: {path} does not exist (is this a directory written by `bundle`?)") from None
    except ValueError as exc:
        raise UsageError(f"{what}: {path} is not valid JSON ({exc})") from None


def load_bundle(directory: str | Path) -> Bundle:
    directory = Path(directory)
    if not directory.is_dir():
        raise UsageError(f"--bundle {directory}: not a directory")
    manifest = _read_json(directory / "manifest.json", "--bundle")
    section = _read_json(directory / "desired.json", "--bundle")
    if isinstance(section, dict) and isinstance(section.get("model"), dict):
        section = section["model"]  # tolerate a whole desired document
    if not isinstance(section, dict) or not section.get("sha256"):
        raise UsageError(f"--bundle {directory}: desired.json has no model section with a sha256")
    if manifest.get("sha256") and manifest["sha256"] != section["sha256"]:
        raise UsageError(f"--bundle {directory}: desired.json and manifest.json name different sha256")
    return Bundle(directory, manifest, section)


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise UsageError(f"--url {url!r}: expected an https:// URL where payload.zst was uploaded")
    if PLACEHOLDER_HOST in url:
        raise UsageError(f"--url {url!r} is the bundler's placeholder, not a host: upload payload.zst "
                         "(publish --upload CONTAINER_URL does it) and publish that URL")
    return url


def without_nulls(value: Any) -> Any:
    """Twin semantics: a null means the key is absent, at any depth."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    return value


def model_section(bundle: Bundle, url: str | None, for_merge: bool = False) -> dict:
    """The section to publish: inline as bundled, or with `url` (and no `inline`) when a URL is given.

    `for_merge` keeps the bundler's null padding (unused url/inline, chunk and canary slots), for a
    layered deployment whose content the hub may merge over an older section; otherwise nulls are
    dropped and publish_device computes the exact nulls the device's current twin needs.
    """
    section = dict(bundle.section)
    if url:
        section.update(inline=None, url=check_url(url))
    elif bundle.needs_url:
        raise UsageError(f"the model in {bundle.directory} is too large to travel inline in the twin; upload "
                         f"{bundle.payload} to an HTTPS location and pass --url (hints on stderr)")
    elif section.get("inline"):
        section["url"] = None
    return section if for_merge else without_nulls(section)


def upload_hints(bundle: Bundle, account: str = "<storage-account>", container: str = "models") -> list[str]:
    """The exact az commands that host payload.zst in Azure Blob Storage behind a read-only SAS URL."""
    blob = f"model-{bundle.version}.zst"
    return [
        f"az storage blob upload --account-name {account} --container-name {container} "
        f"--name {blob} --file {bundle.payload} --overwrite",
        f"az storage blob generate-sas --account-name {account} --container-name {container} "
        f"--name {blob} --permissions r --expiry $(date -u -d '+30 days' +%Y-%m-%dT%H:%MZ) "
        f"--https-only --full-uri --output tsv",
    ]


def load_section_file(path: str | Path, name: str) -> dict:
    """A `scoring` or `upstream` section from a JSON or YAML file (the section itself, or {name: section})."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"--{name} {path}: no such file") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"--{name} {path}: not valid JSON/YAML ({exc})") from None
    if isinstance(doc, dict) and set(doc) == {name}:
        doc = doc[name]
    if not isinstance(doc, dict):
        raise UsageError(f"--{name} {path}: expected an object (the desired `{name}` section)")
    return doc
