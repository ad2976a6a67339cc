"""`render`: the IoT Edge deployment manifest from deployment/deployment.template.json, with the registry,
image tag, public key and initial desired properties filled in, validated before it is written."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from ..errors import UsageError
from ..manifest_check import check
from ..manifest_render import MODULE, public_key_value, render
from ..twin_limits import json_bytes

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deployment" / "deployment.template.json"
MODULE_JSON = ROOT / "module.json"


def register(subparsers) -> None:
    p = subparsers.add_parser("render", help="write the IoT Edge deployment manifest from the template",
                              description=__doc__)
    p.add_argument("--template", type=Path, default=TEMPLATE, help="default deployment/deployment.template.json")
    p.add_argument("--registry", help="registry for the module image (default: module.json's repository host)")
    p.add_argument("--tag", help="image tag (default: module.json's version + '-' + --platform)")
    p.add_argument("--platform", default="amd64", choices=("amd64", "arm32v7"), help="for the default tag")
    p.add_argument("--desired", type=Path, metavar="FILE",
                   help="initial desired properties of the module (JSON/YAML; e.g. a bundle's desired.json)")
    p.add_argument("--public-key", type=Path, metavar="PEM", help="signing public key -> AGENT_UPDATES_PUBLIC_KEY")
    p.add_argument("--out", type=Path, default=Path("deployment.json"), help="default ./deployment.json")
    p.set_defaults(func=run)


def module_image(registry: str | None, tag: str | None, platform: str) -> str:
    """REGISTRY/edgemodelagent:TAG, defaults from module.json as the IoT Edge tooling builds ${MODULES.x}."""
    try:
        spec = json.loads(MODULE_JSON.read_text())["image"]
    except (OSError, ValueError, KeyError):
        if not (registry and tag):
            raise UsageError(f"{MODULE_JSON} is not readable: pass --registry and --tag") from None
        spec = {"repository": MODULE, "tag": {"version": ""}}
    repository = spec["repository"]
    if registry:
        repository = f"{registry.rstrip('/')}/{repository.rsplit('/', 1)[-1]}"
    return f"{repository}:{tag or spec['tag']['version'] + '-' + platform}"


def _desired(path: Path | None) -> dict | None:
    if path is None:
        return None
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"--desired {path}: {exc}") from None
    if not isinstance(doc, dict):
        raise UsageError(f"--desired {path}: expected an object of desired sections (model, scoring, upstream)")
    return {k: v for k, v in doc.items() if not k.startswith("$")}


def _nulls_dropped(doc):
    if isinstance(doc, dict):
        return {k: _nulls_dropped(v) for k, v in doc.items() if v is not None}
    return doc


def run(args: argparse.Namespace) -> int:
    try:
        template = json.loads(args.template.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"--template {args.template}: {exc}") from None
    image = module_image(args.registry, args.tag, args.platform)
    key = public_key_value(args.public_key) if args.public_key else None
    desired = _desired(args.desired)
    doc, notes = render(template, {MODULE: image}, _nulls_dropped(desired) if desired else None, key)
    found = check(doc)
    if found:
        raise UsageError("the rendered manifest is not valid:\n  " + "\n  ".join(found))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    content = doc["modulesContent"]
    modules = content["$edgeAgent"]["properties.desired"]["modules"]
    for note in notes:
        print(f"note: {note}")
    print(f"wrote {args.out}: {len(modules)} modules, {len(content['$edgeHub']['properties.desired']['routes'])} routes")
    for name, spec in modules.items():
        print(f"  {name}: {spec['settings']['image']}")
    own = content.get(MODULE, {}).get("properties.desired", {})
    print(f"  {MODULE} desired properties: {', '.join(own) or 'none'} ({json_bytes(own):,} of 32,768 B)")
    print(f"apply: az iot edge set-modules --hub-name HUB --device-id DEVICE --content {args.out}")
    return 0
