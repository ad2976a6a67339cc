"""The SDK's module client: created from the IoT Edge environment (or a connection string), with
TCP_NODELAY on its socket, outputs sent without blocking on their acknowledgement, and SDK calls that
may wait forever run under a timeout."""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any, Callable, TypeVar

from azure.iot.device import IoTHubModuleClient

from ..settings import EdgeSection

log = logging.getLogger(__name__)

T = TypeVar("T")
CA_FILE_VARIABLE = "EdgeModuleCACertificateFile"


def create_client(settings: EdgeSection) -> IoTHubModuleClient:
    """On a device: the IoT Edge environment (workload API, or EdgeHubConnectionString in development).

    `edge.connection_string` is for development against a hub or a local broker; a gateway's CA is then
    read from EdgeModuleCACertificateFile when set.
    """
    options: dict[str, Any] = {
        "connection_retry_interval": settings.retry_interval_s,
        "keep_alive": settings.keep_alive_s,
    }
    if settings.connection_string:
        ca_file = os.environ.get(CA_FILE_VARIABLE)
        if ca_file:
            with open(ca_file, encoding="utf-8") as f:
                options["server_verification_cert"] = f.read()
        return IoTHubModuleClient.create_from_connection_string(settings.connection_string, **options)
    return IoTHubModuleClient.create_from_edge_environment(**options)


def paho_client(client: IoTHubModuleClient):
    """The paho client inside the SDK's pipeline (the MQTT transport stage holds it), or None.

    The SDK offers no socket options; its transport keeps one paho client for its whole life and paho
    opens a new socket on every reconnect, so a hook on paho's socket-open event covers them all.
    """
    stage = getattr(getattr(client, "_mqtt_pipeline", None), "_pipeline", None)
    while stage is not None:
        transport = getattr(stage, "transport", None)
        if transport is not None and hasattr(transport, "_mqtt_client"):
            return transport._mqtt_client
        stage = getattr(stage, "next", None)
    return None


def output_sender(client: IoTHubModuleClient) -> Callable[[Any, str, Callable[..., None]], None]:
    """send(message, output, done): hands an output to the SDK's pipeline and returns at once;
    done(error=None) runs on the SDK's callback thread when edgeHub has acknowledged it or it failed.

    The public send_message_to_output makes this same pipeline call and then blocks its caller on a
    threading.Event until the PUBACK, set from the SDK's callback thread: per output, one wait and one
    wake-up of the handler thread, measured as the largest per-message cost on the edgeHub path
    (docs/benchmarks.md). The pipeline call is private API of azure-iot-device 2.14.0 (pinned in
    requirements/runtime.txt); without it we fall back to the public, blocking call. Its 256 KB check is not
    repeated here: the router (messages.fits) and the output batcher check sizes before they send.
    """
    pipeline_send = getattr(getattr(client, "_mqtt_pipeline", None), "send_output_message", None)
    if pipeline_send is None:
        log.warning("SDK internals changed: each output waits for its acknowledgement (slower)")

        def send_blocking(message, output: str, done: Callable[..., None]) -> None:
            client.send_message_to_output(message, output)
            done()

        return send_blocking

    def send(message, output: str, done: Callable[..., None]) -> None:
        message.output_name = output
        pipeline_send(message, callback=done)

    return send


def _set_nodelay(sock) -> None:
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError) as exc:  # websockets or a proxy: not a TCP socket of ours
        log.debug("TCP_NODELAY not set", extra={"error": repr(exc)})


def keep_tcp_nodelay(client: IoTHubModuleClient) -> bool:
    """Without it each publish after a receive waits ~44 ms for a delayed ACK (Nagle): the largest
    latency term on the message path. Set on the current socket and on every one paho opens later."""
    paho = paho_client(client)
    if paho is None:
        log.warning("SDK internals changed: TCP_NODELAY not set, replies may wait ~44 ms each")
        return False
    previous = paho.on_socket_open
    if not getattr(previous, "sets_nodelay", False):

        def on_socket_open(mqtt_client, userdata, sock):
            _set_nodelay(sock)
            if previous:
                previous(mqtt_client, userdata, sock)

        on_socket_open.sets_nodelay = True  # type: ignore[attr-defined]
        paho.on_socket_open = on_socket_open
    current = paho.socket()
    if current is not None:
        _set_nodelay(current)
    return True


def nodelay_enabled(client: IoTHubModuleClient) -> bool | None:
    """Whether the SDK's current socket has TCP_NODELAY (None when there is no socket)."""
    paho = paho_client(client)
    sock = paho.socket() if paho else None
    if sock is None:
        return None
    return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


def call_with_timeout(fn: Callable[..., T], timeout: float, *args: Any) -> T:
    """Run an SDK call that may never return (twin calls wait forever for an answer) on a helper
    thread; TimeoutError after `timeout`. A timed-out call is abandoned, its thread is a daemon."""
    done = threading.Event()
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name=f"sdk-{getattr(fn, '__name__', 'call')}", daemon=True).start()
    if not done.wait(timeout):
        raise TimeoutError(f"{getattr(fn, '__name__', 'SDK call')} got no answer in {timeout:.1f}s")
    if "error" in box:
        raise box["error"]
    return box["value"]
