"""Section: bytes one device receives for one model update, per delivery path, for small to large models:
the twin's inline patch, a URL download (the agent's own fetch from a loopback HTTP server), a tiny
image layer pulled from a real registry, and the seed design's full dependency layer."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

from . import bundles, procs
from .context import Context, row
from .fileserver import CountingFileServer
from .httpclient import Connection, get_request
from .net import free_port, loopback_address

NAME = "bytes"
TITLE = "Update bytes per device, per delivery path"
SEED_LAYER_BYTES = 60_000_000
"""The seed design's figure: the dependency layer a rebuilt image pulls per update, measured on a real device."""


def _models(ctx: Context) -> list[tuple[str, object]]:
    names = ("6 KB",) if ctx.quick else tuple(bundles.SIZES)
    return [(n, bundles.forest(*bundles.SIZES[n])) for n in names]


def _version(name: str) -> str:
    return "bytes-" + name.replace(" ", "-").lower()


def twin_patch_bytes(made: bundles.Made) -> int | None:
    """The desired patch as the hub sends it to the device: compact JSON with its $version."""
    if not made.inline:
        return None
    return len(json.dumps({"model": made.section, "$version": 2}, separators=(",", ":")).encode())


def _model_version(server: procs.Server) -> str | None:
    conn = Connection(server.host, server.port)
    try:
        status, body = conn.send(get_request(server.host, server.port, "/model"))
    finally:
        conn.close()
    return json.loads(body).get("version") if status == 200 else None


def url_bytes(made_list: list[bundles.Made], ctx: Context) -> dict[str, int]:
    """Each payload.zst downloaded by the agent itself (--desired with a url section), counted on the wire."""
    folder = ctx.folder(f"{NAME}/url")
    host = loopback_address()
    desired = folder / "desired.yaml"
    out: dict[str, int] = {}
    with CountingFileServer(folder.parent, host) as files, \
            procs.agent(host, free_port(host), folder, env={"AGENT_AGENT_DESIRED_POLL_S": "0.1"},
                        extra=["--desired", str(desired)]) as agent:
        agent.wait_ready()
        for made in made_list:
            rel = made.payload.relative_to(folder.parent).as_posix()
            section = {**made.section, "inline": None, "url": files.url(rel)}
            before = files.bytes_in + files.bytes_out
            tmp = desired.with_suffix(".tmp")
            tmp.write_text(yaml.safe_dump({"model": section}))
            tmp.replace(desired)
            deadline = time.monotonic() + 120
            while _model_version(agent) != made.manifest["version"]:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"agent never activated {made.manifest['version']}; see {agent.log_path}")
                time.sleep(0.1)
            out[made.name] = files.bytes_in + files.bytes_out - before
    return out


def layer_bytes(made_list: list[bundles.Made], ctx: Context, runtime: Path | None) -> dict[str, int]:
    """`deployment layer` pushes each model image; skopeo pulls it beside the runtime it already holds.

    The base is the real runtime image (`runtime`, an OCI layout) when it was built, else a small stand-in.
    """
    from tests.helpers.registry import Registry, push_stand_in_base, served_get_bytes, skopeo

    folder = ctx.folder(f"{NAME}/layer")
    out: dict[str, int] = {}
    with Registry(folder) as registry:
        if runtime is not None:
            base = f"{registry.address}/runtime:1"
            skopeo("copy", "--dest-tls-verify=false", f"oci:{runtime}:runtime", f"docker://{base}")
        else:
            base = push_stand_in_base(registry.address)
        pulled = folder / "device"
        skopeo("copy", "--src-tls-verify=false", f"docker://{base}", f"oci:{pulled}:runtime")
        for made in made_list:
            tag = f"{registry.address}/model:{made.manifest['version']}"
            subprocess.run([sys.executable, "-m", "deployment", "layer", str(made.directory), "--base", base,
                            "--tag", tag, "--insecure", "--json"], check=True, capture_output=True, text=True,
                           cwd=procs.REPO, timeout=300)
            mark = registry.log_mark()
            skopeo("copy", "--src-tls-verify=false", f"docker://{tag}", f"oci:{pulled}:{made.manifest['version']}")
            out[made.name] = served_get_bytes(registry.requests_since(mark))
    return out


def runtime_layer_bytes(ctx: Context) -> tuple[int | None, str, Path | None]:
    """The amd64 runtime image's layers above its Debian base, gzip-compressed as a registry serves them.

    Measured only when tools/build-images.sh has built the image on this machine (and not in --quick).
    """
    module = json.loads((procs.REPO / "module.json").read_text())["image"]
    name = module["repository"].rsplit("/", 1)[-1]
    ref = f"localhost/{name}:{module['tag']['version']}-amd64"
    if ctx.quick:
        return None, "runtime image not measured in --quick", None
    source = f"containers-storage:[vfs@/var/lib/containers/storage+/run/containers/storage]{ref}"
    layout = ctx.folder(f"{NAME}/runtime-oci")
    try:
        subprocess.run(["skopeo", "copy", "--dest-compress", source, f"oci:{layout}:runtime"], check=True,
                       capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        return (None, f"runtime image {ref} not measured (build it with tools/build-images.sh amd64): {exc!r}"[:300],
                None)
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":", 1)[1]
    manifest = json.loads((layout / "blobs" / "sha256" / digest).read_text())
    sizes = [layer["size"] for layer in manifest["layers"]]
    return sum(sizes[1:]), (f"{ref}: layers above the Debian base, gzip ({len(sizes) - 1} of {len(sizes)}; "
                            f"base {sizes[0]:,} B); a dependency change makes every device pull them"), layout


def run(ctx: Context) -> dict:
    folder = ctx.folder(NAME)
    made = [bundles.make(name, est, _version(name), folder / "bundles") for name, est in _models(ctx)]
    urls = url_bytes(made, ctx)
    runtime, runtime_note, layout = runtime_layer_bytes(ctx)
    try:
        layers = layer_bytes(made, ctx, layout)
        layer_note = "on this project's runtime image" if layout else "on a small stand-in runtime"
    except (ImportError, OSError, subprocess.CalledProcessError) as exc:
        layers, layer_note = {}, f"tiny layer not measured: {exc!r}"[:300]
    rows = []
    for m in made:
        size = m.manifest["size"]
        case = f"{m.name} model ({size:,} B pickle, {m.payload.stat().st_size:,} B zstd)"
        paths = (
            ("twin inline patch", twin_patch_bytes(m), "" if m.inline else "over the twin's 32 KB budget: url/layer instead"),
            ("URL download (HTTP, payload.zst)", urls.get(m.name), ""),
            ("tiny image layer (registry pull)", layers.get(m.name), layer_note or ""),
            ("seed: full dependency layer (reference)", SEED_LAYER_BYTES, ""),
            ("this runtime image: its dependency layer (measured)", runtime, runtime_note),
        )
        for subject, value, note in paths:
            share = None if value is None else 100.0 * value / SEED_LAYER_BYTES
            rows.append(row(case, subject, {"bytes": value, "pct_of_60MB": share}, note))
    notes = [
        "twin inline: the compact JSON desired patch the device receives (MQTT framing adds ~100 B).",
        "URL: request + response bytes on the socket, plain HTTP on loopback (TLS adds ~5 KB of handshake).",
        "tiny layer: manifest + config + model layer GETs in the registry's access log, for a device that "
        "already holds the runtime image (pulled with skopeo). The full run builds on this project's runtime "
        "image when tools/build-images.sh has built it; --quick on a small stand-in (a smaller config).",
        "seed: the 60 MB dependency layer a rebuilt image made every device pull, measured on a real device.",
    ]
    return {"rows": rows, "targets": [], "notes": notes}
