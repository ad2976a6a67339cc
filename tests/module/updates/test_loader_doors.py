"""The guarded unpickler's doors beyond find_class: BUILD and the container opcodes on globals, calls on
objects the file built, Python 2 renames, dotted names, extension codes, and the opcode/stack/memo bounds."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest

from module.updates import safe_load
from module.updates.pickle_limits import DEFAULT_LIMITS, PickleLimits

from . import crafted_pickles as crafted
from .conftest import nab_rows, train

REPO = Path(__file__).resolve().parents[3]


def _load(data: bytes, fmt: str, tmp_path: Path, extra=()):
    """An uncompressed joblib file is a pickle stream read by joblib's unpickler: both paths are checked."""
    path = tmp_path / f"m.{fmt}"
    path.write_bytes(data)
    return safe_load.load(path, fmt, extra)


@pytest.mark.parametrize("fmt", ["pickle", "joblib"])
@pytest.mark.parametrize("door", sorted(crafted.DOORS))
def test_each_door_is_refused_naming_its_opcode(door, fmt, tmp_path):
    opcode = door.split()[0]
    with pytest.raises(safe_load.Refused, match=rf"applies {opcode} to "):
        _load(crafted.DOORS[door], fmt, tmp_path)


def test_refused_build_leaves_the_class_and_function_untouched(tmp_path):
    from numpy.core.numeric import _frombuffer
    from scipy.sparse import csr_matrix
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

    before = [dict(vars(TreePredictor)), dict(vars(csr_matrix)), dict(vars(_frombuffer)), _frombuffer.__defaults__]
    for door in crafted.DOORS:
        with pytest.raises(safe_load.Refused):
            safe_load.loads_pickle(crafted.DOORS[door])
    assert [dict(vars(TreePredictor)), dict(vars(csr_matrix)), dict(vars(_frombuffer)),
            _frombuffer.__defaults__] == before
    assert np.dtype("f8").byteorder == "="


_AFTER_THE_PATCH = """
import pickle, sys
import numpy as np
from module.updates import safe_load
evil, honest, rows = (open(p, "rb").read() for p in sys.argv[1:4])
X = pickle.loads(rows)
if sys.argv[4] == "guarded":
    try:
        safe_load.loads_pickle(evil)
        print("EVIL LOADED")
    except safe_load.Refused as exc:
        print("REFUSED:", exc)
else:
    pickle.loads(evil)  # the unguarded unpickler: the patch lands
try:
    print("HONEST", safe_load.loads_pickle(honest).predict(X).round(6).tolist())
except Exception as exc:
    print("HONEST FAILED", type(exc).__name__, exc)
"""


def _after_the_patch(tmp_path: Path, mode: str) -> str:
    """In a fresh interpreter: try the TreePredictor patch, then load an honest HistGradientBoosting model."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    X = nab_rows()[::20]
    model = HistGradientBoostingRegressor(max_iter=5, random_state=0).fit(X, X[:, 0])
    files = {"evil": crafted.patch_tree_predictor(), "honest": pickle.dumps(model, protocol=5),
             "rows": pickle.dumps(X[:5])}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    script = tmp_path / "after_the_patch.py"
    script.write_text(_AFTER_THE_PATCH)
    run = subprocess.run([sys.executable, str(script), *(str(tmp_path / n) for n in files), mode], cwd=REPO,
                         capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(REPO)})
    assert run.returncode == 0, run.stderr
    return run.stdout, model.predict(X[:5]).round(6).tolist()


def test_a_refused_class_patch_leaves_later_honest_models_loading(tmp_path):
    out, expected = _after_the_patch(tmp_path, "guarded")
    assert "REFUSED: the model file applies BUILD to sklearn.ensemble._hist_gradient_boosting" in out
    assert f"HONEST {expected}" in out


def test_the_class_patch_is_real_without_the_guard(tmp_path):
    """The control: through plain pickle the same bytes do break every later HistGradientBoosting load."""
    out, _ = _after_the_patch(tmp_path, "plain")
    assert "HONEST FAILED TypeError" in out


def test_python2_rename_is_checked_under_its_final_name(tmp_path):
    marker = tmp_path / "marker"
    with pytest.raises(safe_load.Refused, match="names subprocess.getoutput, which is not on the allow-list"):
        safe_load.loads_pickle(crafted.python2_renamed(f"touch {marker}"), ["commands.getoutput"])
    assert not marker.exists()


def test_python2_names_of_allowed_globals_still_load():
    data = pickle.dumps({1, 2}, protocol=2)
    assert b"__builtin__\nset" in data
    assert safe_load.loads_pickle(data, ["builtins.set"]) == {1, 2}
    with pytest.raises(safe_load.Refused, match="names builtins.set"):
        safe_load.loads_pickle(data)


@pytest.mark.parametrize("module, name", [("numpy", "core.multiarray._reconstruct"),
                                          ("sklearn", "ensemble.IsolationForest"), ("numpy", "dtype.mro")])
def test_dotted_names_are_refused(module, name):
    with pytest.raises(safe_load.Refused, match="dotted or empty names are not loaded"):
        safe_load.loads_pickle(crafted.dotted(module, name))


def test_extension_codes_are_refused():
    with pytest.raises(safe_load.Refused, match="extension codes"):
        safe_load.loads_pickle(crafted.ext1())


@pytest.mark.parametrize("make, limit, message", [
    (crafted.many_opcodes, DEFAULT_LIMITS.max_opcodes, "pickle opcodes"),
    (crafted.deep_stack, DEFAULT_LIMITS.max_stack, "stack limit"),
    (crafted.big_memo, DEFAULT_LIMITS.max_memo, "memoizes more than"),
])
def test_each_bound_refuses_one_past_the_limit_and_admits_the_limit(make, limit, message):
    at_limit = {"pickle opcodes": limit - 2}.get(message, limit)  # PROTO and the last NONE count as opcodes
    assert safe_load.loads_pickle(make(at_limit)) is None
    with pytest.raises(safe_load.Refused, match=f"more than {limit:,} .*{message}|{message}.* {limit:,}"):
        safe_load.loads_pickle(make(at_limit + 2))


def test_open_marks_count_towards_the_stack_limit():
    with pytest.raises(safe_load.Refused, match="stack limit"):
        safe_load.loads_pickle(crafted.p2(b"(" * (DEFAULT_LIMITS.max_stack + 1)))


def test_a_1000_tree_forest_stays_inside_every_bound(tmp_path):
    X = nab_rows()[::10]
    forest = train(0, trees=1000, samples=64)
    for protocol in (2, 5):
        loaded = safe_load.loads_pickle(pickle.dumps(forest, protocol=protocol))
        assert np.array_equal(loaded.score_samples(X[:50]), forest.score_samples(X[:50]))


@pytest.mark.parametrize("protocol", [2, 5])
@pytest.mark.parametrize("kind", ["HistGradientBoostingRegressor", "HistGradientBoostingClassifier"])
def test_honest_hist_gradient_boosting_models_load(kind, protocol):
    import sklearn.ensemble

    X = nab_rows()[::20]
    model = getattr(sklearn.ensemble, kind)(max_iter=5, random_state=0).fit(X, X[:, 0] > np.median(X[:, 0]))
    loaded = safe_load.loads_pickle(pickle.dumps(model, protocol=protocol))
    assert np.array_equal(loaded.predict(X), model.predict(X))


def test_joblib_compressed_honest_model_still_loads(tmp_path):
    forest = train(2, trees=20, samples=64)
    path = tmp_path / "m.joblib"
    joblib.dump(forest, path, compress=3)
    X = nab_rows()[:50]
    assert np.array_equal(safe_load.load(path, "joblib").score_samples(X), forest.score_samples(X))


@pytest.mark.parametrize("kind", ["csr_matrix", "csc_matrix", "coo_matrix"])
def test_honest_sparse_matrices_load_under_the_path_scipy_pickles_them_with(kind):
    import scipy.sparse

    matrix = getattr(scipy.sparse, kind)(np.array([[1.0, 0.0], [0.0, 2.0]]))
    data = pickle.dumps(matrix, protocol=5)
    assert f"scipy.sparse._{kind[:3]}".encode() in data
    loaded = safe_load.loads_pickle(data)
    assert type(loaded) is type(matrix) and (loaded != matrix).nnz == 0


def test_estimator_classes_of_sklearns_own_test_modules_are_refused_unimported():
    """sklearn.tests.test_base.T is a BaseEstimator subclass: the estimator rule would admit it, importing
    a test module (and pytest) on the way. A fresh interpreter shows the module is never imported."""
    data = crafted.p2(crafted.glob("sklearn.tests.test_base", "T") + b")R")
    script = ("import sys; from module.updates import safe_load\n"
              f"try:\n    safe_load.loads_pickle({data!r})\nexcept safe_load.Refused as exc:\n    print('REFUSED', exc)\n"
              "print('IMPORTED' if 'sklearn.tests.test_base' in sys.modules else 'NOT IMPORTED')\n")
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "REFUSED the model file names sklearn.tests.test_base.T, which is not on the allow-list" in run.stdout
    assert run.stdout.rstrip().endswith("NOT IMPORTED")


@pytest.mark.parametrize("data, callee", [
    (crafted.codec("rot13"), "_codecs.encode"),
    (crafted.codec("..os"), "_codecs.encode"),
    (crafted.huge_reconstruct(), "numpy.core.multiarray._reconstruct"),
    (crafted.ndarray_called(), "numpy.ndarray"),
    (crafted.ndarray_newobj(), "numpy.ndarray"),
    (crafted.bytes_of(10**12), "builtins.bytes"),
    (crafted.ndarray_inst(), "numpy.ndarray"),
    (crafted.bytes_by_keyword(10**12), "builtins.bytes"),
    (crafted.tree_of_outputs(10**9), "sklearn.tree._tree.Tree"),
], ids=["rot13 codec", "dotted codec", "_reconstruct of a terabyte", "ndarray(shape)", "ndarray.__new__",
        "bytes(terabyte)", "INST ndarray", "bytes(source=terabyte)", "Tree of a billion outputs"])
def test_allowed_callables_only_get_the_arguments_honest_files_give_them(data, callee):
    with pytest.raises(safe_load.Refused, match=f"calls {callee} with arguments no honest model file uses"):
        safe_load.loads_pickle(data)


def test_protocol_2_bytes_and_arrays_still_load():
    value = {"b": b"\x00\xffbytes", "a": np.arange(6.0).reshape(2, 3), "s": np.float64(2.5)}
    loaded = safe_load.loads_pickle(pickle.dumps(value, protocol=2))
    assert loaded["b"] == value["b"] and np.array_equal(loaded["a"], value["a"]) and loaded["s"] == 2.5


@pytest.mark.parametrize("fmt", ["pickle-2", "pickle-5", "skops"])
def test_a_column_transformer_pipeline_loads(fmt, tmp_path):
    """ColumnTransformer keeps slices and one-hot categories: within every bound and the allow-list."""
    import skops.io as sio
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler

    X = nab_rows()[::10].copy()
    X[:, -1] = np.arange(len(X)) % 3
    columns = ColumnTransformer([("num", StandardScaler(), [0, 1]), ("range", MinMaxScaler(), slice(1, 3)),
                                 ("cat", OneHotEncoder(), [X.shape[1] - 1])])
    model = make_pipeline(columns, train(0, trees=20, samples=64).set_params(random_state=0)).fit(X)
    path = tmp_path / "m"
    if fmt == "skops":
        sio.dump(model, path)
    else:
        path.write_bytes(pickle.dumps(model, protocol=int(fmt[-1])))
    loaded = safe_load.load(path, fmt.split("-")[0])
    assert np.array_equal(loaded.score_samples(X), model.score_samples(X))


SMALL = PickleLimits(max_unpacked_bytes=1 << 20)


def test_a_joblib_array_that_would_unpack_past_the_limit_is_refused_before_it_is_allocated(tmp_path):
    path = tmp_path / "zeros.joblib"
    joblib.dump(np.zeros(SMALL.max_unpacked_bytes // 8 + 1), path, compress=3)
    assert path.stat().st_size < 64 << 10
    with pytest.raises(safe_load.Refused, match="array of 1,048,584 bytes would unpack past the 1,048,576-byte"):
        safe_load.load_joblib(path, limits=SMALL)


def test_a_joblib_stream_that_inflates_past_the_limit_is_refused(tmp_path):
    path = tmp_path / "bytes.joblib"
    joblib.dump({"blob": bytes(2 * SMALL.max_unpacked_bytes)}, path, compress=3)
    assert path.stat().st_size < 64 << 10
    with pytest.raises(safe_load.Refused, match="unpacks to more than 1,048,576 bytes"):
        safe_load.load_joblib(path, limits=SMALL)


@pytest.mark.parametrize("compress", [0, 3])
def test_the_default_joblib_limit_admits_an_honest_model(tmp_path, compress):
    forest = train(3, trees=50, samples=256)
    path = tmp_path / "m.joblib"
    joblib.dump(forest, path, compress=compress)
    X = nab_rows()[:50]
    assert np.array_equal(safe_load.load(path, "joblib").score_samples(X), forest.score_samples(X))
    assert DEFAULT_LIMITS.max_unpacked_bytes == 256 << 20
