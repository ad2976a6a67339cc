"""Fill the IoT Edge deployment template: module images (${MODULES.name}), $VARIABLES from the environment,
createOptions as JSON strings split into 512-character parts, the public key and the initial desired state."""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path
from typing import Any, Mapping

from .errors import UsageError

MODULE = "edgemodelagent"
CREATE_OPTIONS_PART = 512  # IoT Edge: each createOptions string holds at most 512 characters
CREATE_OPTIONS_PARTS = 8  # createOptions, createOptions01 .. createOptions07
PUBLIC_KEY_ENV = "AGENT_UPDATES_PUBLIC_KEY"
_MODULE_REF = re.compile(r"\$\{MODULES\.([A-Za-z0-9_-]+)\}")
_VARIABLE = re.compile(r"\$([A-Z][A-Z0-9_]*)")


def image_for(name: str, images: Mapping[str, str]) -> str:
    if name not in images:
        raise UsageError(f"the template names ${{MODULES.{name}}} but no image is known for it")
    return images[name]


def substitute(text: str, images: Mapping[str, str], env: Mapping[str, str]) -> str:
    """${MODULES.x} -> image; $NAME -> env[NAME] when set (left as is otherwise, for the checker to name)."""
    text = _MODULE_REF.sub(lambda m: image_for(m.group(1), images), text)
    return _VARIABLE.sub(lambda m: env.get(m.group(1), m.group(0)), text)


def _walk_strings(doc: Any, fn) -> Any:
    if isinstance(doc, dict):
        return {k: _walk_strings(v, fn) for k, v in doc.items()}
    if isinstance(doc, str):
        return fn(doc)
    return doc


def split_create_options(settings: dict, where: str) -> None:
    """createOptions (an object or a JSON string in the template) -> compact JSON in <=512-char parts."""
    value = settings.get("createOptions")
    if value is None:
        return
    text = json.dumps(value, separators=(",", ":")) if isinstance(value, dict) else value
    if not isinstance(text, str):
        raise UsageError(f"{where}.createOptions: expected a JSON object or a JSON string")
    try:
        if not isinstance(json.loads(text), dict):
            raise ValueError("not an object")
    except ValueError as exc:
        raise UsageError(f"{where}.createOptions is not a JSON object ({exc})") from None
    parts = [text[i:i + CREATE_OPTIONS_PART] for i in range(0, len(text), CREATE_OPTIONS_PART)] or ["{}"]
    if len(parts) > CREATE_OPTIONS_PARTS:
        raise UsageError(f"{where}.createOptions is {len(text):,} characters; IoT Edge takes at most "
                         f"{CREATE_OPTIONS_PARTS} x {CREATE_OPTIONS_PART}")
    for key in [k for k in settings if k.startswith("createOptions")]:
        del settings[key]
    for i, part in enumerate(parts):
        settings["createOptions" if i == 0 else f"createOptions{i:02d}"] = part


def _drop_unset_credentials(agent: dict) -> list[str]:
    """Registry credentials whose placeholders stayed unset are left out (an anonymous registry)."""
    creds = (((agent.get("runtime") or {}).get("settings") or {}).get("registryCredentials")) or {}
    dropped = [name for name, c in creds.items() if any(_VARIABLE.search(str(v)) for v in c.values())]
    for name in dropped:
        del creds[name]
    return dropped


def public_key_value(path: str | Path) -> str:
    """The raw 32-byte Ed25519 key in base64: one line, safe in an environment variable."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise UsageError(f"--public-key {path}: not a readable PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise UsageError(f"--public-key {path}: not an Ed25519 key (make one with `keygen`)")
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def render(template: dict, images: Mapping[str, str], desired: dict | None = None, public_key: str | None = None,
           env: Mapping[str, str] | None = None, module: str = MODULE) -> tuple[dict, list[str]]:
    """(the deployment manifest, notes for the operator). The template itself is not changed."""
    env = dict(os.environ if env is None else env)
    doc = _walk_strings(template, lambda s: substitute(s, images, env))
    doc.pop("$schema-template", None)
    content = doc.get("modulesContent")
    if not isinstance(content, dict) or "$edgeAgent" not in content:
        raise UsageError("the template has no modulesContent.$edgeAgent: not an IoT Edge deployment template")
    agent = content["$edgeAgent"].get("properties.desired") or {}
    notes = [f"registry credentials {name!r} left out: its $CONTAINER_REGISTRY_* variables are not set"
             for name in _drop_unset_credentials(agent)]
    for group in ("systemModules", "modules"):
        for name, spec in (agent.get(group) or {}).items():
            split_create_options(spec.setdefault("settings", {}), f"{group}.{name}.settings")
    if public_key:
        modules = agent.get("modules") or {}
        if module not in modules:
            raise UsageError(f"the template has no module {module!r} to give the public key to")
        modules[module].setdefault("env", {})[PUBLIC_KEY_ENV] = {"value": public_key}
    if desired:
        section = content.setdefault(module, {}).setdefault("properties.desired", {})
        section.update(desired)
    return doc, notes
