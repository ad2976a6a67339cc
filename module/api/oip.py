"""Open Inference Protocol v2 (the REST API of KServe, Triton and MLServer) on the agent's HTTP server.

Routes translate tensors to rows and back; scoring goes through the same micro-batcher and scorer as
POST /score (ScoringService.score_matrix), so a row scores the same on either route.
"""

from __future__ import annotations

import time

import numpy as np
from flask import Blueprint, Response, jsonify, request

from .. import __version__
from ..errors import AgentError, BadInput, NoModel, ScoringFailed
from ..scoring.slot import LoadedModel
from ..statuses import STATUS
from ..statuses import status_for as _status_for
from .oip_tensors import BINARY_HEADER, INPUT_DATATYPES, encode_response, parse_request

SERVER_NAME = "edge-model-agent"
#: Triton's name for the binary tensor extension, which tritonclient uses by default.
EXTENSIONS = ["binary_tensor_data"]
PLATFORM = "sklearn"
INPUT_NAME = "input-0"


class UnknownModel(AgentError, LookupError):
    """A model name or version this server does not serve."""


class UnknownEncoding(BadInput):
    """A Content-Encoding the agent does not decode (a gzip body could hide a decompression bomb)."""


#: This edge's table from errors to HTTP statuses; the protocol's error body is {"error": message}.
OIP_STATUS: tuple[tuple[type[Exception], int], ...] = ((UnknownModel, 404),) + STATUS


def status_for(error: Exception) -> int:
    return _status_for(error, OIP_STATUS)


def blueprint(agent) -> Blueprint:
    bp = Blueprint("oip", __name__, url_prefix="/v2")
    served = agent.settings.http.model_name

    def resolve(name: str, version: str | None) -> LoadedModel:
        if name != served:
            raise UnknownModel(f"unknown model {name!r}; this server serves {served!r}")
        model = agent.slot.current
        if model is None:
            raise NoModel("no model is loaded yet")
        if version is not None and version != model.version:
            raise UnknownModel(f"model {name!r} has no version {version!r}; the active version is {model.version!r}")
        return model

    @bp.errorhandler(AgentError)
    def agent_error(exc: AgentError):
        return jsonify({"error": str(exc)}), status_for(exc)

    @bp.get("")
    def server_metadata():
        return jsonify({"name": SERVER_NAME, "version": __version__, "extensions": EXTENSIONS})

    @bp.get("/health/live")
    def live():
        return jsonify({"live": True})

    @bp.get("/health/ready")
    def ready():
        if agent.slot.current is None:
            return jsonify({"ready": False, "error": "no model is loaded yet"}), 503
        return jsonify({"ready": True})

    @bp.get("/models/<name>")
    @bp.get("/models/<name>/versions/<version>")
    def model_metadata(name: str, version: str | None = None):
        model = resolve(name, version)
        width = len(agent.service.settings.features)
        return jsonify(
            {
                "name": served,
                "versions": [model.version],
                "platform": PLATFORM,
                "inputs": [{"name": INPUT_NAME, "datatype": "FP64", "shape": [-1, width]}],
                "outputs": [
                    {"name": "score", "datatype": "FP64", "shape": [-1]},
                    {"name": "anomaly", "datatype": "BOOL", "shape": [-1]},
                ],
                "parameters": {"input_datatypes": sorted(INPUT_DATATYPES), "model_version": model.version},
            }
        )

    @bp.get("/models/<name>/ready")
    @bp.get("/models/<name>/versions/<version>/ready")
    def model_ready(name: str, version: str | None = None):
        resolve(name, version)
        return jsonify({"name": served, "ready": True})

    @bp.post("/models/<name>/infer")
    @bp.post("/models/<name>/versions/<version>/infer")
    def infer(name: str, version: str | None = None):
        resolve(name, version)
        return _infer(agent, served)

    return bp


def _infer(agent, served: str) -> Response:
    started = time.perf_counter()
    metrics = agent.metrics
    metrics.transport("oip").requests.inc()
    try:
        if request.headers.get("Content-Encoding", "identity") != "identity":
            raise UnknownEncoding("compressed request bodies are not supported; send them uncompressed")
        body = request.get_data(cache=False)
        metrics.transport("oip").bytes_received.inc(len(body))
        width = len(agent.service.settings.features)
        parsed = parse_request(body, request.headers.get(BINARY_HEADER), width)
        scored = agent.service.score_matrix(parsed.rows)
        if not np.isfinite(scored.scores).all():
            raise ScoringFailed(f"model {scored.model.version} returned a non-finite score")
    except AgentError as exc:
        metrics.errors.labels(type(exc).__name__).inc()
        raise
    threshold = agent.service.threshold_for(scored.model)
    head = {"model_name": served, "model_version": scored.model.version}
    if parsed.id is not None:
        head["id"] = parsed.id
    head["parameters"] = {"threshold": threshold}
    payload, header_size = encode_response(head, scored.scores, scored.scores < threshold, parsed.outputs)
    metrics.messages.inc(len(parsed.rows))
    metrics.transport("oip").latency.observe(time.perf_counter() - started)
    response = Response(payload, content_type="application/json")
    if header_size is not None:
        response.content_type = "application/octet-stream"
        response.headers[BINARY_HEADER] = str(header_size)
    return response
