"""Prints a local image's layers, largest first: uncompressed size and the instruction that made it."""

import json
import subprocess
import sys


def skopeo(*args: str) -> dict:
    out = subprocess.run(["skopeo", "--override-arch", "amd64", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main(ref: str) -> None:
    source = f"containers-storage:[vfs@/var/lib/containers/storage+/run/containers/storage]{ref}"
    manifest = skopeo("inspect", "--raw", source)
    config = skopeo("inspect", "--config", source)
    made_by = [h.get("created_by", "") for h in config.get("history", []) if not h.get("empty_layer")]
    layers = [(layer["size"], made_by[i] if i < len(made_by) else "?") for i, layer in enumerate(manifest["layers"])]
    for size, instruction in sorted(layers, reverse=True):
        print(f"  {size / 1e6:8.1f} MB  {instruction.replace('/bin/sh -c ', '')[:110]}")


if __name__ == "__main__":
    main(sys.argv[1])
