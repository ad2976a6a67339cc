"""Fixtures for the update tests: small real models, bundles made by the real bundler, a started agent."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from deployment.bundling import build_bundle
from module.agent import Agent
from module.models import nab
from module.settings import load
from tests.helpers.waiting import wait_for  # noqa: F401  (the update tests import it from here)


def nab_rows() -> np.ndarray:
    _, values = nab.load_series()
    return nab.to_features(values)


def train(seed: int, trees: int = 3, samples: int = 16) -> IsolationForest:
    return IsolationForest(n_estimators=trees, max_samples=samples, random_state=seed).fit(nab_rows()[::50])


@pytest.fixture
def model_file(tmp_path) -> Callable[..., Path]:
    def make(seed: int = 1, name: str | None = None, **kw) -> Path:
        path = tmp_path / (name or f"model-{seed}.pkl")
        path.write_bytes(pickle.dumps(train(seed, **kw), protocol=5))
        return path

    return make


@pytest.fixture
def bundle(tmp_path, model_file):
    """bundle(version, seed=..., **build_bundle options) -> Bundle made by deployment.bundling."""

    def make(version: str, seed: int = 1, trees: int = 3, samples: int = 16, **kw):
        path = model_file(seed, name=f"m-{version}-{seed}.pkl", trees=trees, samples=samples)
        return build_bundle(path, version, tmp_path / "bundles" / version, **kw)

    return make


_EMBEDDED: dict = {}


def _cached_embedded_default(self):
    """The embedded default is deterministic; training it once per test process keeps these tests quick."""
    kind = self.settings.agent.embedded_model
    if kind not in _EMBEDDED:
        _EMBEDDED[kind] = _REAL_EMBEDDED(self)
    return _EMBEDDED[kind]


_REAL_EMBEDDED = Agent.load_embedded_default


@pytest.fixture
def start_agent(tmp_path, monkeypatch):
    """start_agent(updates={...}, http=False, data_dir=None) -> a started local Agent; stopped afterwards."""
    agents = []
    monkeypatch.setattr(Agent, "load_embedded_default", _cached_embedded_default)

    def start(updates: dict | None = None, http: bool = False, data_dir: Path | None = None, host="127.0.0.1",
              scoring: dict | None = None, http_settings: dict | None = None,
              default_model: str | None = None) -> Agent:
        overrides = {
            "agent": {"data_dir": data_dir or tmp_path / "data", "local": True, "default_model": default_model},
            "http": {"enabled": http, "host": host, "port": 0, **(http_settings or {})},
            "updates": {"baked_model_dir": tmp_path / "no-baked", "retries": 3, "backoff_base_s": 0.05,
                        "backoff_max_s": 0.2, "connect_timeout_s": 2, "read_timeout_s": 2, **(updates or {})},
        }
        if scoring:
            overrides["scoring"] = scoring
        agent = Agent(load(environ={}, overrides=overrides))
        agent.start(local=True)
        agents.append(agent)
        return agent

    yield start
    for agent in agents:
        agent.stop()


def model_state(agent) -> dict:
    return agent.reported.snapshot("model")


def settle(agent, timeout: float = 30.0) -> dict:
    """Waits until the reconciler is idle; returns the reported model state."""
    assert agent.updater.reconciler.wait_idle(timeout), "update did not finish"
    return model_state(agent)


def desired_of(b, **changes) -> dict:
    section = json.loads(json.dumps(b.section))
    section.update(changes)
    return section
