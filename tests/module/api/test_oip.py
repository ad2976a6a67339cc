"""Open Inference Protocol v2 against the real waitress server: every route, the protocol's published
examples, bad tensors, and tritonclient's HTTP client; infer scores equal /score's for the same rows."""

from __future__ import annotations

import json

import numpy as np
import pytest
import requests
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from module.agent import Agent
from module.models import nab
from module.settings import load
from tests.helpers.net import loopback_address

NAME = "edgemodelagent"
WIDTH = 4


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One agent on the embedded default model, HTTP on a loopback address of its own."""
    host = loopback_address()
    settings = load(
        environ={},
        overrides={
            "agent": {"local": True, "data_dir": str(tmp_path_factory.mktemp("data")), "default_model": "nab-forest"},
            "http": {"host": host, "port": 0},
        },
    )
    agent = Agent(settings)
    agent.start(local=True)
    try:
        yield agent, f"http://{host}:{agent.http.port}", f"{host}:{agent.http.port}"
    finally:
        agent.stop()


@pytest.fixture
def base(served):
    return served[1]


@pytest.fixture
def version(served):
    return served[0].slot.current.version


@pytest.fixture
def client(served):
    c = triton.InferenceServerClient(url=served[2])
    try:
        yield c
    finally:
        c.close()


def rows(n: int = 6) -> np.ndarray:
    """Real NAB rows and, last, the quick start's example reading, which the default model calls an anomaly."""
    _, values = nab.load_series()
    X = nab.to_features(values[:n])
    X[-1] = [21.32, 1.04, 20.86, 25.0]
    return X


def score_route(base: str, X: np.ndarray) -> list[dict]:
    messages = [nab.to_message(r, "2024-01-01T00:00:00Z") for r in X]
    response = requests.post(f"{base}/score", json=messages, timeout=10)
    assert response.status_code == 200
    return response.json()


def infer(base: str, body, path: str = f"/v2/models/{NAME}/infer", **kwargs) -> requests.Response:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(f"{base}{path}", data=data, timeout=10, **kwargs)


# -- health and metadata ---------------------------------------------------------------------------


def test_server_metadata(base):
    body = requests.get(f"{base}/v2", timeout=5).json()
    assert body["name"] == "edge-model-agent"
    assert isinstance(body["version"], str) and body["version"]
    assert body["extensions"] == ["binary_tensor_data"]


def test_health_live_and_ready(base):
    live = requests.get(f"{base}/v2/health/live", timeout=5)
    ready = requests.get(f"{base}/v2/health/ready", timeout=5)
    assert (live.status_code, live.json()) == (200, {"live": True})
    assert (ready.status_code, ready.json()) == (200, {"ready": True})


@pytest.mark.parametrize("versioned", [False, True])
def test_model_metadata_shape(base, version, versioned):
    path = f"/v2/models/{NAME}" + (f"/versions/{version}" if versioned else "")
    body = requests.get(f"{base}{path}", timeout=5).json()
    # $metadata_model_response = {name, versions?, platform, inputs: [$metadata_tensor], outputs: [...]}
    assert body["name"] == NAME
    assert body["versions"] == [version]
    assert body["platform"] == "sklearn"
    assert body["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, WIDTH]}]
    assert body["outputs"] == [
        {"name": "score", "datatype": "FP64", "shape": [-1]},
        {"name": "anomaly", "datatype": "BOOL", "shape": [-1]},
    ]


@pytest.mark.parametrize("versioned", [False, True])
def test_model_ready(base, version, versioned):
    path = f"/v2/models/{NAME}" + (f"/versions/{version}" if versioned else "") + "/ready"
    response = requests.get(f"{base}{path}", timeout=5)
    assert (response.status_code, response.json()) == (200, {"name": NAME, "ready": True})


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/v2/models/nosuchmodel"),
        ("GET", "/v2/models/nosuchmodel/ready"),
        ("POST", "/v2/models/nosuchmodel/infer"),
        ("GET", f"/v2/models/{NAME}/versions/999"),
        ("GET", f"/v2/models/{NAME}/versions/999/ready"),
        ("POST", f"/v2/models/{NAME}/versions/999/infer"),
    ],
)
def test_unknown_model_or_version_is_404_with_error_body(base, method, path):
    body = {"inputs": [{"name": "input-0", "shape": [1, WIDTH], "datatype": "FP64", "data": [1, 2, 3, 4]}]}
    response = requests.request(method, f"{base}{path}", json=body if method == "POST" else None, timeout=5)
    assert response.status_code == 404
    error = response.json()
    assert list(error) == ["error"] and ("nosuchmodel" in error["error"] or "'999'" in error["error"])


# -- inference --------------------------------------------------------------------------------------


def test_published_request_example_shape_with_this_models_tensor(base, version):
    """The spec's example request (id "42", one output named) with this model's input; the response
    follows $inference_response: model_name, model_version, id echoed, outputs with name/shape/datatype/data."""
    request = {
        "id": "42",
        "inputs": [
            {"name": "input-0", "shape": [2, 4], "datatype": "FP32",
             "data": [[21.3, 1.04, 20.9, 25.0], [80.1, 7.9, 21.2, 25]]}
        ],
        "outputs": [{"name": "score"}],
    }
    response = infer(base, request, headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    body = response.json()
    assert body["model_name"] == NAME and body["model_version"] == version and body["id"] == "42"
    (output,) = body["outputs"]
    assert set(output) == {"name", "shape", "datatype", "data"}
    assert (output["name"], output["shape"], output["datatype"]) == ("score", [2], "FP64")
    assert len(output["data"]) == 2 and all(isinstance(v, float) for v in output["data"])


def test_published_example_request_verbatim_is_refused_with_error_body(base):
    """The spec's example verbatim: two inputs, UINT32 and BOOL, which this one-input FP model refuses."""
    request = {
        "id": "42",
        "inputs": [
            {"name": "input0", "shape": [2, 2], "datatype": "UINT32", "data": [1, 2, 3, 4]},
            {"name": "input1", "shape": [3], "datatype": "BOOL", "data": [True]},
        ],
        "outputs": [{"name": "output0"}],
    }
    response = infer(base, request)
    assert response.status_code == 400
    assert "one input tensor" in response.json()["error"]


@pytest.mark.parametrize("datatype", ["FP64", "FP32"])
@pytest.mark.parametrize("nested", [False, True])
def test_infer_scores_equal_score_route(base, version, datatype, nested):
    X = rows()
    data = X.tolist() if nested else X.reshape(-1).tolist()
    request = {"inputs": [{"name": "input-0", "shape": [len(X), WIDTH], "datatype": datatype, "data": data}]}
    response = infer(base, request)
    assert response.status_code == 200, response.text
    outputs = {o["name"]: o for o in response.json()["outputs"]}
    expected = score_route(base, X)
    assert outputs["score"]["data"] == [r["score"] for r in expected]
    assert outputs["anomaly"]["data"] == [r["anomaly"] for r in expected]
    assert outputs["anomaly"]["data"][-1] is True
    assert {r["model_version"] for r in expected} == {version}


def test_infer_on_the_active_version_route(base, version):
    request = {"inputs": [{"name": "input-0", "shape": [1, WIDTH], "datatype": "FP64", "data": [21.3, 1.04, 20.9, 25]}]}
    response = infer(base, request, path=f"/v2/models/{NAME}/versions/{version}/infer")
    assert response.status_code == 200
    assert response.json()["model_version"] == version


def _tensor(**changes) -> dict:
    tensor = {"name": "input-0", "shape": [2, WIDTH], "datatype": "FP64", "data": [1, 2, 3, 4, 5, 6, 7, 8]}
    tensor.update(changes)
    return {k: v for k, v in tensor.items() if v is not None}


BAD_REQUESTS = {
    "wrong width": ({"inputs": [_tensor(shape=[2, 3], data=[1, 2, 3, 4, 5, 6])]}, "shape must be [n, 4]"),
    "one-dimensional": ({"inputs": [_tensor(shape=[8])]}, "shape must be [n, 4]"),
    "zero rows": ({"inputs": [_tensor(shape=[0, WIDTH], data=[])]}, "n >= 1"),
    "length mismatch": ({"inputs": [_tensor(shape=[3, WIDTH])]}, "shape holds 12 values but data has 8"),
    "datatype INT64": ({"inputs": [_tensor(datatype="INT64")]}, "datatype 'INT64' is not supported"),
    "datatype BYTES": ({"inputs": [_tensor(datatype="BYTES", data=["a"] * 8)]}, "datatype 'BYTES'"),
    "no datatype": ({"inputs": [_tensor(datatype=None)]}, "datatype None"),
    "non-numeric": ({"inputs": [_tensor(data=[1, 2, 3, "4", 5, 6, 7, 8])]}, "non-numeric"),
    "boolean value": ({"inputs": [_tensor(data=[1, 2, 3, True, 5, 6, 7, 8])]}, "non-numeric"),
    "missing data": ({"inputs": [_tensor(data=None)]}, "has no 'data'"),
    "missing inputs": ({"id": "1"}, "'inputs' must be a non-empty list"),
    "empty inputs": ({"inputs": []}, "'inputs' must be a non-empty list"),
    "two inputs": ({"inputs": [_tensor(), _tensor()]}, "one input tensor"),
    "unknown output": ({"inputs": [_tensor()], "outputs": [{"name": "output0"}]}, "unknown output 'output0'"),
    "id not a string": ({"id": {"a": 1}, "inputs": [_tensor()]}, "'id' must be a string"),
    "parameters not an object": ({"parameters": [1], "inputs": [_tensor()]}, "'parameters' must be an object"),
    "not an object": ([1, 2], "must be a JSON object"),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_tensor_is_400_with_error_body(base, case):
    request, expected = BAD_REQUESTS[case]
    response = infer(base, request)
    assert response.status_code == 400
    body = response.json()
    assert list(body) == ["error"] and expected in body["error"]


@pytest.mark.parametrize(
    "raw, expected",
    [
        (b'{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, NaN, 3, 4]}]}', "NaN"),
        (b'{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 1e999, 3, 4]}]}', "infinite"),
        (b'{"inputs": [', "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_unreadable_or_non_finite_body_is_400(base, raw, expected):
    response = infer(base, raw)
    assert response.status_code == 400
    assert expected in response.json()["error"]


def test_binary_tensor_with_wrong_size_is_400(base):
    header = json.dumps(
        {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": 12}}]}
    ).encode()
    body = header + np.zeros(3, dtype="<f4").tobytes()
    response = infer(base, body, headers={"Inference-Header-Content-Length": str(len(header))})
    assert response.status_code == 400
    assert "binary_data_size is 12 but its shape and datatype need 16" in response.json()["error"]


def test_trailing_binary_bytes_are_400(base):
    header = json.dumps({"inputs": [_tensor()]}).encode()
    response = infer(base, header + b"\0" * 8, headers={"Inference-Header-Content-Length": str(len(header))})
    assert response.status_code == 400
    assert "8 bytes of binary data" in response.json()["error"]


def test_compressed_body_is_refused(base):
    response = infer(base, {"inputs": [_tensor()]}, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert "compressed" in response.json()["error"]


def test_bad_requests_change_nothing(base, version):
    for request, _ in BAD_REQUESTS.values():
        infer(base, request)
    good = infer(base, {"inputs": [_tensor()]})
    assert good.status_code == 200 and good.json()["model_version"] == version


def test_infer_is_counted_in_metrics(base):
    infer(base, {"inputs": [_tensor()]})
    text = requests.get(f"{base}/metrics", timeout=5).text
    assert 'agent_requests_total{transport="oip"}' in text


# -- a real client: tritonclient's HTTP client -------------------------------------------------------


def test_tritonclient_health_and_metadata(client, version):
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready(NAME)
    assert client.is_model_ready(NAME, model_version=version)
    assert not client.is_model_ready("nosuchmodel")
    assert not client.is_model_ready(NAME, model_version="999")
    assert client.get_server_metadata()["extensions"] == ["binary_tensor_data"]
    metadata = client.get_model_metadata(NAME)
    assert metadata["inputs"][0]["shape"] == [-1, WIDTH] and metadata["versions"] == [version]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient_infer_equals_score_route(client, base, version, dtype, binary):
    """A default client call sends binary tensors and asks for binary outputs; binary_data=False is JSON."""
    X = rows().astype(dtype)
    tensor = triton.InferInput("input-0", list(X.shape), "FP64" if dtype is np.float64 else "FP32")
    tensor.set_data_from_numpy(X, binary_data=binary)
    outputs = None if binary else [triton.InferRequestedOutput(n, binary_data=False) for n in ("score", "anomaly")]
    result = client.infer(NAME, [tensor], outputs=outputs, request_id="r1")
    response = result.get_response()
    assert response["model_version"] == version and response["id"] == "r1"
    expected = score_route(base, X.astype(np.float64))
    assert result.as_numpy("score").tolist() == [r["score"] for r in expected]
    assert result.as_numpy("anomaly").tolist() == [r["anomaly"] for r in expected]


def test_tritonclient_infer_on_versions(client, version):
    tensor = triton.InferInput("input-0", [1, WIDTH], "FP64")
    tensor.set_data_from_numpy(np.array([[21.3, 1.04, 20.9, 25.0]]))
    assert client.infer(NAME, [tensor], model_version=version).get_response()["model_version"] == version
    with pytest.raises(InferenceServerException, match="no version '999'"):
        client.infer(NAME, [tensor], model_version="999")
    with pytest.raises(InferenceServerException, match="unknown model 'other'"):
        client.infer("other", [tensor])


def test_tritonclient_wrong_shape_gets_the_servers_message(client):
    tensor = triton.InferInput("input-0", [2, 3], "FP64")
    tensor.set_data_from_numpy(np.zeros((2, 3)))
    with pytest.raises(InferenceServerException, match=r"shape must be \[n, 4\]"):
        client.infer(NAME, [tensor])


def test_before_a_model_is_loaded_ready_routes_say_no(tmp_path):
    """An agent whose model is still loading: live, but not ready, and infer answers 503 with the reason."""
    from module.api import oip
    from module.api.app import Core, create_app
    from module.api.server import HttpServer

    host = loopback_address()
    agent = Agent(load(environ={}, overrides={"agent": {"local": True, "data_dir": str(tmp_path), "default_model": "nab-forest"}}))
    core = Core(agent.service, agent.slot, agent.metrics, blueprints=[oip.blueprint(agent)])
    server = HttpServer(create_app(core, 1 << 20), host, 0, 2, 1 << 20)
    server.start()
    try:
        base = f"http://{host}:{server.port}"
        assert requests.get(f"{base}/v2/health/live", timeout=5).status_code == 200
        ready = requests.get(f"{base}/v2/health/ready", timeout=5)
        assert ready.status_code == 503 and ready.json()["ready"] is False
        model_ready = requests.get(f"{base}/v2/models/{NAME}/ready", timeout=5)
        assert model_ready.status_code == 503 and "no model" in model_ready.json()["error"]
        response = infer(base, {"inputs": [_tensor()]})
        assert response.status_code == 503 and "no model" in response.json()["error"]
        client = triton.InferenceServerClient(url=f"{host}:{server.port}")
        assert client.is_server_live() and not client.is_server_ready() and not client.is_model_ready(NAME)
        client.close()
    finally:
        server.stop()
        agent.stop()
