"""skops files written by hand: an honest StandardScaler's zip with one node of schema.json replaced."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import skops.io as sio
from sklearn.preprocessing import StandardScaler


def honest() -> tuple[dict, dict[str, bytes]]:
    """(schema, the other members) of a fitted StandardScaler saved by skops."""
    data = sio.dumps(StandardScaler().fit(np.arange(20.0).reshape(10, 2)))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    return json.loads(members.pop("schema.json")), members


def write(path: Path, schema: dict, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("schema.json", json.dumps(schema))
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def with_attribute(path: Path, value: dict) -> Path:
    """The honest scaler with one more attribute, `evil_`, whose value is the node `value`."""
    schema, members = honest()
    attrs = schema["content"]
    attrs["content"]["evil_"] = value
    attrs["key_types"]["content"].append(node("TypeNode", "builtins", "str"))  # skops zips keys with key types
    return write(path, schema, members)


def node(loader: str, module: str, cls: str, **fields) -> dict:
    return {"__loader__": loader, "__module__": module, "__class__": cls, **fields}


def json_node(value) -> dict:
    return node("JsonNode", "builtins", "str", content=json.dumps(value), is_json=True)


def tuple_node(*items: dict) -> dict:
    return node("TupleNode", "builtins", "tuple", content=list(items))


def dict_node(content: dict, key_types: list[dict] | None = None) -> dict:
    key_types = key_types if key_types is not None else [node("TypeNode", "builtins", "str") for _ in content]
    return node("DictNode", "builtins", "dict", content=content,
                key_types=node("ListNode", "builtins", "list", content=key_types))


#: What the issue's probes used: a method of a loaded object looked up by name (a function's __globals__),
#: operator getters, a defaultdict's factory, a masked array, a Generator named from numpy.random by text.
REFUSED = {
    "MethodNode": node("MethodNode", "builtins", "method",
                       content={"func": "__globals__", "obj": node("FunctionNode", "numpy.core.numeric",
                                                                   "_frombuffer")}),
    "OperatorFuncNode": node("OperatorFuncNode", "operator", "attrgetter", attrs=tuple_node(json_node("x"))),
    "DefaultDictNode": node("DefaultDictNode", "collections", "defaultdict",
                            content={"main": dict_node({}), "default_factory": node("TypeNode", "builtins", "list")}),
    "MaskedArrayNode": node("MaskedArrayNode", "numpy.ma.core", "MaskedArray", content={}),
    "RandomGeneratorNode": node("RandomGeneratorNode", "numpy.random._generator", "Generator", content={}),
}
