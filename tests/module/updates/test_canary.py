"""The canary and the width check run on the new model before the swap; a failure leaves the old one."""

from __future__ import annotations

import copy
import pickle

import numpy as np
from sklearn.ensemble import IsolationForest

from deployment.bundling import build_bundle

from .conftest import nab_rows, settle


def _apply(agent, section):
    before = agent.slot.current
    agent.handle_desired({"model": section, "$version": 1})
    return before, settle(agent)


def test_expected_scores_outside_the_tolerance_are_refused(start_agent, bundle):
    b = bundle("2")
    section = copy.deepcopy(b.section)
    section["canary"]["expected"]["0"] = repr(float(section["canary"]["expected"]["0"]) + 1e-3)
    agent = start_agent()
    before, state = _apply(agent, section)
    assert state["status"] == "failed" and state["error"].startswith("canary: canary row 0")
    assert agent.slot.current is before
    assert not (agent.settings.agent.data_dir / "models" / "2").exists()


def test_a_difference_inside_the_tolerance_passes(start_agent, bundle):
    b = bundle("2")
    section = copy.deepcopy(b.section)
    section["canary"]["expected"]["0"] = repr(float(section["canary"]["expected"]["0"]) + 1e-3)
    section["canary"]["tolerance"] = 1e-2
    agent = start_agent()
    _, state = _apply(agent, section)
    assert state["status"] == "active" and agent.slot.current.version == "2"


def test_canary_rows_of_the_wrong_width_are_refused(start_agent, bundle):
    b = bundle("2")
    section = copy.deepcopy(b.section)
    section["canary"]["inputs"]["0"] = "[1, 2, 3]"
    agent = start_agent()
    before, state = _apply(agent, section)
    assert state["status"] == "failed" and state["error"].startswith("canary: ")
    assert agent.slot.current is before


def test_a_model_of_another_input_width_is_refused(start_agent, tmp_path):
    path = tmp_path / "three.pkl"
    path.write_bytes(pickle.dumps(IsolationForest(n_estimators=3, max_samples=16, random_state=0)
                                  .fit(nab_rows()[::50, :3])))
    b = build_bundle(path, "3", tmp_path / "b3")
    agent = start_agent()
    before, state = _apply(agent, b.section)
    assert state["status"] == "failed"
    assert "model expects 3 input features but scoring.features has 4" in state["error"]
    assert agent.slot.current is before


def test_a_model_that_raises_when_it_scores_is_refused(start_agent):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from .malicious import section_for

    X = nab_rows()[::50]
    model = make_pipeline(StandardScaler(), IsolationForest(n_estimators=3, max_samples=16, random_state=0)).fit(X)
    model.steps[0][1].scale_ = np.zeros(4)  # every row becomes inf: scikit-learn raises on it
    agent = start_agent()
    before, state = _apply(agent, section_for(pickle.dumps(model), "4"))
    assert state["status"] == "failed" and state["error"].startswith("canary: the model raised on the canary")
    assert agent.slot.current is before


def test_non_finite_scores_are_refused():
    import pytest

    from module.errors import UpdateError
    from module.scoring.slot import LoadedModel
    from module.updates import canary

    class NanScorer:
        name = "nan"

        def score(self, X):
            return np.full(len(X), np.nan)

    model = LoadedModel("9", "", "pickle", None, NanScorer(), 4, 0.0, "update")
    with pytest.raises(UpdateError, match="non-finite") as info:
        canary.run(model, None, 4)
    assert info.value.stage == "canary"
