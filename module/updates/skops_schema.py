"""Check a skops file's schema.json against the allow-list before skops builds anything from it.

skops.io.get_untrusted_types is not a boundary: it does not report what MethodNode, PartialNode or
OperatorFuncNode name from the file (a method looked up by name, a function, an operator), and building its
node tree already imports modules the file names (LossNode). So the schema is read here as plain JSON, every
node is checked by its loader against the same allow-list as pickles, and only the types this walk approved
are passed to skops.io.load as `trusted`. The walk follows exactly the children skops 0.11 (protocol 2)
builds from each node type; a protocol other than the pinned one or a node type it does not know is refused.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterable

from .allowlist import is_allowed
from .refusal import Refused

#: skops' file protocol this walk was written for (skops 0.11): skops.io._protocol.PROTOCOL, checked by a test.
PINNED_PROTOCOL = 2

#: skops stores arrays uncompressed, so an honest file unpacks to about its own size (a 100-tree forest:
#: 2.7 MB, its schema.json 1.4 MB); a deflated member can unpack to a thousand times its size.
MAX_UNPACKED_BYTES = 256 << 20
MAX_SCHEMA_BYTES = 64 << 20

#: Builtin types skops may name: as TypeNodes (dict key types, called with the key's text) and containers.
PRIMITIVE_TYPES = frozenset({"str", "int", "float", "bool", "complex", "bytes", "bytearray", "list", "tuple",
                             "dict", "set", "frozenset", "slice", "NoneType"})
KEY_TYPES = frozenset({"str", "int", "float", "bool"})

#: Node types that name a callable or an attribute from the file, or build what no estimator needs.
REFUSED_NODES = {
    "MethodNode": "looks up a method by a name from the file",
    "OperatorFuncNode": "builds an operator.attrgetter/itemgetter/methodcaller from the file",
    "DefaultDictNode": "calls a default factory from the file",
    "MaskedArrayNode": "builds a numpy masked array, which no estimator holds",
    "RandomGeneratorNode": "looks its bit generator up in numpy.random by a name from the file",
}


def read_schema(path: Path) -> dict:
    """schema.json of the skops zip at path, after capping what the zip unpacks to."""
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        unpacked = sum(member.file_size for member in members)
        if unpacked > MAX_UNPACKED_BYTES:
            raise Refused(f"the skops file unpacks to {unpacked:,} bytes, over the {MAX_UNPACKED_BYTES:,} limit")
        schema = next((m for m in members if m.filename == "schema.json"), None)
        if schema is None:
            raise Refused("the skops file has no schema.json")
        if schema.file_size > MAX_SCHEMA_BYTES:
            raise Refused(f"the skops schema.json is {schema.file_size:,} bytes, over the {MAX_SCHEMA_BYTES:,} limit")
        document = json.loads(archive.read(schema))
    if not isinstance(document, dict) or document.get("protocol") != PINNED_PROTOCOL:
        raise Refused(f"the skops file's protocol is {_get(document, 'protocol')!r}; only protocol "
                      f"{PINNED_PROTOCOL} (skops 0.11) is loaded")
    return document


def trusted_types(schema: dict, names: frozenset[str]) -> list[str]:
    """Every "module.Class" the schema names, each checked; raises Refused at the first node refused."""
    seen: set[str] = set()
    by_id: dict[int, list[dict]] = {}
    called: list[dict] = []
    pending: list[Any] = [schema]
    while pending:
        node = pending.pop()
        loader = _loader(node)
        if loader in REFUSED_NODES:
            raise Refused(f"the skops file holds a {loader} ({_type(node)}), which is not loaded: it "
                          f"{REFUSED_NODES[loader]}")
        if loader not in CHECKS:
            raise Refused(f"the skops file holds an unknown node type {loader!r}")
        pending.extend(CHECKS[loader](node, names))
        if loader != "CachedNode":  # a reference to a node built before: nothing new to trust or swap
            seen.add(_type(node))
            if isinstance(node.get("__id__"), int):
                by_id.setdefault(node["__id__"], []).append(node)
        called.extend(_called(node))
    _refuse_swapped_callees(called, by_id)
    return sorted(seen)


def _called(node: dict) -> list[dict]:
    """The nodes whose object skops calls (dict key types on each key) or wraps (a partial's function)."""
    if node["__loader__"] == "DictNode":
        return [node["key_types"], *node["key_types"]["content"]]
    if node["__loader__"] == "PartialNode":
        return [node["content"]["func"]]
    return []


def _refuse_swapped_callees(called: list[dict], by_id: dict[int, list[dict]]) -> None:
    """skops reuses the first node it built under an __id__ for every later node with that __id__, so a
    checked key type could be swapped for any other node that shares its id. Honest files share ids only
    between identical nodes (skops keeps every saved object alive, so ids are unique per object)."""
    for node_id in {node.get("__id__") for node in called} - {None}:
        twins = by_id.get(node_id, [])
        if len(twins) > 1 and len({json.dumps(t, sort_keys=True) for t in twins}) > 1:
            raise Refused(f"the skops file reuses the id {node_id} of a {_loader(twins[0])} for a "
                          "different node, which skops would call in its place")


# -- one check per node type: refuse what it must not name, return the child nodes skops builds ----------


def _dict(node, names):
    _require(node, lambda m, c: (m, c) == ("builtins", "dict") or _allowed(m, c, names))
    key_types = node.get("key_types")
    for key_type in _list_content(key_types):
        if _loader(key_type) != "TypeNode" or _module_class(key_type) not in {("builtins", k) for k in KEY_TYPES}:
            raise Refused(f"the skops file has a dict key type {_type(key_type)}; keys may only be "
                          f"{', '.join(sorted(KEY_TYPES))} (skops calls the key type on each key)")
    content = node.get("content")
    if not isinstance(content, dict):
        raise Refused("the skops file has a dict node without content")
    return [key_types, *content.values()]


def _list_content(node) -> list:
    _require(node, lambda m, c: (m, c) == ("builtins", "list"), "ListNode")
    content = node.get("content")
    if not isinstance(content, list):
        raise Refused("the skops file has a list node without content")
    return content


def _sequence(kind: str, allow_classes: bool = False) -> Callable:
    def check(node, names):
        _require(node, lambda m, c: (m, c) == ("builtins", kind) or (allow_classes and _allowed(m, c, names)))
        content = node.get("content")
        if not isinstance(content, list):
            raise Refused(f"the skops file has a {kind} node without content")
        return content

    return check


def _leaf(*builtin_names: str) -> Callable:
    def check(node, names):
        _require(node, lambda m, c: m == "builtins" and c in builtin_names)
        return []

    return check


def _slice(node, names):
    _require(node, lambda m, c: (m, c) == ("builtins", "slice"))
    content = node.get("content") or {}
    if any(not (v is None or type(v) is int) for v in (content.get(k) for k in ("start", "stop", "step"))):
        raise Refused("the skops file has a slice with non-integer bounds")
    return []


def _function(node, names):
    _require(node, lambda m, c: _allowed(m, c, names))
    return []


def _partial(node, names):
    _require(node, lambda m, c: (m, c) == ("functools", "partial"))
    content = _content(node)
    func = content.get("func")
    if _loader(func) != "FunctionNode" or not _allowed(*_module_class(func), names):
        raise Refused(f"the skops file holds a functools.partial of {_type(func)}, which is not on the "
                      "allow-list")
    return [content.get(k) for k in ("func", "args", "kwds", "namespace")]


def _type_node(node, names):
    _require(node, lambda m, c: (m == "builtins" and c in PRIMITIVE_TYPES) or _allowed(m, c, names))
    return []


def _object(node, names):
    _require(node, lambda m, c: _allowed(m, c, names))
    return [node["content"]] if node.get("content") is not None else []


def _ndarray(node, names):
    # skops calls the class on the loaded array unless it is numpy.ndarray: numpy's own scalar types only.
    _require(node, lambda m, c: m == "numpy" and _allowed(m, c, names))
    kind = node.get("type")
    if kind == "numpy":
        return []
    if kind == "json":
        return [*_checked_list(node.get("content")), node.get("shape")]
    raise Refused(f"the skops file has an array of unknown type {kind!r}")


def _with_content(test: Callable[[str, str, frozenset], bool]) -> Callable:
    def check(node, names):
        _require(node, lambda m, c: test(m, c, names))
        return [_content_node(node)]

    return check


def _sparse(node, names):
    _require(node, lambda m, c: m.startswith("scipy.sparse.") and _allowed(m, c, names))
    if node.get("type") != "scipy":
        raise Refused("the skops file has a sparse matrix that is not in scipy's npz form")
    return []


def _reduce(test: Callable[[str, str, frozenset], bool]) -> Callable:
    """TreeNode and LossNode: skops calls the class with args, then __setstate__ with the content."""

    def check(node, names):
        _require(node, lambda m, c: test(m, c, names))
        reduce = node.get("__reduce__")
        if not isinstance(reduce, dict):
            raise Refused(f"the skops file has a {_loader(node)} without its arguments")
        return [_content_node(node), reduce.get("args")]

    return check


def _cached(node, names):
    if not isinstance(node.get("__id__"), int):
        raise Refused("the skops file has a cached node without an id")
    return []


# -- helpers -----------------------------------------------------------------------------------------------


def _allowed(module: str, name: str, names: frozenset[str]) -> bool:
    return "." not in name and bool(name) and bool(module) and is_allowed(module, name, names)


def _require(node, test: Callable[[str, str], bool], loader: str | None = None) -> None:
    if loader is not None and _loader(node) != loader:
        raise Refused(f"the skops file has a {_loader(node)} where a {loader} belongs")
    if not test(*_module_class(node)):
        raise Refused(f"the skops file holds a {_loader(node)} of {_type(node)}, which is not on the allow-list")


def _loader(node) -> str:
    if not isinstance(node, dict) or not isinstance(node.get("__loader__"), str):
        raise Refused("the skops file has a malformed node (no __loader__)")
    return node["__loader__"]


def _module_class(node) -> tuple[str, str]:
    module, name = (node.get(k) if isinstance(node, dict) else None for k in ("__module__", "__class__"))
    if not isinstance(module, str) or not isinstance(name, str):
        raise Refused("the skops file has a malformed node (no __module__/__class__)")
    return module, name


def _type(node) -> str:
    module, name = _module_class(node)
    return f"{module}.{name}"


def _content(node) -> dict:
    content = node.get("content")
    if not isinstance(content, dict):
        raise Refused(f"the skops file has a {_loader(node)} without content")
    return content


def _content_node(node) -> dict:
    content = node.get("content")
    _loader(content)
    return content


def _checked_list(value) -> Iterable:
    if not isinstance(value, list):
        raise Refused("the skops file has an array node without content")
    return value


def _get(document, key):
    return document.get(key) if isinstance(document, dict) else None


CHECKS: dict[str, Callable[[dict, frozenset], list]] = {
    "DictNode": _dict,
    "ListNode": lambda node, names: _list_content(node),
    "SetNode": _sequence("set"),
    "TupleNode": _sequence("tuple", allow_classes=True),  # a namedtuple class is called with the items
    "BytesNode": _leaf("bytes"),
    "BytearrayNode": _leaf("bytearray"),
    "SliceNode": _slice,
    "JsonNode": _leaf("str"),
    "FunctionNode": _function,
    "PartialNode": _partial,
    "TypeNode": _type_node,
    "ObjectNode": _object,
    "NdArrayNode": _ndarray,
    "DTypeNode": _with_content(lambda m, c, names: (m, c) == ("numpy", "dtype")),
    "RandomStateNode": _with_content(lambda m, c, names: m.startswith("numpy.random.") and _allowed(m, c, names)),
    "SparseMatrixNode": _sparse,
    "TreeNode": _reduce(lambda m, c, names: (m, c) == ("sklearn.tree._tree", "Tree")),
    "LossNode": _reduce(_allowed),
    "CachedNode": _cached,
}
