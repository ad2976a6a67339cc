"""Debian's docker-registry (the CNCF distribution registry) on a loopback port, with its access log parsed.

`Registry(tmp).start()` serves plain HTTP on 127.x.y.z:free-port with its own storage; `requests_since(mark)`
returns the requests it logged after `mark = registry.log_mark()`, so a test counts what a push uploaded or
a pull downloaded from the registry's own log. `htpasswd=(user, password)` turns on basic auth.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.helpers.net import free_port, loopback_address, wait_listening

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # bcrypt hashes for htpasswd through libxcrypt (the module is in Python 3.11)

BINARY = "/usr/bin/docker-registry"
_ACCESS = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3}) (?P<bytes>\d+|-)')


@dataclass(frozen=True)
class Logged:
    method: str
    path: str
    status: int
    bytes: int


class Registry:
    def __init__(self, tmp: Path, htpasswd: tuple[str, str] | None = None):
        self.dir = tmp / "registry"
        self.host = loopback_address()
        self.port = free_port(self.host)
        self.address = f"{self.host}:{self.port}"
        self.htpasswd = htpasswd
        self.log_path = self.dir / "registry.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Registry":
        self.dir.mkdir(parents=True, exist_ok=True)
        auth = ""
        if self.htpasswd:
            user, password = self.htpasswd
            hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))
            (self.dir / "htpasswd").write_text(f"{user}:{hashed}\n")
            auth = f"auth: {{htpasswd: {{realm: test-registry, path: {self.dir / 'htpasswd'}}}}}\n"
        config = self.dir / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log: {level: info, accesslog: {disabled: false}, fields: {service: registry}}\n"
            f"storage: {{filesystem: {{rootdirectory: {self.dir / 'data'}}}, delete: {{enabled: true}}}}\n"
            f"http: {{addr: '{self.address}'}}\n" + auth
        )
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen([BINARY, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        try:
            wait_listening(self.host, self.port, timeout=20)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"docker-registry did not start: {self.log_path.read_text()[-2000:]}") from None
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> "Registry":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def log_mark(self) -> int:
        return self.log_path.stat().st_size

    def requests_since(self, mark: int) -> list[Logged]:
        # The access log line is written when the response finishes; give the last one a moment to land.
        time.sleep(0.3)
        with self.log_path.open("rb") as f:
            f.seek(mark)
            text = f.read().decode(errors="replace")
        found = []
        for line in text.splitlines():
            m = _ACCESS.search(line)
            if m:
                size = 0 if m["bytes"] == "-" else int(m["bytes"])
                found.append(Logged(m["method"], m["path"], int(m["status"]), size))
        return found

    def tags(self, repository: str) -> list[str]:
        resp = requests.get(f"http://{self.address}/v2/{repository}/tags/list", timeout=10)
        return resp.json().get("tags") or [] if resp.ok else []


def blob_uploads(logged: list[Logged]) -> list[str]:
    """Digests whose bytes were sent: the PUT that completes an upload carries ?digest=."""
    return [re.search(r"digest=(sha256(?::|%3A)[0-9a-f]{64})", r.path)[1].replace("%3A", ":")
            for r in logged if r.method == "PUT" and "/blobs/uploads/" in r.path and "digest=" in r.path]


def served_get_bytes(logged: list[Logged]) -> int:
    """Bytes the registry sent for GETs (manifests and blobs), the figure a pulling client downloads."""
    return sum(r.bytes for r in logged if r.method == "GET" and r.status == 200 and r.path != "/v2/")


def skopeo(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(["skopeo", *args], check=True, capture_output=True, text=True, timeout=timeout)


def push_stand_in_base(address: str, repository: str = "runtime", tag: str = "1", username: str | None = None,
                       password: str | None = None) -> str:
    """A small runtime stand-in (two layers of local files, OCI), pushed through the project's own client.

    Lets the layer tests run without the real image build; returns the image reference.
    """
    from deployment.layers.image import EPOCH, OCI_MANIFEST, PART_TYPES, Image
    from deployment.layers.push import push
    from deployment.layers.registry import RegistryClient
    from deployment.layers.tar import layer_from_files, sha256_digest

    layers = [
        layer_from_files({"etc/os-release": b'PRETTY_NAME="stand-in runtime"\n', "usr/lib/stand-in/deps.txt": b"x" * 50_000}),
        layer_from_files({"app/module/__init__.py": b'"""stand-in agent code"""\n'}),
    ]
    config = {
        "architecture": "amd64", "os": "linux",
        "config": {"User": "10001:10001", "WorkingDir": "/app", "Cmd": ["python", "-m", "module"],
                   "ExposedPorts": {"8080/tcp": {}}, "Volumes": {"/app/data": {}}},
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [{"created": EPOCH, "created_by": f"stand-in layer {i}"} for i in range(len(layers))],
    }
    config_bytes = json.dumps(config, separators=(",", ":")).encode()
    config_type, layer_type = PART_TYPES[OCI_MANIFEST]
    manifest = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": config_type, "digest": sha256_digest(config_bytes), "size": len(config_bytes)},
        "layers": [{"mediaType": layer_type, "digest": layer.digest, "size": len(layer.blob)} for layer in layers],
    }
    image = Image(json.dumps(manifest, separators=(",", ":")).encode(), OCI_MANIFEST, config_bytes)
    blobs = {layer.digest: layer.blob for layer in layers} | {manifest["config"]["digest"]: config_bytes}
    push(RegistryClient(address, insecure=True, username=username, password=password), repository, tag, image, blobs, blobs.__getitem__, None)
    return f"{address}/{repository}:{tag}"
