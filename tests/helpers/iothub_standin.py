"""An IoT Hub REST stand-in on loopback (HTTPS, throwaway CA): twins, configurations and queries from memory,
every request recorded, SAS tokens checked, and errors (401/404/412/429/503) answered on command."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import ssl
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

from tests.helpers.iothub_query import QueryError, compile_where, lookup, parse_query
from tests.helpers.iothub_routes import route
from tests.helpers.net import free_port, loopback_address, wait_listening

KEY_NAME = "iothubowner"
KEY = base64.b64encode(b"stand-in shared access key 0123").decode()


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Failure:
    status: int
    method: str | None
    path_prefix: str | None
    times: int
    body: dict = field(default_factory=dict)


def make_ca_and_cert(directory: Path, host: str) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for `host` and localhost, made by openssl."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_pem = directory / "ca.key", directory / "ca.pem"
    key, csr, pem = directory / "server.key", directory / "server.csr", directory / "server.pem"
    ext = directory / "san.ext"
    ext.write_text(f"subjectAltName=IP:{host},DNS:localhost\nbasicConstraints=CA:FALSE\n")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=stand-in test CA",
        "-keyout", str(ca_key), "-out", str(ca_pem))
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(csr))
    run("x509", "-req", "-in", str(csr), "-CA", str(ca_pem), "-CAkey", str(ca_key), "-CAcreateserial",
        "-days", "2", "-extfile", str(ext), "-out", str(pem))
    return ca_pem, pem, key


def merge_patch(target: dict, patch: dict) -> bool:
    """Twin merge semantics (null deletes); True when anything changed."""
    changed = False
    for key, value in patch.items():
        if value is None:
            changed |= target.pop(key, None) is not None
        elif isinstance(value, dict):
            child = target.get(key)
            if not isinstance(child, dict):
                child, changed = {}, True
                target[key] = child
            changed |= merge_patch(child, value)
        elif target.get(key) != value:
            target[key], changed = value, True
    return changed


def _etag(version: int) -> str:
    return base64.b64encode(version.to_bytes(8, "big")).decode()


class HubState:
    """Device twins, module twins and configurations, with configurations applied as the hub would."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.devices: dict[str, dict] = {}
        self.modules: dict[tuple[str, str], dict] = {}
        self.configurations: dict[str, dict] = {}
        #: A device simulator: called with (device, module, desired) after a desired change; returns a
        #: reported patch (or None) that is merged into the module twin's reported properties.
        self.on_desired: Callable[[str, str, dict], dict | None] | None = None

    def add_device(self, device_id: str, tags: dict | None = None, modules: tuple[str, ...] = ()) -> None:
        with self.lock:
            self.devices[device_id] = {"deviceId": device_id, "etag": _etag(1), "version": 1,
                                       "tags": dict(tags or {}),
                                       "properties": {"desired": {"$version": 1}, "reported": {"$version": 1}}}
            for module_id in modules:
                self.modules[(device_id, module_id)] = {
                    "deviceId": device_id, "moduleId": module_id, "etag": _etag(1), "version": 1,
                    "properties": {"desired": {"$version": 1}, "reported": {"$version": 1}}}
            self.apply_configurations()

    def patch_twin(self, twin: dict, patch: dict) -> None:
        changed_desired = merge_patch(twin["properties"]["desired"], (patch.get("properties") or {}).get("desired") or {})
        changed_tags = merge_patch(twin.setdefault("tags", {}), patch.get("tags") or {})
        if changed_desired:
            twin["properties"]["desired"]["$version"] += 1
        if changed_desired or changed_tags:
            twin["version"] += 1
            twin["etag"] = _etag(twin["version"])
        if changed_desired and "moduleId" in twin:
            self.simulate_device(twin)
        if changed_tags and "moduleId" not in twin:
            self.apply_configurations()

    def set_reported(self, device_id: str, module_id: str, patch: dict) -> None:
        with self.lock:
            twin = self.modules[(device_id, module_id)]
            if merge_patch(twin["properties"]["reported"], patch):
                twin["properties"]["reported"]["$version"] += 1

    def simulate_device(self, twin: dict) -> None:
        if self.on_desired is None:
            return
        desired = {k: v for k, v in twin["properties"]["desired"].items() if not k.startswith("$")}
        reported = self.on_desired(twin["deviceId"], twin["moduleId"], copy.deepcopy(desired))
        if reported:
            self.set_reported(twin["deviceId"], twin["moduleId"], reported)

    def apply_configurations(self) -> None:
        """Each module twin gets the desired paths of every matching configuration; higher priority wins."""
        with self.lock:
            ordered = sorted(self.configurations.values(), key=lambda c: c.get("priority", 0))
            for config in ordered:
                matches = compile_where(config.get("targetCondition") or "false = true")
                content = ((config.get("content") or {}).get("modulesContent") or {})
                for (device_id, module_id), twin in self.modules.items():
                    if module_id not in content or not matches(self.devices[device_id]):
                        continue
                    patch: dict = {}
                    for key, value in content[module_id].items():
                        parts = key.split(".")
                        if parts[:2] != ["properties", "desired"] or len(parts) < 3:
                            continue
                        node = patch
                        for part in parts[2:-1]:
                            node = node.setdefault(part, {})
                        node[parts[-1]] = copy.deepcopy(value)
                    self.patch_twin(twin, {"properties": {"desired": patch}})

    def query(self, text: str) -> list[dict]:
        fields, collection, where = parse_query(text)
        with self.lock:
            if collection == "devices":
                docs = list(self.devices.values())
            else:
                docs = list(self.modules.values())
            found = [copy.deepcopy(doc) for doc in docs if where(doc)]
        if fields is None:
            return found
        return [{f.split(".")[-1]: lookup(doc, f) for f in fields} for doc in found]


class IoTHubStandIn:
    """Start with `with IoTHubStandIn(tmp_path) as hub:`; point the SDK at `hub.connection_string` and
    trust `hub.ca_file` (REQUESTS_CA_BUNDLE)."""

    def __init__(self, workdir: Path, host: str | None = None, port: int | None = None):
        self.host = host or loopback_address()
        self.port = port or free_port(self.host)
        self.ca_file, self._cert, self._key = make_ca_and_cert(Path(workdir) / "standin-tls", self.host)
        self.state = HubState()
        self.requests: list[Recorded] = []
        self.failures: list[Failure] = []
        #: Called with (method, path) before each request is answered: lets a test act as a device
        #: between polls.
        self.on_request: Callable[[str, str], None] | None = None
        self._server: ThreadingHTTPServer | None = None

    @property
    def hostname(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def connection_string(self) -> str:
        return f"HostName={self.hostname};SharedAccessKeyName={KEY_NAME};SharedAccessKey={KEY}"

    def fail(self, status: int, method: str | None = None, path: str | None = None, times: int = 1,
             message: str = "") -> None:
        """Answer the next `times` matching requests with `status` (a JSON error body like the hub's)."""
        body = {"Message": f"ErrorCode:StandIn{status};{message or 'injected by the test'}"}
        self.failures.append(Failure(status, method, path, times, body))

    def requests_to(self, method: str, path_prefix: str = "") -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    def start(self) -> "IoTHubStandIn":
        handler = type("Handler", (_Handler,), {"hub": self})
        self._server = ThreadingHTTPServer((self.host, self.port), handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self._cert, self._key)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        wait_listening(self.host, self.port)
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "IoTHubStandIn":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def take_failure(self, method: str, path: str) -> Failure | None:
        for failure in self.failures:
            if (failure.method in (None, method)) and (failure.path_prefix is None or path.startswith(failure.path_prefix)):
                failure.times -= 1
                if failure.times <= 0:
                    self.failures.remove(failure)
                return failure
        return None

    def authorized(self, header: str) -> bool:
        """Check the SAS token exactly as the SDK builds it: HMAC over quote_plus(HostName) + "\\n" + se."""
        if not header.startswith("SharedAccessSignature "):
            return False
        fields = dict(urllib.parse.parse_qsl(header.split(" ", 1)[1], keep_blank_values=True))
        sr = urllib.parse.quote_plus(self.hostname)
        if fields.get("skn") != KEY_NAME or urllib.parse.quote_plus(fields.get("sr", "")) != sr:
            return False
        if int(fields.get("se", "0")) < time.time():
            return False
        expected = hmac.new(base64.b64decode(KEY), f"{sr}\n{fields['se']}".encode(), hashlib.sha256).digest()
        return hmac.compare_digest(base64.b64encode(expected).decode(), fields.get("sig", ""))


class _Handler(BaseHTTPRequestHandler):
    hub: IoTHubStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # the recorded requests are the log
        pass

    def _handle(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        record = Recorded(self.command, url.path, dict(urllib.parse.parse_qsl(url.query)),
                          {k.lower(): v for k, v in self.headers.items()}, body)
        self.hub.requests.append(record)
        if self.hub.on_request:
            self.hub.on_request(self.command, url.path)
        failure = self.hub.take_failure(self.command, url.path)
        if failure:
            return self._send(failure.status, failure.body)
        if not self.hub.authorized(self.headers.get("Authorization", "")):
            return self._send(401, {"Message": "ErrorCode:IotHubUnauthorizedAccess;Unauthorized"})
        try:
            status, payload, headers = route(self.hub.state, record)
        except QueryError as exc:
            status, payload, headers = 400, {"Message": f"ErrorCode:BadRequest;{exc}"}, {}
        self._send(status, payload, headers)

    def _send(self, status: int, payload: Any, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_PATCH = do_POST = do_DELETE = _handle
