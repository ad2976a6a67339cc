"""An inline update end to end, and desired sections of every bad kind: reported, nothing else changes."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from module.updates import safe_load

from .conftest import desired_of, nab_rows, settle


def test_inline_update_swaps_and_scores_equal_the_new_models_own(start_agent, bundle):
    b = bundle("2", seed=7)
    assert b.inline
    agent = start_agent()
    agent.handle_desired({"model": b.section, "$version": 1})
    state = settle(agent)
    assert state["status"] == "active" and state["version"] == "2" and state.get("error") is None
    assert state["sha256"] == b.manifest["sha256"]
    assert agent.slot.current.version == "2" and agent.slot.current.source == "update"
    own = safe_load.load(b.directory / "model.pkl", "pickle")
    X = nab_rows()[:300]
    assert np.array_equal(agent.service.score_matrix(X).scores, own.score_samples(X))
    assert (agent.settings.agent.data_dir / "models" / "2" / "model.pkl").is_file()


def test_same_desired_again_is_a_no_op(start_agent, bundle):
    b = bundle("2")
    agent = start_agent()
    agent.handle_desired({"model": b.section, "$version": 1})
    settle(agent)
    first = agent.slot.current
    agent.handle_desired({"model": b.section, "$version": 2})
    settle(agent)
    assert agent.slot.current is first


def _sections(b) -> dict:
    good = b.section
    chunks = good["inline"]["chunks"]
    return {
        "not an object": [1, 2],
        "a string": "version 3",
        "missing sha256": {k: v for k, v in good.items() if k != "sha256"},
        "bad sha256": desired_of(b, sha256="xyz"),
        "size not a number": desired_of(b, size="big"),
        "negative size": desired_of(b, size=-1),
        "size over max_model_bytes": desired_of(b, size=10**12),
        "unknown format": desired_of(b, format="onnx"),
        "version with a slash": desired_of(b, version="../etc"),
        "version a list": desired_of(b, version=["3"]),
        "version ending in a newline": desired_of(b, version="3\n"),
        "sha256 ending in a newline": desired_of(b, sha256=good["sha256"] + "\n"),
        "both url and inline": desired_of(b, url="https://example.invalid/m.zst"),
        "neither url nor inline": desired_of(b, inline=None),
        "url not http": desired_of(b, url="file:///etc/passwd", inline=None),
        "url the bundler's placeholder": desired_of(b, url="https://REPLACE-WITH-YOUR-HOST/models/3/payload.zst",
                                                    inline=None),
        "unknown key": desired_of(b, colour="blue"),
        "inline wrong encoding": desired_of(b, inline={"encoding": "gzip", "chunks": chunks}),
        "inline chunks not object": desired_of(b, inline={"encoding": "zstd+base64", "chunks": "abc"}),
        "inline chunk not string": desired_of(b, inline={"encoding": "zstd+base64", "chunks": {"0": 5}}),
        "inline chunk over 4 KB": desired_of(b, inline={"encoding": "zstd+base64", "chunks": {"0": "A" * 4097}}),
        "canary not object": desired_of(b, canary="yes"),
        "canary keys differ": desired_of(b, canary={"inputs": {"0": "[1,2,3,4]"}, "expected": {"1": 0.1}}),
        "negative tolerance": desired_of(b, canary={**good["canary"], "tolerance": -1}),
        "rollback not bool": desired_of(b, rollback="maybe"),
        "runtime not object": desired_of(b, runtime="sklearn"),
    }


@pytest.mark.parametrize("case", [
    "not an object", "a string", "missing sha256", "bad sha256", "size not a number", "negative size",
    "size over max_model_bytes", "unknown format", "version with a slash", "version a list",
    "version ending in a newline", "sha256 ending in a newline", "both url and inline",
    "neither url nor inline", "url not http", "url the bundler's placeholder", "unknown key", "inline wrong encoding", "inline chunks not object",
    "inline chunk not string", "inline chunk over 4 KB", "canary not object", "canary keys differ",
    "negative tolerance", "rollback not bool", "runtime not object",
])
def test_bad_desired_section_is_reported_and_changes_nothing(start_agent, bundle, case):
    b = bundle("3")
    agent = start_agent()
    before = agent.slot.current
    data_dir = agent.settings.agent.data_dir / "models"
    agent.handle_desired({"model": copy.deepcopy(_sections(b)[case]), "$version": 1})
    state = settle(agent)
    assert state["status"] == "failed"
    assert state["error"].startswith("validate: model")
    assert agent.slot.current is before
    assert not (data_dir / "3").exists()
    assert not list(data_dir.glob(".staging-*"))
