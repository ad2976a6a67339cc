"""An edgeHub stand-in on a real broker: speaks IoT Hub's MQTT topics to one module under test (paho 1.x).

It answers twin GETs, accepts reported patches (204) and merges them, pushes desired patches (with
"$version" in the payload, or the SDK drops them), publishes inputs with a property bag, collects the
module's outputs by output name, and invokes direct methods.

    with Mosquitto(tmp_path / "broker") as broker, EdgeHubStandin(broker, desired={...}) as hub:
        env = hub.module_environment()     # EdgeHubConnectionString + EdgeModuleCACertificateFile
        hub.send_input({"machine": ...}, correlation_id="c-1")
        [out] = hub.wait_outputs("scores", 1)
        hub.wait_reported(lambda r: r.get("model", {}).get("status") == "active")
        status, payload = hub.invoke_method("status", {})

Twin topics carry no module identity, so give each module under test a broker of its own.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import socket
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import paho.mqtt.client as mqtt

from .mosquitto import Mosquitto

DEFAULT_TIMEOUT_S = 30.0
HUB_HOST = "standin-hub.azure-devices.net"
#: Any base64 works: nothing on a test broker checks the SAS token the SDK derives from it.
TEST_KEY = base64.b64encode(b"edge-model-agent test key, not a secret").decode()

SYSTEM_PROPERTIES = {
    "$.mid": "message_id",
    "$.cid": "correlation_id",
    "$.ct": "content_type",
    "$.ce": "content_encoding",
    "$.on": "output_name",
    "$.uid": "user_id",
    "$.cdid": "connection_device_id",
    "$.cmid": "connection_module_id",
}


@dataclass(frozen=True)
class Output:
    """One message the module sent on an output."""

    name: str
    body: bytes
    system: dict[str, str]
    properties: dict[str, str]
    received_at: float

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    @property
    def correlation_id(self) -> str | None:
        return self.system.get("correlation_id")

    @property
    def message_id(self) -> str | None:
        return self.system.get("message_id")


@dataclass
class _Waiter:
    event: threading.Event = field(default_factory=threading.Event)
    status: int | None = None
    payload: Any = None


def merge(target: dict, patch: dict) -> None:
    """Twin merge: nested objects merge, null deletes."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def parse_bag(bag: str) -> tuple[dict[str, str], dict[str, str]]:
    """A topic's property bag -> (system properties by their SDK names, user properties)."""
    system: dict[str, str] = {}
    user: dict[str, str] = {}
    for pair in filter(None, bag.split("&")):
        key, _, value = pair.partition("=")
        key, value = urllib.parse.unquote(key), urllib.parse.unquote(value)
        if key in SYSTEM_PROPERTIES:
            system[SYSTEM_PROPERTIES[key]] = value
        else:
            user[key] = value
    return system, user


class EdgeHubStandin:
    def __init__(
        self,
        broker: Mosquitto,
        desired: dict | None = None,
        device_id: str = "edge-device-1",
        module_id: str = "edgemodelagent",
    ):
        self.broker = broker
        self.device_id = device_id
        self.module_id = module_id
        self.desired: dict = {**copy.deepcopy(desired or {}), "$version": 1}
        self.reported: dict = {"$version": 1}
        self.answer_twin_gets = True
        """Set False to let twin GETs go unanswered (the SDK then waits forever)."""
        self.reported_status = 204
        """The status reported patches get; >= 300 makes the SDK raise."""
        self.twin_gets = 0
        self.reported_patches: list[dict] = []
        self._outputs: dict[str, list[Output]] = {}
        self._cond = threading.Condition()
        self._methods: dict[str, _Waiter] = {}
        self._rids = itertools.count(1)
        self._connected = threading.Event()
        self._client = self._make_client()

    # -- lifecycle ---------------------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        # A persistent session, like edgeHub's own store: what the module publishes while the stand-in is
        # still reconnecting after a broker restart (its twin GET, say) is kept for it, not dropped.
        client = mqtt.Client(client_id=f"edgehub-standin-{uuid.uuid4().hex[:8]}", clean_session=False)
        client.tls_set(ca_certs=str(self.broker.ca_file))
        client.max_inflight_messages_set(0)  # no limit: bursts of inputs must not queue behind 20 PUBACKs
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(0.05, 0.5)  # catch up fast after a broker restart
        # Nagle's delay on the hub's own socket would inflate every latency a test or benchmark sees.
        client.on_socket_open = lambda c, u, sock: sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.on_connect = self._on_connect
        client.on_disconnect = lambda *_: self._connected.clear()
        client.on_message = self._on_message
        return client

    def start(self, timeout: float = DEFAULT_TIMEOUT_S) -> "EdgeHubStandin":
        self._client.connect_async(self.broker.host, self.broker.port, keepalive=30)
        self._client.loop_start()
        self.wait_connected(timeout)
        return self

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def wait_connected(self, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        if not self._connected.wait(timeout):
            raise TimeoutError(f"stand-in not connected to {self.broker.host}: {self.broker.log_tail()}")

    def __enter__(self) -> "EdgeHubStandin":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _on_connect(self, client, userdata, flags, rc) -> None:
        if rc != 0:
            return
        # Subscribed on every connect (a new broker store would not have them). `#` skips `$` topics.
        client.subscribe([("$iothub/#", 1), ("devices/#", 1)])
        self._connected.set()

    # -- what the module needs to connect ----------------------------------------------------------

    def connection_string(self) -> str:
        return (
            f"HostName={HUB_HOST};DeviceId={self.device_id};ModuleId={self.module_id};"
            f"SharedAccessKey={TEST_KEY};GatewayHostName={self.broker.host}"
        )

    def module_environment(self) -> dict[str, str]:
        """The variables IoT Edge gives a module, as create_from_edge_environment() reads them."""
        return {
            "EdgeHubConnectionString": self.connection_string(),
            "EdgeModuleCACertificateFile": str(self.broker.ca_file),
        }

    # -- twin --------------------------------------------------------------------------------------

    def set_desired(self, patch: dict, publish: bool = True) -> int:
        """Merge `patch` into the desired properties; push it unless `publish` is False (an offline change)."""
        with self._cond:
            merge(self.desired, patch)
            version = self.desired["$version"] = self.desired["$version"] + 1
        if publish:
            body = json.dumps({**patch, "$version": version})
            self._client.publish(f"$iothub/twin/PATCH/properties/desired/?$version={version}", body, qos=1)
        return version

    def reported_snapshot(self) -> dict:
        with self._cond:
            return copy.deepcopy(self.reported)

    def wait_reported(self, predicate: Callable[[dict], bool], timeout: float = DEFAULT_TIMEOUT_S) -> dict:
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self.reported), timeout):
                raise TimeoutError(f"reported state never matched; it is {json.dumps(self.reported)[:2000]}")
            return copy.deepcopy(self.reported)

    def _twin_get(self, rid: str) -> None:
        with self._cond:
            self.twin_gets += 1
            self._cond.notify_all()
            if not self.answer_twin_gets:
                return
            body = json.dumps({"desired": self.desired, "reported": self.reported})
        self._client.publish(f"$iothub/twin/res/200/?$rid={rid}", body, qos=1)

    def _reported_patch(self, rid: str, payload: bytes) -> None:
        status = self.reported_status
        with self._cond:
            if status < 300:
                patch = json.loads(payload)
                self.reported_patches.append(patch)
                merge(self.reported, patch)
                self.reported["$version"] += 1
            version = self.reported["$version"]
            self._cond.notify_all()
        self._client.publish(f"$iothub/twin/res/{status}/?$rid={rid}&$version={version}", b"", qos=1)

    # -- inputs and outputs ------------------------------------------------------------------------

    def send_input(
        self,
        body: Any,
        input_name: str = "telemetry",
        properties: dict[str, str] | None = None,
        message_id: str | None = None,
        correlation_id: str | None = None,
        source_module: str | None = "SimulatedTemperatureSensor",
        content_type: str | None = "application/json",
        content_encoding: str | None = "utf-8",
    ) -> mqtt.MQTTMessageInfo:
        """Publish one input as edgeHub routes it: user properties first, then the system ones."""
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        pairs = list((properties or {}).items())
        for key, value in (
            ("$.mid", message_id),
            ("$.cid", correlation_id),
            ("$.ct", content_type),
            ("$.ce", content_encoding),
            ("$.cdid", self.device_id if source_module else None),
            ("$.cmid", source_module),
        ):
            if value is not None:
                pairs.append((key, value))
        bag = urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote)
        topic = f"devices/{self.device_id}/modules/{self.module_id}/inputs/{input_name}/{bag}"
        return self._client.publish(topic, body, qos=1)

    def outputs(self, name: str) -> list[Output]:
        with self._cond:
            return list(self._outputs.get(name, ()))

    def output_names(self) -> list[str]:
        with self._cond:
            return sorted(self._outputs)

    def wait_outputs(self, name: str, count: int, timeout: float = DEFAULT_TIMEOUT_S) -> list[Output]:
        """At least `count` outputs on `name` (all of them are returned)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._outputs.get(name, ())) >= count, timeout):
                have = {k: len(v) for k, v in self._outputs.items()}
                raise TimeoutError(f"waited for {count} outputs on {name!r}; have {have}")
            return list(self._outputs[name])

    def wait_correlated(self, name: str, correlation_id: str, count: int = 1,
                        timeout: float = DEFAULT_TIMEOUT_S) -> list[Output]:
        """At least `count` outputs on `name` answering `correlation_id` (for tests sharing one module)."""
        def matching() -> list[Output]:
            return [o for o in self._outputs.get(name, ()) if o.correlation_id == correlation_id]

        with self._cond:
            if not self._cond.wait_for(lambda: len(matching()) >= count, timeout):
                raise TimeoutError(f"waited for {count} outputs on {name!r} for {correlation_id!r}")
            return matching()

    def correlated(self, name: str, correlation_id: str) -> list[Output]:
        with self._cond:
            return [o for o in self._outputs.get(name, ()) if o.correlation_id == correlation_id]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = DEFAULT_TIMEOUT_S) -> None:
        """Wait until `predicate()` holds; it is re-checked on every message the stand-in receives."""
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise TimeoutError("condition never held")

    def _output(self, bag: str, payload: bytes) -> None:
        system, user = parse_bag(bag)
        name = system.get("output_name", "")
        out = Output(name, payload, system, user, time.monotonic())
        with self._cond:
            self._outputs.setdefault(name, []).append(out)
            self._cond.notify_all()

    # -- direct methods ----------------------------------------------------------------------------

    def invoke_method(self, name: str, payload: Any = None, timeout: float = DEFAULT_TIMEOUT_S) -> tuple[int, Any]:
        """Call a direct method; (status, payload parsed as JSON when it is JSON)."""
        rid = str(next(self._rids))
        waiter = self._methods[rid] = _Waiter()
        body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        self._client.publish(f"$iothub/methods/POST/{urllib.parse.quote(name, safe='')}/?$rid={rid}", body, qos=1)
        if not waiter.event.wait(timeout):
            raise TimeoutError(f"direct method {name!r} got no answer in {timeout}s")
        return waiter.status, waiter.payload

    def _method_response(self, status: str, rid: str, payload: bytes) -> None:
        waiter = self._methods.pop(rid, None)
        if waiter is None:
            return
        try:
            waiter.payload = json.loads(payload) if payload else None
        except ValueError:
            waiter.payload = payload
        waiter.status = int(status)
        waiter.event.set()

    # -- dispatch ----------------------------------------------------------------------------------

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        topic = msg.topic
        path, _, query = topic.partition("/?")
        params = dict(urllib.parse.parse_qsl(query))
        parts = topic.split("/")
        if path == "$iothub/twin/GET":
            self._twin_get(params["$rid"])
        elif path == "$iothub/twin/PATCH/properties/reported":
            self._reported_patch(params["$rid"], msg.payload)
        elif topic.startswith("$iothub/methods/res/"):
            self._method_response(parts[3], params.get("$rid", ""), msg.payload)
        elif len(parts) >= 6 and parts[0] == "devices" and parts[4:6] == ["messages", "events"]:
            self._output(parts[6] if len(parts) > 6 else "", msg.payload)
        # Everything else is the stand-in's own publishes coming back (inputs, twin replies, methods).
