"""Open Inference Protocol v2 tensors: an infer request (JSON, or JSON plus binary tensor data) to rows,
and scores plus anomaly flags back to response tensors.

FP32 tensors are decoded as float32 and then widened to float64, so the scorer sees exactly the values
the client sent. Tree models (IsolationForest) compare in float32 anyway, so an FP32 row scores exactly
as the same row sent to /score does.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import BadInput

#: Triton's binary tensor extension: the JSON header's size; raw tensor bytes follow it in the body.
BINARY_HEADER = "Inference-Header-Content-Length"
INPUT_DATATYPES = {"FP64": np.dtype("<f8"), "FP32": np.dtype("<f4")}
OUTPUTS = {"score": "FP64", "anomaly": "BOOL"}
_OUTPUT_DTYPES = {"FP64": np.dtype("<f8"), "BOOL": np.dtype("bool")}


@dataclass(frozen=True)
class InferRequest:
    """A validated request: its rows (float64, n x width) and which outputs to send, binary or JSON."""

    id: Any
    rows: np.ndarray
    outputs: dict[str, bool]


def parse_request(body: bytes, header_length: str | None, width: int) -> InferRequest:
    header, binary = _split(body, header_length)
    try:
        doc = json.loads(header)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadInput(f"request body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise BadInput("an inference request must be a JSON object")
    request_id = doc.get("id")
    if request_id is not None and (isinstance(request_id, bool) or not isinstance(request_id, (str, int))):
        raise BadInput("'id' must be a string")
    parameters = _object(doc.get("parameters"), "parameters")
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise BadInput("'inputs' must be a non-empty list of tensors")
    if len(inputs) != 1:
        raise BadInput(f"this model takes one input tensor of shape [-1, {width}], got {len(inputs)} inputs")
    rows, used = _decode_input(inputs[0], binary, width)
    if used != len(binary):
        raise BadInput(f"{len(binary) - used} bytes of binary data follow the tensors that were declared")
    outputs = _requested_outputs(doc.get("outputs"), bool(parameters.get("binary_data_output", False)))
    return InferRequest(request_id, rows, outputs)


def _split(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    if header_length is None:
        return body, b""
    try:
        size = int(header_length)
    except ValueError:
        raise BadInput(f"{BINARY_HEADER} must be an integer, got {header_length!r}") from None
    if not 0 < size <= len(body):
        raise BadInput(f"{BINARY_HEADER} is {size} but the body holds {len(body)} bytes")
    return body[:size], body[size:]


def _object(value: Any, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadInput(f"'{where}' must be an object")
    return value


def _decode_input(tensor: Any, binary: bytes, width: int) -> tuple[np.ndarray, int]:
    """(rows as float64, bytes of `binary` consumed)."""
    if not isinstance(tensor, dict):
        raise BadInput("an input tensor must be an object with name, shape, datatype and data")
    name = tensor.get("name")
    if not isinstance(name, str):
        raise BadInput("input tensor: 'name' must be a string")
    dtype = _input_dtype(name, tensor.get("datatype"))
    n = _rows(name, tensor.get("shape"), width)
    parameters = _object(tensor.get("parameters"), f"inputs[{name}].parameters")
    if "binary_data_size" in parameters:
        values, used = _binary_values(name, parameters["binary_data_size"], binary, dtype, n * width)
    else:
        values, used = _json_values(name, tensor, dtype, n * width), 0
    rows = values.astype(np.float64).reshape(n, width)
    if not np.isfinite(rows).all():
        raise BadInput(f"input {name!r} holds NaN or infinite values")
    return rows, used


def _input_dtype(name: str, datatype: Any) -> np.dtype:
    if datatype not in INPUT_DATATYPES:
        raise BadInput(f"input {name!r}: datatype {datatype!r} is not supported; send FP64 or FP32")
    return INPUT_DATATYPES[datatype]


def _rows(name: str, shape: Any, width: int) -> int:
    if (
        not isinstance(shape, list)
        or len(shape) != 2
        or any(isinstance(d, bool) or not isinstance(d, int) for d in shape)
        or shape[0] < 1
        or shape[1] != width
    ):
        raise BadInput(f"input {name!r}: shape must be [n, {width}] with n >= 1, got {json.dumps(shape)}")
    return shape[0]


def _binary_values(name: str, size: Any, binary: bytes, dtype: np.dtype, count: int) -> tuple[np.ndarray, int]:
    expected = count * dtype.itemsize
    if isinstance(size, bool) or not isinstance(size, int) or size != expected:
        raise BadInput(f"input {name!r}: binary_data_size is {size!r} but its shape and datatype need {expected}")
    if len(binary) < size:
        raise BadInput(f"input {name!r}: {size} bytes of binary data declared, {len(binary)} sent")
    return np.frombuffer(binary[:size], dtype=dtype), size


def _json_values(name: str, tensor: dict, dtype: np.dtype, count: int) -> np.ndarray:
    if "data" not in tensor:
        raise BadInput(f"input {name!r} has no 'data' (nor binary_data_size)")
    flat: list = []
    _flatten(tensor["data"], flat, name)
    if len(flat) != count:
        raise BadInput(f"input {name!r}: shape holds {count} values but data has {len(flat)}")
    return np.asarray(flat, dtype=dtype)


def _flatten(data: Any, out: list, name: str) -> None:
    """Row-major data may be flat or nested; every leaf must be a JSON number."""
    if isinstance(data, list):
        for item in data:
            _flatten(item, out, name)
        return
    # bool is an int in Python, but true/false is not a reading.
    if isinstance(data, bool) or not isinstance(data, (int, float)):
        raise BadInput(f"input {name!r}: data holds a non-numeric value {json.dumps(data)[:40]}")
    if isinstance(data, float) and not math.isfinite(data):
        raise BadInput(f"input {name!r} holds NaN or infinite values")
    out.append(data)


def _requested_outputs(outputs: Any, binary_default: bool) -> dict[str, bool]:
    if outputs is None:
        return {name: binary_default for name in OUTPUTS}
    if not isinstance(outputs, list):
        raise BadInput("'outputs' must be a list")
    chosen: dict[str, bool] = {}
    for output in outputs:
        name = output.get("name") if isinstance(output, dict) else None
        if name not in OUTPUTS:
            raise BadInput(f"unknown output {name!r}; this model has outputs {sorted(OUTPUTS)}")
        parameters = _object(output.get("parameters"), f"outputs[{name}].parameters")
        chosen[name] = bool(parameters.get("binary_data", binary_default))
    return chosen


def encode_response(
    head: dict, scores: np.ndarray, anomalies: np.ndarray, outputs: dict[str, bool]
) -> tuple[bytes, int | None]:
    """(body, JSON header size when binary tensors follow it, else None)."""
    values = {"score": scores, "anomaly": anomalies}
    tensors, raw = [], []
    for name, binary in outputs.items():
        datatype = OUTPUTS[name]
        array = np.asarray(values[name], dtype=_OUTPUT_DTYPES[datatype])
        tensor: dict[str, Any] = {"name": name, "shape": [len(array)], "datatype": datatype}
        if binary:
            raw.append(array.tobytes())
            tensor["parameters"] = {"binary_data_size": len(raw[-1])}
        else:
            tensor["data"] = array.tolist()
        tensors.append(tensor)
    header = json.dumps({**head, "outputs": tensors}).encode()
    if not raw:
        return header, None
    return header + b"".join(raw), len(header)
