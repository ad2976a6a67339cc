"""`fingerprint`: the runtime version set an image will have, read from its Dockerfile and requirements.

Train a model for a device with exactly these versions (the agent refuses a model written for another
scikit-learn, or another numpy/scipy major.minor). The Dockerfile's Debian pins and requirements/runtime.txt
must agree; a disagreement is reported and exits non-zero.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement

ROOT = Path(__file__).resolve().parents[2]
#: fingerprint key -> the Debian package that provides it in the images.
DEBIAN_PACKAGES = {"python": "python3", "scikit-learn": "python3-sklearn", "numpy": "python3-numpy",
                   "scipy": "python3-scipy", "joblib": "python3-joblib"}
MACHINES = {"amd64": "x86_64", "arm32v7": "armv7l"}
EXIT_MISMATCH = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("fingerprint", help="print the runtime version set of an image's requirements",
                              description=__doc__.split("\n\n")[0].split(":", 1)[1].strip())
    which = p.add_mutually_exclusive_group()
    which.add_argument("--requirements", type=Path, help="a pinned requirements file (default requirements/runtime.txt)")
    which.add_argument("--image-arch", choices=sorted(MACHINES), help="the image built from Dockerfile.<ARCH>")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.image_arch:
        machine = MACHINES[args.image_arch]
        pinned = requirement_pins(ROOT / "requirements/runtime.txt", machine)
        debian = debian_pins(ROOT / f"Dockerfile.{args.image_arch}")
        problems = [f"{key}: Dockerfile.{args.image_arch} installs {debian.get(key, 'nothing')}, "
                    f"requirements/runtime.txt pins {pinned[key]}"
                    for key in pinned if key in DEBIAN_PACKAGES and debian.get(key) != pinned[key]]
        found = {"python": debian.get("python", "?"), **{k: pinned[k] for k in DEBIAN_PACKAGES if k in pinned}}
        found["machine"] = machine
    else:
        found = requirement_pins(args.requirements or ROOT / "requirements/runtime.txt", None)
        found = {"python": found.pop("python", "3.11"), **found}
        problems = []
    print(json.dumps(found, indent=2))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return EXIT_MISMATCH if problems else 0


def requirement_pins(path: Path, machine: str | None) -> dict[str, str]:
    """`==` pins of the fingerprint packages, markers evaluated for `machine` (None: this machine)."""
    env = default_environment() | ({"platform_machine": machine} if machine else {})
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if req.name.lower() in DEBIAN_PACKAGES and (req.marker is None or req.marker.evaluate(env)):
            pins[req.name.lower()] = str(req.specifier).removeprefix("==")
    return pins


def debian_pins(dockerfile: Path) -> dict[str, str]:
    """Upstream versions of the Debian packages pinned in a Dockerfile (`python3-numpy=1:1.24.2-1+deb12u1` -> 1.24.2)."""
    text = dockerfile.read_text()
    found = {}
    for key, package in DEBIAN_PACKAGES.items():
        m = re.search(rf"(?<![\w-]){re.escape(package)}=(?:\d+:)?([0-9][^\s\\-]*)", text)
        if m:
            found[key] = m[1].split("+")[0]
    return found
