"""`publish`: a bundled model to one module twin (--device) or to a fleet through a layered deployment
(--fleet), optionally in gated waves."""

from __future__ import annotations

import argparse
import sys

from ..errors import EXIT_OK, UsageError
from ..hub import ENV_CONNECTION_STRING, Hub, parse_connection_string
from ..hub_retry import RetryPolicy
from ..sections import load_bundle, load_section_file, model_section, upload_hints
from ..wave_tagging import JOBS_FROM, MODES

DEFAULT_MODULE = "edgemodelagent"


def _waves(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: comma-separated percentages, e.g. 1,10,100") from None


def register(subparsers) -> None:
    p = subparsers.add_parser("publish", help="send a bundled model to a module twin or a fleet",
                              description=__doc__)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--device", help="the device whose module twin gets the model")
    target.add_argument("--fleet", metavar="CONDITION", help="target condition, e.g. \"tags.fleet='trucks'\"")
    p.add_argument("--module", default=DEFAULT_MODULE, help=f"module id (default {DEFAULT_MODULE})")
    p.add_argument("--bundle", required=True, metavar="DIR", help="a directory written by `bundle`")
    p.add_argument("--hub-connection-string", metavar="S", help=f"service connection string (or ${ENV_CONNECTION_STRING})")
    p.add_argument("--throttle-wait", type=float, default=600.0, metavar="S",
                   help="how long one hub call may wait out 429 throttling (Retry-After) before giving up (600 s)")
    hosting = p.add_mutually_exclusive_group()
    hosting.add_argument("--url", help="HTTPS URL where payload.zst was uploaded (for models too large to go inline)")
    hosting.add_argument("--upload", metavar="CONTAINER_URL",
                         help="upload payload.zst to this Blob Storage container and publish a read-only SAS URL "
                              "(credential: $AZURE_STORAGE_CONNECTION_STRING, $AZURE_STORAGE_KEY, else Azure AD)")
    p.add_argument("--sas-days", type=float, metavar="D",
                   help="SAS lifetime in days (default 30 with an account key, 7, Azure's maximum, with Azure AD)")
    p.add_argument("--config", metavar="FILE", help="JSON/YAML with a `storage` section: container_url, sas_days")
    p.add_argument("--scoring", metavar="FILE", help="JSON/YAML desired `scoring` section to publish with it")
    p.add_argument("--upstream", metavar="FILE", help="JSON/YAML desired `upstream` section to publish with it")
    fleet = p.add_argument_group("fleet (with --fleet)")
    fleet.add_argument("--name", help="deployment name (configuration id; lowercase, digits, '-')")
    fleet.add_argument("--priority", type=int, default=10, help="layered deployment priority (default 10)")
    fleet.add_argument("--waves", type=_waves, metavar="P1,P2,..", help="cumulative percentages, e.g. 1,10,100")
    fleet.add_argument("--gate", type=float, default=0.95, help="success rate a wave needs before the next (0.95)")
    fleet.add_argument("--tag-with", choices=MODES, default="auto",
                       help="how wave tags are written: IoT Hub jobs (scheduleUpdateTwin, a few calls for any "
                            f"fleet size), one twin update per device, or auto: jobs past {JOBS_FROM} devices a wave")
    p.add_argument("--wait", action="store_true", help="wait for gates and devices instead of returning at once")
    p.add_argument("--timeout", type=float, default=900.0, metavar="S", help="how long --wait waits (900 s)")
    p.add_argument("--poll", type=float, default=5.0, metavar="S", help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help="one JSON document on stdout; the prose goes to stderr")
    p.set_defaults(func=run)


def _sections(args: argparse.Namespace, bundle) -> dict[str, dict]:
    sections = {"model": model_section(bundle, args.url, for_merge=bool(args.fleet))}
    if args.scoring:
        sections["scoring"] = load_section_file(args.scoring, "scoring")
    if args.upstream:
        sections["upstream"] = load_section_file(args.upstream, "upstream")
    return sections


def _hosted_url(args: argparse.Namespace, bundle) -> str | None:
    """With --upload (or a config's storage section) and a model that does not travel inline: its SAS URL."""
    from ..storage_config import storage_options

    container_url, sas_days = storage_options(args.config, args.upload, args.sas_days)
    if not container_url or args.url:
        return None
    if not bundle.needs_url and not args.upload:
        return None  # inline models need no host; --upload given explicitly still uploads
    from .. import blob_hosting
    from ..tables import ProgressLine

    container = blob_hosting.parse_container_url(container_url)
    credential = blob_hosting.credential_from_environment(container)
    line = ProgressLine()
    try:
        hosted = blob_hosting.host_payload(bundle.payload, container, credential, sas_days,
                                           lambda done, total: line.update(f"upload {done:,}/{total:,} B"))
    finally:
        line.done()
    what = "uploaded" if hosted.uploaded else "already in the container (same size and sha256), not re-sent"
    print(f"payload {hosted.blob} ({hosted.size:,} B) {what}; SAS read-only, https only, signed with "
          f"{hosted.signed_with}, expires {hosted.expires:%Y-%m-%d %H:%M} UTC", file=sys.stderr)
    args.hosted = hosted
    return hosted.url


def run(args: argparse.Namespace) -> int:
    connection = parse_connection_string(args.hub_connection_string)
    bundle = load_bundle(args.bundle)
    args.hosted = None
    args.url = _hosted_url(args, bundle) or args.url
    if args.hosted is None and (args.url or bundle.needs_url):
        print("host the payload yourself, e.g. in Azure Blob Storage (the sha256 in the twin pins its bytes):",
              file=sys.stderr)
        for line in upload_hints(bundle):
            print("  " + line, file=sys.stderr)
    sections = _sections(args, bundle)
    model = sections["model"]
    args.result = {"version": model.get("version"), "sha256": model.get("sha256"), "size": model.get("size"),
                   "delivery": "url" if model.get("url") else "inline", "url": model.get("url"),
                   "hosting": args.hosted.as_json() if args.hosted else None,
                   "target": {"device": args.device, "module": args.module} if args.device else
                   {"fleet": args.fleet, "deployment": args.name, "waves": list(args.waves or ())}}
    hub = Hub(connection, RetryPolicy(max_wait_s=args.throttle_wait))
    if args.device:
        return _publish_device(hub, args, sections)
    from ..publish_fleet import run as run_fleet
    from ..rollout import Rollout

    if not args.name:
        raise UsageError("--fleet needs --name (the deployment's configuration id)")
    rollout = Rollout(args.name, args.fleet, args.priority, args.module, sections, tuple(args.waves or ()), args.gate)
    return run_fleet(hub, rollout, args.wait, args.timeout, args.poll, tag_with=args.tag_with)


def _publish_device(hub: Hub, args: argparse.Namespace, sections: dict[str, dict]) -> int:
    from ..publish_device import publish_to_device

    published = publish_to_device(hub, args.device, args.module, sections)
    if isinstance(getattr(args, "result", None), dict):
        args.result.update(patch_bytes=published.patch_bytes, desired_bytes=published.desired_bytes,
                           desired_version=published.desired_version)
    model = sections["model"]
    how = f"url {model['url']}" if "url" in model else f"inline, {len(model['inline'].get('chunks', {}))} chunks"
    print(f"published model {model.get('version')} to {args.device}/{args.module} ({how}); patch "
          f"{published.patch_bytes:,} B, desired now {published.desired_bytes:,} of 32,768 B, "
          f"$version {published.desired_version}")
    print(f"watch: python -m deployment status --device {args.device} --module {args.module} --wait")
    if args.wait:
        from .status import watch_device

        return watch_device(hub, args.device, args.module, args.timeout, args.poll)
    return EXIT_OK
