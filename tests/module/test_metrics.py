"""GET /metrics of a running agent: the feature history's size is exported, so a flood of random partition
keys shows on a dashboard as drops against history.max_partitions, not as silent memory growth."""

from __future__ import annotations

import requests
from prometheus_client.parser import text_string_to_metric_families

from module.models import simulated_sensor
from tests.helpers.local_agent import in_process


def _samples(url: str) -> dict[str, float]:
    text = requests.get(url + "/metrics", timeout=10).text
    return {s.name: s.value for family in text_string_to_metric_families(text) for s in family.samples}


def test_feature_partitions_and_drops_are_exported(tmp_path):
    reading = simulated_sensor.run(1, seed=1)[0]
    with in_process(tmp_path, history={"max_partitions": 3}) as agent:
        before = _samples(agent.url)
        for n in range(5):
            r = requests.post(agent.url + "/score", json=reading, headers={"X-Partition": f"sensor-{n}"}, timeout=10)
            assert r.status_code == 200, r.text
        after = _samples(agent.url)
    assert before["agent_feature_partitions"] == 0
    assert after["agent_feature_partitions"] == 3
    assert after["agent_feature_partitions_dropped_total"] == 2
    assert after["agent_feature_out_of_order_total"] == 0


def test_bytes_sent_are_kept_per_output():
    from module.metrics import Metrics

    metrics = Metrics()
    metrics.output("scores").inc(10)
    metrics.output("scores").inc(5)
    metrics.output("anomalies").inc(7)
    sent = {s.labels["output"]: s.value for family in text_string_to_metric_families(metrics.render().decode())
            if family.name == "agent_bytes_sent" for s in family.samples}
    assert sent == {"scores": 15.0, "anomalies": 7.0}
    assert metrics.output("scores") is metrics.output("scores")  # looked up once, not per message
