"""EdgeRuntime: owns the SDK client's life — connect, then handlers, then the twin; drain and close on stop.

The order is the SDK's: a handler set before connect() auto-connects and loses its first twin GET, so
the client connects first (retrying until edgeHub is up), then sets the handlers, then reads the twin.
The agent calls start(), then on SIGTERM stop_input() and, after the scoring core has finished its
batches, shutdown(); together they stay within edge.stop_timeout_s.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from azure.iot.device import MethodResponse
from prometheus_client import Gauge

from . import client as sdk
from .methods import MethodHandler
from .outbox import Outbox
from .output_batch import OutputBatcher
from .routes import Router
from .twin import DesiredApplier, ReportedPusher
from .upstream import UpstreamPolicy

log = logging.getLogger(__name__)

CONNECT_RETRY_FIRST_S = 0.5
CONNECT_RETRY_MAX_S = 10.0
#: Of the stop budget, at most this share waits for inputs to go quiet; the rest flushes outputs.
DRAIN_SHARE = 0.5
CLOSE_TIMEOUT_S = 1.5


class NotConnected(ConnectionError):
    """An output was ready before the first connection; the outbox keeps it and retries."""


class EdgeRuntime:
    def __init__(self, agent):
        self.agent = agent
        edge = agent.settings.edge
        self.settings = edge
        self.client = sdk.create_client(edge)
        self._send_output = sdk.output_sender(self.client)
        self.connected = threading.Event()
        self._stopping = threading.Event()
        self._deadline = float("inf")
        self.outbox = Outbox(self._send, edge.buffer_max, self._on_sent, agent.metrics.output_dropped.inc)
        self.upstream = UpstreamPolicy(agent.settings.upstream, self._send_summary)
        self.batcher = (OutputBatcher(self.outbox.put, edge.output_batch, edge.output_batch_ms)
                        if edge.output_batch > 1 else None)
        self.router = Router(agent, self.outbox, self.upstream, edge.input_name, self.batcher)
        self.methods = MethodHandler(agent, self.counters)
        self.desired = DesiredApplier(agent.handle_desired)
        self.reporter = ReportedPusher(self._patch_reported)
        agent.on_settings(lambda new: self.upstream.apply(new.upstream))
        agent.reported.subscribe(self.reporter.offer)
        Gauge("agent_outputs_buffered", "Outputs edgeHub has not acknowledged yet (buffered or in flight)",
              registry=agent.metrics.registry).set_function(lambda: len(self.outbox))
        self._twin_reader = threading.Lock()
        self._connector = threading.Thread(target=self._connect_loop, name="edge-connect", daemon=True)

    # -- start -------------------------------------------------------------------------------------

    def start(self) -> None:
        """Returns at once; the connection is made in the background (edgeHub may start after us)."""
        self.outbox.start()
        if self.batcher:
            self.batcher.start()
        self.reporter.start()
        self.upstream.start()
        self._connector.start()

    def _connect_loop(self) -> None:
        if not self._connect_and_attach():
            return
        self.connected.set()
        log.info("connected to edgeHub",
                 extra={"input": self.settings.input_name, "tcp_nodelay": sdk.nodelay_enabled(self.client)})
        self._read_twin()
        # What was reported before we were connected (restored model, refused settings) goes first.
        self.reporter.offer(self.agent.reported.snapshot())
        self.reporter.connected()

    def _retry(self, attempt: Callable[[], None], failing: str) -> bool:
        """Run `attempt` until it succeeds (True) or the agent stops (False), backing off exponentially.

        edgeHub may start after us or drop the link at any step; the module keeps serving HTTP meanwhile.
        """
        delay = CONNECT_RETRY_FIRST_S
        while not self._stopping.is_set():
            try:
                attempt()
                return True
            except Exception as exc:
                log.warning(failing, extra={"error": repr(exc)[:300]})
                if self._stopping.wait(delay):
                    return False
                delay = min(delay * 2, CONNECT_RETRY_MAX_S)
        return False

    def _connect_and_attach(self) -> bool:
        """Connect, then set the handlers; False when stopped first. A link that drops while the
        handlers subscribe is connected again before the next try."""
        return self._retry(self._connect_then_attach, "cannot connect to edgeHub yet; retrying")

    def _connect_then_attach(self) -> None:
        if not self.client.connected:
            self.client.connect()
        self._attach()

    def _attach(self) -> None:
        """Handlers after connect(), never before (see the module docstring); each one subscribes."""
        sdk.keep_tcp_nodelay(self.client)
        self.client.on_message_received = self.router.on_message
        self.client.on_method_request_received = self._on_method
        self.client.on_twin_desired_properties_patch_received = self.desired
        self.client.on_connection_state_change = self._on_connection_state

    def _read_twin(self) -> None:
        """The whole desired document, which replaces what the agent had (see Agent.handle_desired)."""
        twin: dict = {}

        def read() -> None:
            twin.update(sdk.call_with_timeout(self.client.get_twin, self.settings.twin_timeout_s))

        if self._retry(read, "twin not read; retrying"):
            self.desired(twin.get("desired") or {}, whole=True)

    def _on_connection_state(self) -> None:
        connected = self.client.connected
        log.info("edgeHub connection changed",
                 extra={"connected": connected, "tcp_nodelay": sdk.nodelay_enabled(self.client) if connected else None})
        if connected and self.connected.is_set():
            # The SDK re-reads the twin itself after a reconnect, but its GET has no timeout: one lost
            # in the reconnect would leave desired changes made while we were away unapplied forever.
            threading.Thread(target=self._reread_twin, name="edge-twin-reread", daemon=True).start()

    def _reread_twin(self) -> None:
        if not self._twin_reader.acquire(blocking=False):
            return  # one reader at a time; the running one retries until it has the twin
        try:
            self._read_twin()
        finally:
            self._twin_reader.release()

    # -- the SDK's calls ---------------------------------------------------------------------------

    def _send(self, message, output: str, done) -> None:
        if not self.connected.is_set():
            raise NotConnected("not connected to edgeHub yet")
        self._send_output(message, output, done)

    def _on_sent(self, output: str, size: int) -> None:
        self.agent.metrics.output(output).inc(size)

    def _send_summary(self, summary: dict) -> None:
        self.router.send_summary(summary)

    def _patch_reported(self, patch: dict) -> None:
        sdk.call_with_timeout(self.client.patch_twin_reported_properties, self.settings.twin_timeout_s, patch)

    def _on_method(self, request) -> None:
        """on_method_request_received: answers every request, never raises into the SDK."""
        try:
            status, payload = self.methods.handle(request.name, request.payload)
            log.info("direct method", extra={"method": request.name, "status": status})
            response = MethodResponse.create_from_method_request(request, status, payload)
            sdk.call_with_timeout(self.client.send_method_response, self.settings.twin_timeout_s, response)
        except Exception:
            log.exception("direct method response not sent", extra={"method": getattr(request, "name", None)})

    def counters(self) -> dict:
        registry = self.agent.metrics.registry

        def total(name: str) -> float:
            return sum(s.value for m in registry.collect() for s in m.samples if s.name == name)

        return {
            "messages_scored": total("agent_messages_scored_total"),
            "errors": total("agent_errors_total"),
            "bytes_received": total("agent_bytes_received_total"),
            "bytes_sent": total("agent_bytes_sent_total"),
            "outputs_sent": self.outbox.sent,
            "outputs_buffered": len(self.outbox),
            "outputs_dropped": self.outbox.dropped,
            "connected": self.connected.is_set() and bool(self.client.connected),
        }

    # -- stop --------------------------------------------------------------------------------------

    def stop_input(self) -> None:
        """Let inputs the SDK already acknowledged finish, then unsubscribe (edgeHub keeps the rest)."""
        self._stopping.set()
        started = time.monotonic()
        self._deadline = started + self.settings.stop_timeout_s
        drain_until = started + self.settings.stop_timeout_s * DRAIN_SHARE
        quiet = self.router.wait_idle(self.settings.drain_idle_s, drain_until)
        if self.connected.is_set():
            try:
                # Drains what the SDK still holds through our handler, then unsubscribes.
                sdk.call_with_timeout(self._detach_input, max(0.1, drain_until - time.monotonic()))
            except Exception as exc:
                log.warning("input not detached cleanly", extra={"error": repr(exc)[:300]})
        self.router.wait_done(drain_until)
        log.info("input stopped", extra={"quiet": quiet, "seconds": round(time.monotonic() - started, 3)})

    def _detach_input(self) -> None:
        self.client.on_message_received = None

    def shutdown(self) -> None:
        """Send the open summary, flush outputs and reported properties, then close the client."""
        self._stopping.set()
        if self._deadline == float("inf"):
            self._deadline = time.monotonic() + self.settings.stop_timeout_s
        self.upstream.stop()
        self.upstream.close()
        if self.batcher:
            self.batcher.stop()  # open batches go to the outbox before it flushes
        close_at = self._deadline - CLOSE_TIMEOUT_S
        flushed = self.outbox.flush(close_at - time.monotonic())
        self.reporter.flush(min(1.0, close_at - time.monotonic()))
        lost = self.outbox.stop()
        self.reporter.stop()
        log.info("outputs flushed" if flushed else "outputs not all flushed", extra={"lost": lost})
        try:
            sdk.call_with_timeout(self.client.shutdown, max(0.1, self._deadline - time.monotonic()))
        except Exception as exc:
            log.warning("SDK client did not close cleanly", extra={"error": repr(exc)[:300]})
