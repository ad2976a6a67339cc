"""Inline models in twin chunks: key order, bad base64, a missing chunk, the twin budget."""

from __future__ import annotations

import base64

import pytest

from deployment.bundling import desired_section, fits_inline
from module.updates.section import CHUNK_CHARS, INLINE_BUDGET

from .conftest import desired_of, settle


def _chunks(text: str, size: int = 1000) -> dict:
    return {str(i): text[o: o + size] for i, o in enumerate(range(0, len(text), size))}


def _text(b) -> str:
    chunks = b.section["inline"]["chunks"]
    return "".join(chunks[k] for k in sorted(chunks, key=int) if chunks[k] is not None)


def _apply(start_agent, b, chunks: dict):
    """A started agent given bundle `b` with these inline chunks: (agent, the model before, reported state)."""
    agent = start_agent()
    before = agent.slot.current
    agent.handle_desired({"model": desired_of(b, inline={"encoding": "zstd+base64", "chunks": chunks}), "$version": 1})
    return agent, before, settle(agent)


def test_chunks_listed_out_of_order_are_assembled_in_key_order(start_agent, bundle):
    b = bundle("2")
    chunks = _chunks(_text(b))
    assert len(chunks) >= 3
    shuffled = {k: chunks[k] for k in reversed(list(chunks))}
    assert list(shuffled) != sorted(shuffled, key=int)
    agent, _, state = _apply(start_agent, b, shuffled)
    assert state["status"] == "active" and agent.slot.current.version == "2"


def test_bad_base64_is_refused(start_agent, bundle):
    b = bundle("2")
    chunks = _chunks(_text(b))
    chunks["1"] = "!!" + chunks["1"][2:]
    agent, before, state = _apply(start_agent, b, chunks)
    assert state["status"] == "failed" and "not valid base64" in state["error"]
    assert agent.slot.current is before


def test_a_missing_chunk_is_refused_before_anything_is_decoded(start_agent, bundle):
    b = bundle("2")
    chunks = _chunks(_text(b))
    del chunks["1"]
    agent, before, state = _apply(start_agent, b, chunks)
    assert state["status"] == "failed" and "missing [1]" in state["error"]
    assert agent.slot.current is before


def test_truncated_chunks_fail_verification(start_agent, bundle):
    b = bundle("2")
    text = _text(b)
    chunks = _chunks(text[: len(text) // 2 // 4 * 4])
    _, _, state = _apply(start_agent, b, chunks)
    assert state["status"] == "failed" and state["error"].startswith("verify: ")


def test_inline_over_the_twin_budget_is_refused(start_agent, bundle):
    b = bundle("2")
    big = "A" * (INLINE_BUDGET + 4)
    chunks = {str(i): big[o: o + CHUNK_CHARS] for i, o in enumerate(range(0, len(big), CHUNK_CHARS))}
    agent, before, state = _apply(start_agent, b, chunks)
    assert state["status"] == "failed" and "over the twin budget" in state["error"]
    assert agent.slot.current is before


@pytest.mark.parametrize("raw_len", [INLINE_BUDGET // 4 * 3, INLINE_BUDGET // 4 * 3 + 3])
def test_bundler_inlines_exactly_up_to_the_budget(raw_len):
    payload = b"x" * raw_len
    manifest = {"version": "1", "format": "pickle", "sha256": "0" * 64, "size": 1}
    section, inline = desired_section(manifest, payload)
    assert inline == (len(base64.b64encode(payload)) <= INLINE_BUDGET) == fits_inline(payload)
    if inline:
        assert all(len(c) <= CHUNK_CHARS for c in section["inline"]["chunks"].values())
        assert section["url"] is None
    else:
        assert section["inline"] is None and section["url"].startswith("https://")
