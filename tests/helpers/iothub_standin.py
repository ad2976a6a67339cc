"""An IoT Hub REST stand-in on loopback (HTTPS, throwaway CA): twins, configurations, queries and
scheduleUpdateTwin jobs from memory, every request recorded (with its bytes), SAS tokens checked, errors
(401/404/412/429/503) answered on command, and a per-operation throttle answering 429 + Retry-After."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import ssl
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

from tests.helpers.iothub_query import QueryError
from tests.helpers.iothub_routes import route
from tests.helpers.iothub_state import HubState
from tests.helpers.iothub_throttle import Throttle
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
    at: float = 0.0  # time.monotonic() when it arrived
    status: int = 0  # what the stand-in answered
    response_bytes: int = 0  # status line, headers and body of the answer
    response_headers: dict = field(default_factory=dict)

    @property
    def request_bytes(self) -> int:
        """Request line, headers and body, as they went over the wire (before TLS)."""
        head = sum(len(k) + len(v) + 4 for k, v in self.headers.items())
        return len(self.method) + len(self.path) + 40 + head + 2 + len(self.body)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Failure:
    status: int
    method: str | None
    path_prefix: str | None
    times: int
    body: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)


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
        self.lost_answers: list[Failure] = []
        #: Per-operation-class rate limits: `hub.throttle.limit("twin-updates", rate=50, burst=10)`.
        self.throttle = Throttle()
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
             message: str = "", retry_after: str | None = None) -> None:
        """Answer the next `times` matching requests with `status` (a JSON error body like the hub's)."""
        body = {"Message": f"ErrorCode:StandIn{status};{message or 'injected by the test'}"}
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.failures.append(Failure(status, method, path, times, body, headers))

    def lose_answer(self, method: str, path: str, times: int = 1) -> None:
        """Do the next `times` matching requests, then close the connection without answering: the
        hub acted, but the answer was lost on the way back (the client sees RemoteDisconnected)."""
        self.lost_answers.append(Failure(0, method, path, times))

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
        self.state.jobs.stop()

    def __enter__(self) -> "IoTHubStandIn":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def take_failure(self, method: str, path: str, failures: list[Failure] | None = None) -> Failure | None:
        failures = self.failures if failures is None else failures
        for failure in failures:
            if (failure.method in (None, method)) and (failure.path_prefix is None or path.startswith(failure.path_prefix)):
                failure.times -= 1
                if failure.times <= 0:
                    failures.remove(failure)
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
    # Headers and body leave in two writes: with Nagle's algorithm against the client's delayed ACK each
    # answer would stall about 40 ms (a 100,000-call fleet would measure the stall, not the tool).
    disable_nagle_algorithm = True

    def log_message(self, *args: Any) -> None:  # the recorded requests are the log
        pass

    def _handle(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        record = Recorded(self.command, url.path, dict(urllib.parse.parse_qsl(url.query)),
                          {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
        self.hub.requests.append(record)
        if self.hub.on_request:
            self.hub.on_request(self.command, url.path)
        failure = self.hub.take_failure(self.command, url.path)
        if failure:
            return self._send(record, failure.status, failure.body, failure.headers)
        if not self.hub.authorized(self.headers.get("Authorization", "")):
            return self._send(record, 401, {"Message": "ErrorCode:IotHubUnauthorizedAccess;Unauthorized"})
        wait = self.hub.throttle.check(self.command, url.path)
        if wait is not None:
            return self._send(record, 429, {"Message": "ErrorCode:ThrottlingException;IoT Hub throttling"},
                              {"Retry-After": Throttle.retry_after(wait)})
        try:
            status, payload, headers = route(self.hub.state, record)
        except QueryError as exc:
            status, payload, headers = 400, {"Message": f"ErrorCode:BadRequest;{exc}"}, {}
        if self.hub.take_failure(self.command, url.path, self.hub.lost_answers):
            record.status = -1
            self.close_connection = True
            return
        self._send(record, status, payload, headers)

    def _send(self, record: Recorded, status: int, payload: Any, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        all_headers = {"Content-Type": "application/json; charset=utf-8", "Content-Length": str(len(data)),
                       **(headers or {})}
        self.send_response(status)
        for key, value in all_headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
        record.status, record.response_headers = status, all_headers
        record.response_bytes = 17 + sum(len(k) + len(str(v)) + 4 for k, v in all_headers.items()) + 2 + len(data)

    do_GET = do_PUT = do_PATCH = do_POST = do_DELETE = _handle


def _demo_simulator(fail: set[str]) -> Callable[[str, str, dict], dict | None]:
    """Devices that apply any desired model at once (and report it), except those in `fail`."""
    def on_desired(device: str, module: str, desired: dict) -> dict | None:
        model = desired.get("model")
        if not isinstance(model, dict) or "version" not in model:
            return None
        if device in fail:
            return {"model": {"status": "failed", "error": "simulated: canary outside tolerance"}}
        return {"model": {"version": model["version"], "status": "active", "sha256": model.get("sha256"),
                          "bytes_fetched": model.get("size"), "error": None}}
    return on_desired


def _real_device(hub: IoTHubStandIn, device: str, module: str, spec: str,
                 simulated: Callable[[str, str, dict], dict | None]) -> Callable[[str, str, dict], dict | None]:
    """`--agent DEVICE=DESIRED_FILE,URL`: that device's module twin is a real agent run with
    `--local --desired DESIRED_FILE`. Each desired change is written to the file (what the IoT Edge
    runtime would deliver), and the agent's own `update` section from URL/model is copied into the twin's
    reported `model` every half second (what the agent would report), so `publish --wait` and `status`
    show the real device. Every other device stays simulated."""
    import urllib.request

    desired_file, _, url = spec.partition(",")
    target = Path(desired_file)

    def on_desired(device_id: str, module_id: str, desired: dict) -> dict | None:
        if (device_id, module_id) != (device, module):
            return simulated(device_id, module_id, desired)
        temporary = target.with_name(target.name + ".tmp")
        temporary.write_text(json.dumps(desired))
        temporary.replace(target)  # the agent never reads half a file
        return None

    def mirror() -> None:
        while True:
            time.sleep(0.5)
            try:
                # The agent's full view (its `update` state) needs its admin token, as an operator's would.
                token = os.environ.get("AGENT_HTTP_ADMIN_TOKEN", "")
                asked = urllib.request.Request(url.rstrip("/") + "/model", headers={"Authorization": f"Bearer {token}"})
                with urllib.request.urlopen(asked, timeout=5) as answer:
                    model = json.load(answer)
            except (OSError, ValueError):
                continue  # not up yet, or restarting
            update = dict(model.get("update") or {})
            update.setdefault("version", model.get("version"))
            hub.state.set_reported(device, module, {"model": update})

    threading.Thread(target=mirror, daemon=True).start()
    return on_desired


def main(argv: list[str] | None = None) -> None:
    """`python -m tests.helpers.iothub_standin`: a local hub for trying the operator commands by hand."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--devices", type=int, default=20, help="devices tagged fleet=trucks (truck-00, ...)")
    parser.add_argument("--module", default="edgemodelagent")
    parser.add_argument("--fail", action="append", default=[], help="a device whose updates fail (repeatable)")
    parser.add_argument("--dir", default=None, help="where the throwaway CA goes (default: a temp dir)")
    parser.add_argument("--agent", metavar="DEVICE=DESIRED_FILE,URL",
                        help="a device that is a real agent (python -m module --local --desired DESIRED_FILE "
                             "serving URL): its desired changes go to the file, its /model comes back as reported")
    args = parser.parse_args(argv)
    hub = IoTHubStandIn(Path(args.dir or tempfile.mkdtemp(prefix="iothub-standin-")), args.host, args.port)
    for n in range(args.devices):
        hub.state.add_device(f"truck-{n:02}", {"fleet": "trucks"}, (args.module,))
    hub.state.on_desired = _demo_simulator(set(args.fail))
    if args.agent:
        device, _, spec = args.agent.partition("=")
        hub.state.on_desired = _real_device(hub, device, args.module, spec, hub.state.on_desired)
    hub.start()
    print(f"export IOTHUB_CONNECTION_STRING='{hub.connection_string}'")
    print(f"export REQUESTS_CA_BUNDLE='{hub.ca_file}'")
    print(f"# {args.devices} devices truck-00.. with module {args.module}; Ctrl-C stops", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        hub.stop()


if __name__ == "__main__":
    main()
