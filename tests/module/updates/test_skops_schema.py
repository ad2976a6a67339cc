"""skops files are checked node by node before skops builds anything: node types that name callables or
attributes are refused, every named type is on the allow-list, and nothing the file names is imported first."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio

from module.updates import safe_load, skops_schema

from . import crafted_skops as crafted
from .conftest import nab_rows, train

REPO = Path(__file__).resolve().parents[3]


def _refused(path: Path, match: str) -> None:
    with pytest.raises(safe_load.Refused, match=match):
        safe_load.load(path, "skops")


@pytest.mark.parametrize("loader", sorted(crafted.REFUSED))
def test_node_types_that_name_callables_are_refused(loader, tmp_path):
    path = crafted.with_attribute(tmp_path / "evil.skops", crafted.REFUSED[loader])
    _refused(path, f"holds a {loader} .*which is not loaded")


def test_the_method_node_is_what_let_a_module_globals_dict_through_before(tmp_path):
    """The control: skops' own check lets the MethodNode through, and its load hands out numpy's globals."""
    path = crafted.with_attribute(tmp_path / "evil.skops", crafted.REFUSED["MethodNode"])
    loaded = sio.load(path, trusted=sio.get_untrusted_types(file=path))
    assert "sys" in loaded.evil_ or "__builtins__" in loaded.evil_


def test_an_unknown_node_type_is_refused(tmp_path):
    path = crafted.with_attribute(tmp_path / "evil.skops", crafted.node("EvilNode", "builtins", "str"))
    _refused(path, "unknown node type 'EvilNode'")


@pytest.mark.parametrize("protocol", [0, 1, 3, "2", None])
def test_only_the_pinned_protocol_is_loaded(protocol, tmp_path):
    schema, members = crafted.honest()
    schema["protocol"] = protocol
    _refused(crafted.write(tmp_path / "m.skops", schema, members), "only protocol 2 .* is loaded")


def test_the_pinned_protocol_is_the_installed_skops_protocol():
    from skops.io._protocol import PROTOCOL

    assert PROTOCOL == skops_schema.PINNED_PROTOCOL, "skops changed its format: review skops_schema.py"


def test_a_partial_of_a_function_off_the_allow_list_is_refused(tmp_path):
    partial = crafted.node("PartialNode", "functools", "partial", content={
        "func": crafted.node("FunctionNode", "builtins", "exec"), "args": crafted.tuple_node(crafted.json_node("1")),
        "kwds": crafted.dict_node({}), "namespace": crafted.dict_node({})})
    _refused(crafted.with_attribute(tmp_path / "evil.skops", partial), "partial of builtins.exec")


def test_a_partial_of_an_allowed_function_loads(tmp_path):
    partial = crafted.node("PartialNode", "functools", "partial", content={
        "func": crafted.node("FunctionNode", "numpy.core.numeric", "_frombuffer"),
        "args": crafted.tuple_node(), "kwds": crafted.dict_node({}), "namespace": crafted.dict_node({})})
    loaded = safe_load.load(crafted.with_attribute(tmp_path / "m.skops", partial), "skops")
    from numpy.core.numeric import _frombuffer

    assert loaded.evil_.func is _frombuffer


@pytest.mark.parametrize("loader, fields", [
    ("ObjectNode", {}),
    ("TypeNode", {}),
    ("FunctionNode", {}),
    ("LossNode", {"__reduce__": {"args": crafted.tuple_node()}, "content": crafted.dict_node({})}),
])
def test_a_type_off_the_allow_list_is_refused_before_it_is_imported(loader, fields, tmp_path):
    """`this` prints the Zen of Python when imported: a fresh interpreter shows it never was."""
    path = crafted.with_attribute(tmp_path / "evil.skops", crafted.node(loader, "this", "s", **fields))
    script = ("import sys; from module.updates import safe_load\n"
              f"try:\n    safe_load.load({str(path)!r}, 'skops')\nexcept safe_load.Refused as exc:\n"
              "    print('REFUSED', exc)\nprint('IMPORTED' if 'this' in sys.modules else 'NOT IMPORTED')\n")
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert f"REFUSED the skops file holds a {loader} of this.s, which is not on the allow-list" in run.stdout
    assert run.stdout.rstrip().endswith("NOT IMPORTED") and "Beautiful is better" not in run.stdout


def test_dict_keys_of_a_type_other_than_a_builtin_are_refused(tmp_path):
    keyed = crafted.dict_node({"a": crafted.json_node(1)}, key_types=[
        crafted.node("TypeNode", "sklearn.preprocessing._data", "StandardScaler")])
    _refused(crafted.with_attribute(tmp_path / "evil.skops", keyed), "dict key type sklearn.preprocessing")


def test_a_key_type_swapped_through_a_shared_id_is_refused(tmp_path):
    """skops builds the first node with an __id__ and reuses it for later ones: an allowed class defined
    first under the id of a later `str` key type would be called on the key."""
    scaler = crafted.node("TypeNode", "sklearn.preprocessing._data", "StandardScaler", __id__=7)
    key = crafted.node("TypeNode", "builtins", "str", __id__=7)
    evil = crafted.tuple_node(scaler, crafted.dict_node({"a": crafted.json_node(1)}, key_types=[key]))
    _refused(crafted.with_attribute(tmp_path / "evil.skops", evil), "reuses the id 7 of a TypeNode")


def test_a_zip_that_unpacks_past_the_limit_is_refused_unread(tmp_path):
    path = tmp_path / "bomb.skops"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("a.npy", "w", force_zip64=True) as member:
            zeros = bytes(1 << 20)
            for _ in range((skops_schema.MAX_UNPACKED_BYTES >> 20) + 1):
                member.write(zeros)
        archive.writestr("schema.json", "{}")
    assert path.stat().st_size < 2 << 20
    _refused(path, "unpacks to .* bytes, over the .* limit")


def test_an_oversized_schema_is_refused_unread(tmp_path):
    path = tmp_path / "big-schema.skops"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("schema.json", "w", force_zip64=True) as member:
            blanks = b" " * (1 << 20)
            for _ in range((skops_schema.MAX_SCHEMA_BYTES >> 20) + 1):
                member.write(blanks)
    _refused(path, "schema.json is .* bytes, over the")


def test_a_100_tree_forest_passes_the_walk_and_loads(tmp_path):
    forest = train(0, trees=100, samples=64)
    path = tmp_path / "forest.skops"
    sio.dump(forest, path)
    X = nab_rows()[:50]
    assert np.array_equal(safe_load.load(path, "skops").score_samples(X), forest.score_samples(X))
