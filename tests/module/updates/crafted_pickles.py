"""Pickle streams written opcode by opcode: each names only allow-listed globals but uses an opcode on a
target the loader must refuse (a class, a function, a shared singleton), or exceeds a bound."""

from __future__ import annotations

import pickle

TREE_PREDICTOR = ("sklearn.ensemble._hist_gradient_boosting.predictor", "TreePredictor")
FROMBUFFER = ("numpy.core.numeric", "_frombuffer")
CSR = ("scipy.sparse._csr", "csr_matrix")


def p2(body: bytes) -> bytes:
    return b"\x80\x02" + body + b"."


def p4(body: bytes) -> bytes:
    return b"\x80\x04" + body + b"."


def glob(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def value(obj) -> bytes:
    """The opcodes that push obj (a plain value), without PROTO and STOP."""
    return pickle.dumps(obj, protocol=2)[2:-1]


def build_on(target: bytes, state) -> bytes:
    return p2(target + value(state) + b"b")


def patch_tree_predictor() -> bytes:
    """GLOBAL TreePredictor, (None, {"__setstate__": 0}), BUILD: setattr on the class itself, so every later
    TreePredictor BUILD would call 0(state) and every HistGradientBoosting model would fail to load."""
    return build_on(glob(*TREE_PREDICTOR), (None, {"__setstate__": 0}))


DOORS = {
    "BUILD on a class (slot state)": patch_tree_predictor(),
    "BUILD on a class (dict state)": build_on(glob(*CSR), {"format": "evil"}),
    "BUILD on a function (dict state)": build_on(glob(*FROMBUFFER), {"patched": True}),
    "BUILD on a function (slot state)": build_on(glob(*FROMBUFFER), ({}, {"__defaults__": (1,)})),
    "BUILD on numpy's float64 dtype": p2(glob("numpy", "dtype") + value(("f8", False, False)) + b"R"
                                         + value((3, ">", None, None, None, -1, -1, 0)) + b"b"),
    "BUILD on numpy's True scalar": p2(glob("numpy.core.multiarray", "scalar") + glob("numpy", "dtype")
                                       + value(("?", False, True)) + b"R" + value(b"\x01") + b"\x86R"
                                       + value((1,)) + b"b"),
    "APPEND on a class": p2(glob(*CSR) + value(1) + b"a"),
    "APPENDS on a function": p2(glob(*FROMBUFFER) + b"(" + value(1) + value(2) + b"e"),
    "SETITEM on a class": p2(glob(*TREE_PREDICTOR) + value("k") + value(1) + b"s"),
    "SETITEMS on a class": p2(glob(*TREE_PREDICTOR) + b"(" + value("k") + value(1) + b"u"),
    "ADDITEMS on a class": p4(glob(*CSR) + b"(" + value(1) + b"\x90"),
    "REDUCE on an object the file built": p2(b"]" + b")" + b"R"),
    "NEWOBJ on an object the file built": p2(b"]" + b")" + b"\x81"),
    "OBJ on an object the file built": p2(b"(]" + b"o"),
}
"""Each refused, with the opcode named in the error."""


def dotted(module: str, name: str) -> bytes:
    """Protocol 4 resolves "a.b" names attribute by attribute: which object that reaches is not the check's."""
    return p4(b"\x8c" + bytes([len(module)]) + module.encode() + b"\x8c" + bytes([len(name)]) + name.encode()
              + b"\x93")


def ext1() -> bytes:
    return p2(b"\x82\x01")


def python2_renamed(command: str) -> bytes:
    """commands.getoutput(...) at protocol 2: pickle renames the module `commands` to `subprocess`."""
    return p2(glob("commands", "getoutput") + value((command,)) + b"R")


def many_opcodes(count: int) -> bytes:
    return p2(b"N0" * (count // 2) + b"N")


def deep_stack(depth: int) -> bytes:
    return p2(b"N" * depth + b"0" * (depth - 1))


def big_memo(entries: int) -> bytes:
    return p4(b"N\x940" * entries + b"N")


def codec(name: str) -> bytes:
    """_codecs.encode looks its codec up by name, importing encodings.<name>."""
    return p2(glob("_codecs", "encode") + value(("text", name)) + b"R")


def huge_reconstruct() -> bytes:
    return p2(glob("numpy.core.multiarray", "_reconstruct") + glob("numpy", "ndarray")
              + value((10**12,)) + value(b"b") + b"\x87R")


def ndarray_called() -> bytes:
    return p2(glob("numpy", "ndarray") + value(((10**12,), "f8")) + b"R")


def ndarray_newobj() -> bytes:
    return p2(glob("numpy", "ndarray") + value(((10**12,),)) + b"\x81")


def bytes_of(size: int) -> bytes:
    return p2(glob("__builtin__", "bytes") + value((size,)) + b"R")


def ndarray_inst() -> bytes:
    """INST names the class inline and calls it with the items after MARK."""
    return p2(b"(" + value((10**12,)) + b"inumpy\nndarray\n")


def bytes_by_keyword(size: int) -> bytes:
    """NEWOBJ_EX: bytes.__new__(bytes, *(), **{"source": size})."""
    return p4(glob("builtins", "bytes") + value(()) + value({"source": size}) + b"\x92")


def tree_of_outputs(n_outputs: int) -> bytes:
    """Tree(1, array([2]), n_outputs): Tree allocates n_outputs entries before reading n_classes."""
    n_classes = pickle.dumps(__import__("numpy").array([2], dtype="intp"), protocol=2)[2:-1]
    return p2(glob("sklearn.tree._tree", "Tree") + value(1) + n_classes + value(n_outputs) + b"\x87R")
