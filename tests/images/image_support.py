"""Running the built runtime images from tests: their names, tools/run-in-image.sh, scripts run inside."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

import requests
import zstandard

from tests.helpers.net import free_port, loopback_address

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "tools" / "run-in-image.sh"


def image_ref(arch: str) -> str:
    module = json.loads((ROOT / "module.json").read_text())["image"]
    return f"localhost/{module['repository'].rsplit('/', 1)[-1]}:{module['tag']['version']}-{arch}"


def require_image(arch: str) -> str:
    """The image's name; fails (never skips) when it is not built: tools/test.sh builds it first."""
    ref = image_ref(arch)
    found = subprocess.run(["buildah", "--storage-driver", "vfs", "inspect", "--type", "image", ref],
                           capture_output=True)
    assert found.returncode == 0, f"{ref} is not built: run tools/build-images.sh {arch} (tools/test.sh does)"
    return ref


def shared_dir(path: Path) -> Path:
    """A host folder the image's non-root user (uid 10001) may write to."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o777)
    return path


def run_inside(arch: str, work: Path, *command: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(RUN), arch, "-v", f"{work}:/work", "-w", "/work", "--", *command],
                          capture_output=True, text=True, timeout=timeout)


class ImageAgent:
    """The image's own CMD (python -m module) through run-in-image.sh; HTTP on a fresh loopback address."""

    def __init__(self, arch: str, work: Path, **env: str):
        self.host = loopback_address()
        self.port = free_port(self.host)
        self.url = f"http://{self.host}:{self.port}"
        self.log = work / "agent.log"
        settings = {"AGENT_HTTP_HOST": self.host, "AGENT_HTTP_PORT": str(self.port),
                    "AGENT_AGENT_DATA_DIR": "/work/data", **env}
        args = [str(RUN), arch, "-v", f"{work}:/work"]
        for key, value in settings.items():
            args += ["-e", f"{key}={value}"]
        shared_dir(work / "data")
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"the agent in the image exited: {self.log.read_text()[-3000:]}"
            try:
                if requests.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"not ready after {timeout}s: {self.log.read_text()[-3000:]}")

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def inline_desired(bundle: Path) -> dict:
    """The desired document carrying the bundle's model inline (zstd + base64 in 4 KB chunks)."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    data = (bundle / manifest["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == manifest["sha256"]
    text = base64.b64encode(zstandard.ZstdCompressor(level=19).compress(data)).decode()
    chunks = {str(i): text[at:at + 4096] for i, at in enumerate(range(0, len(text), 4096))}
    section = {k: manifest[k] for k in ("version", "format", "sha256", "size", "runtime")}
    return {"model": {**section, "inline": {"encoding": "zstd+base64", "chunks": chunks}}}
