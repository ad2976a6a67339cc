"""The HTTP API against the real waitress server on a loopback address: routes, 4xx, 413, readiness."""

from __future__ import annotations

import json
import socket
import threading
from contextlib import contextmanager

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sklearn.ensemble import IsolationForest

from module.api.access import AdminAccess
from module.api.app import Core, create_app
from module.api.server import HttpServer
from module.metrics import Metrics
from module.models import nab
from module.scoring.prepare import prepare
from module.scoring.service import ScoringService
from module.scoring.slot import ModelSlot
from module.settings import ScoringSection
from tests.helpers.net import loopback_address

MAX_BODY = 4096
TOKEN = "t0ken-for-the-http-tests"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
MSG = {"machine": {"temperature": 88.1, "pressure": 9.1}, "ambient": {"temperature": 20.9, "humidity": 25}}


@pytest.fixture(scope="module")
def rows():
    _, values = nab.load_series()
    return nab.to_features(values[:2000])


@pytest.fixture(scope="module")
def forest(rows):
    return IsolationForest(n_estimators=20, random_state=3).fit(rows)


def model_of(estimator, version="7"):
    manifest = {"version": version, "sha256": "ab" * 32, "format": "pickle"}
    return prepare(estimator, manifest, source="test", n_features=4, compiled=False)


class Agent:
    """The pieces the routes need, built the way agent.py builds them, behind a real server."""

    def __init__(self, max_body: int = MAX_BODY):
        self.slot = ModelSlot()
        self.metrics = Metrics()
        self.service = ScoringService(self.slot, ScoringSection(), self.metrics)
        core = Core(self.service, self.slot, self.metrics, access=AdminAccess(TOKEN))
        app = create_app(core, max_body)
        self.server = HttpServer(app, loopback_address(), 0, threads=4, max_body_bytes=max_body)
        self.server.start()
        self.url = f"http://{self.server.host}:{self.server.port}"

    def stop(self):
        self.server.stop()
        self.service.stop()


@contextmanager
def running(estimator=None, **kw):
    agent = Agent(**kw)
    try:
        if estimator is not None:
            agent.slot.swap(model_of(estimator))
        yield agent
    finally:
        agent.stop()


@pytest.fixture
def agent(forest):
    with running(forest) as agent:
        yield agent


def post(agent, body, **kw):
    data = body if isinstance(body, (bytes, str)) or hasattr(body, "__next__") else json.dumps(body)
    return requests.post(agent.url + "/score", data=data, timeout=10, **kw)


def assert_json_error(response, status, *words):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    for word in words:
        assert word in json.dumps(body)
    return body


def test_score_one_message(agent, forest):
    response = post(agent, MSG)
    assert response.status_code == 200
    result = response.json()
    expected = float(forest.score_samples([[88.1, 9.1, 20.9, 25.0]])[0])
    assert result == {
        "score": expected,
        "anomaly": expected < forest.offset_,
        "threshold": float(forest.offset_),
        "model_version": "7",
    }


def test_score_a_list_keeps_order_ids_and_scores_the_good_ones(agent):
    body = [{**MSG, "id": 1}, {"machine": {"temperature": "hot"}, "id": 2}, 3, {**MSG, "id": "four"}]
    response = post(agent, body)
    assert response.status_code == 200
    out = response.json()
    assert [r.get("id") for r in out] == [1, 2, None, "four"]
    assert out[0]["score"] == out[3]["score"] and out[0]["model_version"] == "7"
    assert out[1]["field"] == "machine.temperature" and out[1]["error_type"] == "FieldError"
    assert "JSON object" in out[2]["error"]


def test_model_healthz_readyz(agent, forest):
    model = requests.get(agent.url + "/model", headers=ADMIN, timeout=10).json()
    assert model["version"] == "7" and model["sha256"] == "ab" * 32 and model["format"] == "pickle"
    assert model["loaded_at"].endswith("Z") and model["runtime"]["scikit-learn"] == "1.2.1"
    assert "update" in model and "history" in model
    # Without the token: what a client needs, not hashes, update errors or the runtime.
    public = requests.get(agent.url + "/model", timeout=10).json()
    assert public == {"version": "7", "scorer": model["scorer"], "n_features": 4,
                      "threshold": float(forest.offset_), "default_threshold": float(forest.offset_),
                      "features": {"source": "scoring.features", "paths": list(ScoringSection().features)}}
    wrong = requests.get(agent.url + "/model", headers={"Authorization": "Bearer nope"}, timeout=10).json()
    assert "sha256" not in wrong
    assert requests.get(agent.url + "/healthz", timeout=10).json() == {"status": "ok"}
    ready = requests.get(agent.url + "/readyz", timeout=10)
    assert ready.status_code == 200 and ready.json()["model_version"] == "7"


def test_readiness_before_and_after_a_model_is_loaded(forest):
    with running(None) as agent:
        assert requests.get(agent.url + "/healthz", timeout=10).status_code == 200
        assert_json_error(requests.get(agent.url + "/readyz", timeout=10), 503, "no model")
        assert_json_error(requests.get(agent.url + "/model", timeout=10), 503, "no model")
        assert "update" not in requests.get(agent.url + "/model", timeout=10).json()
        assert_json_error(post(agent, MSG), 503, "NoModel")
        assert_json_error(post(agent, [MSG, MSG]), 503, "NoModel")
        agent.slot.swap(model_of(forest))
        assert requests.get(agent.url + "/readyz", timeout=10).status_code == 200
        assert post(agent, MSG).status_code == 200


@pytest.mark.parametrize(
    "body, words",
    [
        (b"{not json", ["not valid JSON"]),
        (b"", ["not valid JSON"]),
        (b"[]", ["empty list"]),
        (b"\xff\xfe\xfd", ["not valid JSON"]),
        (b"[" * 3000, ["not valid JSON"]),
        (b"42", ["JSON object"]),
    ],
)
def test_unreadable_bodies_get_400_json(agent, body, words):
    assert_json_error(post(agent, body), 400, *words)


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("pressure", None, ["machine.pressure", "not a number"]),
        ("pressure", "1.0", ["machine.pressure", "not a number"]),
        ("pressure", True, ["machine.pressure", "not a number"]),
        ("temperature", float("nan"), ["machine.temperature", "NaN"]),
        ("temperature", float("inf"), ["machine.temperature", "infinite"]),
    ],
)
def test_one_message_with_a_bad_field_gets_400_naming_it(agent, field, value, words):
    msg = json.loads(json.dumps(MSG))
    msg["machine"][field] = value
    body = assert_json_error(post(agent, json.dumps(msg)), 400, *words)
    assert body["field"] == words[0]


def test_missing_field_400(agent):
    body = assert_json_error(post(agent, {"machine": {"temperature": 1.0}}), 400, "machine.pressure", "missing")
    assert body["field"] == "machine.pressure"


def test_wrong_method_and_unknown_route(agent):
    wrong = requests.get(agent.url + "/score", timeout=10)
    assert_json_error(wrong, 405, "not allowed")
    assert "POST" in wrong.headers["Allow"]
    assert_json_error(requests.post(agent.url + "/metrics", timeout=10), 405)
    assert_json_error(requests.get(agent.url + "/nope", timeout=10), 404, "not found")


def raw_exchange(agent, head: bytes, body: bytes) -> tuple[int, dict, bytes]:
    """Send a request by hand (headers that promise more than is sent) and read the answer."""
    with socket.create_connection((agent.server.host, agent.server.port), timeout=10) as sock:
        sock.sendall(head + body)
        data = b""
        while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < _length(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head_text, _, payload = data.partition(b"\r\n\r\n")
    lines = head_text.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, payload


def _length(data: bytes) -> int:
    for line in data.partition(b"\r\n\r\n")[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 1 << 30


def test_oversized_body_413_from_headers_without_reading_it(agent):
    # 1 GB promised, 20 bytes sent: the answer must come back without the server waiting for the rest.
    head = b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n"
    status, headers, payload = raw_exchange(agent, head, b'[{"machine": {"tem')
    assert status == 413
    assert headers["Content-Type"] == "application/json"
    assert str(MAX_BODY) in json.loads(payload)["error"]


def test_body_just_over_the_limit_413_at_the_limit_200(agent):
    msg = json.dumps(MSG)
    at_limit = msg + " " * (MAX_BODY - len(msg))
    assert post(agent, at_limit).status_code == 200
    assert_json_error(post(agent, at_limit + " "), 413, str(MAX_BODY))


def test_chunked_oversized_body_413(agent):
    def chunks():
        for _ in range(10):
            yield b" " * 1000

    assert_json_error(post(agent, chunks()), 413, str(MAX_BODY))  # requests sends a generator chunked


def test_model_that_raises_500_then_next_request_fine(forest):
    class Exploding(IsolationForest):
        def score_samples(self, X):
            if (X[:, 0] == 666).any():
                raise RuntimeError("boom")
            return super().score_samples(X)

    exploding = Exploding(n_estimators=5, random_state=0).fit(nab.to_features(nab.load_series()[1][:500]))
    with running(exploding) as agent:
        bad = json.loads(json.dumps(MSG))
        bad["machine"]["temperature"] = 666
        assert_json_error(post(agent, bad), 500, "ScoringFailed", "boom")
        assert post(agent, MSG).status_code == 200


def test_metrics_parse_and_count_requests(agent):
    for _ in range(3):
        post(agent, MSG)
    post(agent, [MSG, MSG, {"machine": {}}])
    post(agent, b"{oops")
    text = requests.get(agent.url + "/metrics", timeout=10)
    assert text.status_code == 200 and text.headers["Content-Type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.text)
        for s in family.samples
    }
    assert samples[("agent_requests_total", (("transport", "http"),))] == 5
    assert samples[("agent_messages_scored_total", ())] == 5
    assert samples[("agent_errors_total", (("kind", "FieldError"),))] == 1
    assert samples[("agent_errors_total", (("kind", "BadInput"),))] == 1
    assert samples[("agent_request_seconds_count", (("transport", "http"),))] == 4
    assert samples[("agent_batch_rows_sum", ())] == 5
    assert samples[("agent_bytes_received_total", (("transport", "http"),))] > 0


def test_stop_answers_the_request_in_flight_and_refuses_new_connections(forest):
    entered, release = threading.Event(), threading.Event()

    class Slow(IsolationForest):
        def score_samples(self, X):
            entered.set()
            assert release.wait(30)
            return super().score_samples(X)

    slow = Slow(n_estimators=5, random_state=0).fit(nab.to_features(nab.load_series()[1][:500]))
    with running(slow) as agent:
        answer = {}
        in_flight = threading.Thread(target=lambda: answer.update(r=post(agent, MSG)))
        in_flight.start()
        assert entered.wait(30)
        stopper = threading.Thread(target=agent.server.stop, kwargs={"timeout": 30})
        stopper.start()
        refused = False
        for _ in range(600):  # the listening socket closes first
            try:
                socket.create_connection((agent.server.host, agent.server.port), timeout=1).close()
            except (ConnectionRefusedError, ConnectionResetError):
                # reset: our SYN sat in the backlog of the listener as it closed, which is a refusal too
                refused = True
                break
            threading.Event().wait(0.05)
        release.set()
        in_flight.join(30)
        stopper.join(30)
        assert refused and not stopper.is_alive()
        assert answer["r"].status_code == 200 and answer["r"].json()["model_version"] == "7"


def test_a_row_the_model_refuses_fails_alone_in_its_list(agent, forest):
    """1e39 is a finite JSON number but past float32's range, where the trees compare: scikit-learn
    refuses it. Its neighbours in the list are still scored, each as it would be alone."""
    huge = json.loads(json.dumps(MSG))
    huge["machine"]["pressure"] = 1e39
    body = [{**MSG, "id": i} for i in range(5)]
    body[3] = {**huge, "id": 3}
    out = post(agent, body).json()
    assert [r["id"] for r in out] == [0, 1, 2, 3, 4]
    assert out[3]["error_type"] == "ScoringFailed" and "float32" in out[3]["error"]
    alone = post(agent, MSG).json()["score"]
    assert [r["score"] for i, r in enumerate(out) if i != 3] == [alone] * 4


def test_a_neighbours_refused_row_does_not_fail_a_request_batched_with_it(forest):
    """Concurrent requests share a micro-batch: the one the model refuses fails, the others are scored."""
    huge = json.loads(json.dumps(MSG))
    huge["machine"]["pressure"] = 1e39
    with running(forest) as agent:
        agent.service.batcher.inline_max_rows = 0  # every request through the batcher's thread
        agent.service.batcher.max_wait_s = 0.2  # long enough for the requests to meet in one batch
        answers = {}

        def send(name, body):
            answers[name] = post(agent, body)

        threads = [threading.Thread(target=send, args=(i, huge if i == 2 else MSG)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert answers[2].status_code == 500 and "float32" in answers[2].text
        assert [answers[i].status_code for i in (0, 1, 3)] == [200, 200, 200]
