"""The benchmark's own arithmetic and output: summaries over trials, the table, the JSON files."""

from __future__ import annotations

import json

from bench import machine, report
from bench.context import row, target
from bench.httpclient import scored
from bench.stats import percentile_ms, ratio, summary


def test_summary_is_median_and_spread_over_trials_that_produced_a_number():
    s = summary([3.0, None, 1.0, 2.0])
    assert (s["median"], s["min"], s["max"], s["trials"]) == (2.0, 1.0, 3.0, [3.0, 1.0, 2.0])
    assert summary([None])["median"] is None


def test_percentiles_are_in_milliseconds_and_ratio_guards_zero():
    assert percentile_ms([0.001] * 99 + [0.1], 50) == 1.0
    assert percentile_ms([], 99) is None
    assert ratio(10, 0) is None and ratio(None, 2) is None and ratio(10, 4) == 2.5


def test_scored_needs_a_200_with_a_score_for_every_item():
    assert scored(200, b'{"score": -0.4, "model_version": "1"}')
    assert scored(200, b'[{"score": 1}, {"score": 2}]')
    assert not scored(200, b'[{"score": 1}, {"error": "x"}]')
    assert not scored(503, b'{"score": 1}')
    assert not scored(200, b"not json")


def _doc(sections: dict) -> dict:
    return {"started": "2026-01-02T03:04:05Z", "quick": True, "seconds": 1.0, "machine": machine.describe(),
            "sections": sections, "targets": [t for s in sections.values() for t in s.get("targets", [])]}


def test_render_shows_rows_spread_targets_and_broken_sections():
    ok = {"title": "HTTP", "rows": [row("c 1", "agent", {"rps": summary([90, 110, 100]), "failed": 0})],
          "targets": [target("agent / naive", ">= 5x", 7.0, True, "7.0x"),
                      target("rss", "<= 150 MB", 161.0, False, "161 MB")]}
    text = report.render(_doc({"http": ok, "edgehub": {"title": "edge", "error": "RuntimeError: boom"},
                               "bytes": {"title": "bytes", "skipped": "no registry"}}))
    assert "| c 1 | agent | 100 (90.0–110) | 0 |" in text
    assert "| agent / naive | >= 5x | 7.0x | met |" in text and "| rss | <= 150 MB | 161 MB | **missed** |" in text
    assert "error: RuntimeError: boom" in text and "skipped: no registry" in text
    assert "cores" in text and "Python" in text


def test_write_keeps_a_timestamped_copy_beside_latest(tmp_path):
    doc = _doc({})
    path = report.write(doc, tmp_path)
    assert path.name == "20260102T030405Z.json"
    assert json.loads((tmp_path / "latest.json").read_text()) == json.loads(path.read_text()) == doc
