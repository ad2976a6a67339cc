"""The restricted loaders: a pickle, joblib or skops file that tries to run code never runs."""

from __future__ import annotations

import io

import joblib
import numpy as np
import pytest
import skops.io as sio

from module.updates import safe_load
from module.updates.allowlist import BUILTIN_GLOBALS

from .conftest import settle, train
from .malicious import Reduce, payloads, section_for


@pytest.mark.parametrize("name", list(payloads(__import__("pathlib").Path("/nonexistent"))))
def test_malicious_pickle_update_is_refused_and_never_runs(start_agent, tmp_path, name):
    marker = tmp_path / "marker"
    agent = start_agent()
    before = agent.slot.current
    agent.handle_desired({"model": section_for(payloads(marker)[name], "6"), "$version": 1})
    state = settle(agent)
    assert state["status"] == "failed" and state["error"].startswith("load: ")
    assert "not on the allow-list" in state["error"]
    assert not marker.exists()
    assert agent.slot.current is before
    models = agent.settings.agent.data_dir / "models"
    assert not (models / "pointers.json").exists() and not (models / "6").exists()


def test_malicious_joblib_is_refused(tmp_path):
    import os

    marker = tmp_path / "marker"
    path = tmp_path / "evil.joblib"
    joblib.dump({"model": Reduce(os.system, f"touch {marker}")}, path)
    with pytest.raises(safe_load.Refused, match="not on the allow-list"):
        safe_load.load(path, "joblib")
    assert not marker.exists()


def test_joblib_object_array_is_refused_before_joblib_reads_it_with_plain_pickle(tmp_path):
    import os

    marker = tmp_path / "marker"
    path = tmp_path / "evil.joblib"
    joblib.dump(np.array([Reduce(os.system, f"touch {marker}")], dtype=object), path)
    with pytest.raises(safe_load.Refused, match="array of Python objects"):
        safe_load.load(path, "joblib")
    assert not marker.exists()


def test_skops_with_an_untrusted_function_is_refused(tmp_path):
    from sklearn.preprocessing import FunctionTransformer

    path = tmp_path / "evil.skops"
    sio.dump(FunctionTransformer(func=os_system()), path)
    with pytest.raises(safe_load.Refused, match="TypeNode of posix.system, which is not on the allow-list"):
        safe_load.load(path, "skops")


def os_system():
    import os

    return os.system


@pytest.mark.parametrize("fmt", ["pickle", "joblib", "skops"])
def test_real_models_load_in_every_format(tmp_path, fmt):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from .conftest import nab_rows

    X = nab_rows()[::100]
    model = make_pipeline(StandardScaler(), train(4)).fit(X)
    path = tmp_path / f"m.{fmt}"
    {"pickle": lambda: path.write_bytes(__import__("pickle").dumps(model)),
     "joblib": lambda: joblib.dump(model, path, compress=3),
     "skops": lambda: sio.dump(model, path)}[fmt]()
    loaded = safe_load.load(path, fmt)
    assert np.array_equal(loaded.score_samples(X), model.score_samples(X))


def test_allowed_globals_setting_extends_the_list(tmp_path):
    import collections
    import pickle

    data = pickle.dumps(collections.OrderedDict(a=1))
    assert "collections.OrderedDict" not in BUILTIN_GLOBALS
    with pytest.raises(safe_load.Refused):
        safe_load.loads_pickle(data)
    assert safe_load.loads_pickle(data, ["collections.OrderedDict"]) == {"a": 1}


def test_truncated_pickle_is_a_clear_load_error(tmp_path):
    import pickle

    path = tmp_path / "cut.pkl"
    path.write_bytes(pickle.dumps(train(1))[:500])
    with pytest.raises(safe_load.Refused, match="cannot load the pickle file"):
        safe_load.load(path, "pickle")


def test_restricted_unpickler_refuses_from_a_stream():
    import os
    import pickle

    with pytest.raises(safe_load.Refused):
        safe_load.RestrictedUnpickler(io.BytesIO(pickle.dumps(Reduce(os.getcwd))), frozenset()).load()
