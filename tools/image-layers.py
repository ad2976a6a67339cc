"""Prints a local image's layers (largest first) and, inside it, the largest installed packages.

`buildah bud` without --layers (tools/build-images.sh) makes one layer for the whole Dockerfile on top of
the debootstrap base, so the package sizes say where the runtime layer's megabytes go.
"""

import json
import subprocess
import sys
from pathlib import Path

STORAGE = Path("/var/lib/containers/storage")
PACKAGE_DIRS = ("usr/lib/python3/dist-packages", "opt/venv/lib/python3.11/site-packages", "usr/lib/*-linux-gnu*")


def skopeo(*args: str) -> dict:
    out = subprocess.run(["skopeo", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def layers(ref: str) -> None:
    source = f"containers-storage:[vfs@{STORAGE}+/run/containers/storage]{ref}"
    manifest = skopeo("inspect", "--raw", source)
    sizes = sorted((layer["size"] for layer in manifest["layers"]), reverse=True)
    names = {0: "debootstrap base"} if len(sizes) == 2 else {}
    for i, size in enumerate(manifest["layers"]):
        label = names.get(i, "Dockerfile (one layer)" if i == len(sizes) - 1 else f"layer {i}")
        print(f"  layer {i}: {size['size'] / 1e6:7.1f} MB  {label}")


def packages(ref: str, top: int = 8) -> None:
    images = json.loads((STORAGE / "vfs-images" / "images.json").read_text())
    wanted = [i for i in images if ref in i.get("names", [])]
    if not wanted:
        return
    root = STORAGE / "vfs" / "dir" / wanted[0]["layer"]
    found = []
    for pattern in PACKAGE_DIRS:
        for parent in root.glob(pattern):
            for entry in parent.iterdir():
                found.append((_size(entry), str(entry.relative_to(root))))
    for size, path in sorted(found, reverse=True)[:top]:
        print(f"    {size / 1e6:7.1f} MB  /{path}")


def _size(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if not p.is_symlink() and p.is_file())


if __name__ == "__main__":
    layers(sys.argv[1])
    packages(sys.argv[1])
