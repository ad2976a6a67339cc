"""Prometheus metrics, one registry per agent (edgeHub and edgeAgent expose the same format on :9600)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

from prometheus_client import CollectorRegistry, disable_created_metrics, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384)

CONTENT_TYPE = CONTENT_TYPE_LATEST

# The *_created series double the output for nothing a scraper on a device needs.
disable_created_metrics()


@dataclass(frozen=True)
class TransportMetrics:
    """One transport's labelled series, looked up once: `labels()` costs a lock and a dict per call."""

    requests: Any
    latency: Any
    bytes_received: Any


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter("agent_requests", "Score requests received", ["transport"], registry=r)
        self.messages = Counter("agent_messages_scored", "Messages scored", registry=r)
        self.errors = Counter("agent_errors", "Messages or requests refused", ["kind"], registry=r)
        self.batch_rows = Histogram("agent_batch_rows", "Rows per model call", buckets=BATCH_BUCKETS, registry=r)
        self.batch_requests = Histogram(
            "agent_batch_requests", "Requests per model call", buckets=BATCH_BUCKETS, registry=r
        )
        self.batch_seconds = Histogram(
            "agent_batch_seconds", "Seconds per model call", buckets=LATENCY_BUCKETS, registry=r
        )
        self.latency = Histogram(
            "agent_request_seconds", "Request latency", ["transport"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.model = Gauge(
            "agent_model_info", "The active model (value 1)", ["version", "sha256", "scorer"], registry=r
        )
        self.updates = Counter("agent_model_updates", "Model update attempts by result", ["result"], registry=r)
        self.bytes_received = Counter("agent_bytes_received", "Telemetry bytes received", ["transport"], registry=r)
        self.bytes_sent = Counter("agent_bytes_sent", "Bytes sent on outputs", ["output"], registry=r)
        self.output_dropped = Counter("agent_outputs_dropped", "Outputs dropped from a full buffer", registry=r)
        self._transports: dict[str, TransportMetrics] = {}
        self._outputs: dict[str, Any] = {}

    def transport(self, name: str) -> TransportMetrics:
        found = self._transports.get(name)
        if found is None:  # a few transports (http, edge, oip, method): a race only builds one twice
            found = self._transports[name] = TransportMetrics(
                self.requests.labels(name), self.latency.labels(name), self.bytes_received.labels(name))
        return found

    def output(self, name: str) -> Any:
        """The bytes_sent child of one output, looked up once (an output is sent per input)."""
        found = self._outputs.get(name)
        if found is None:  # four outputs: a race only looks one up twice
            found = self._outputs[name] = self.bytes_sent.labels(name)
        return found

    def observe_batch(self, requests: int, rows: int, seconds: float) -> None:
        self.batch_requests.observe(requests)
        self.batch_rows.observe(rows)
        self.batch_seconds.observe(seconds)

    def set_model(self, version: str, sha256: str, scorer: str) -> None:
        self.model.clear()
        self.model.labels(version=version, sha256=sha256, scorer=scorer).set(1)

    def watch_features(self, describe: Callable[[], dict]) -> None:
        """Export the feature history's size, read at scrape time so the scoring path pays nothing."""
        self.registry.register(_FeatureCollector(describe))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _FeatureCollector(Collector):
    def __init__(self, read_state: Callable[[], dict]) -> None:
        self.read_state = read_state  # not `describe`: the registry calls that name for metric names

    def collect(self) -> Iterator:
        state = self.read_state()
        yield GaugeMetricFamily("agent_feature_partitions", "Partitions (senders) whose history is held",
                                value=state["partitions"])
        yield CounterMetricFamily("agent_feature_partitions_dropped",
                                  "Partitions dropped for history.max_partitions or history.idle_ttl_s",
                                  value=state["dropped"])
        yield CounterMetricFamily("agent_feature_out_of_order", "Messages older than their partition's latest",
                                  value=state["out_of_order"])
