"""The features bench section, quick: every row it promises, with numbers, from real agents and the real
feature state. Speeds are reported by the bench, never asserted here."""

from __future__ import annotations

import math

import pytest

from bench import features_path, report
from bench.context import Context

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return features_path.run(Context(True, tmp_path_factory.mktemp("features-bench")))


def rows_by(result: dict) -> dict:
    return {(r["case"], r["subject"]): r["metrics"] for r in result["rows"]}


def test_per_message_rows_cover_point_wise_and_every_partition_count(result):
    rows = rows_by(result)
    for what in ("one message through score_messages", "feature row only"):
        point = [m for (c, s), m in rows.items() if c.startswith(what) and s == features_path.POINT_WISE]
        assert len(point) == 1 and point[0]["median_us"]["median"] > 0
        for partitions in ("1 partition", "10 partitions", "100 partitions"):
            hits = [m for (c, s), m in rows.items()
                    if c.startswith(what) and c.endswith(f", {partitions}") and s == features_path.WINDOWED]
            assert len(hits) == 1 and hits[0]["median_us"]["median"] > 0, (what, partitions)


def test_memory_row_counts_the_raw_history_each_partition_holds(result):
    (memory,) = [m for (c, _), m in rows_by(result).items() if c.startswith("memory per warm partition")]
    # mean/std over 12 and max over 12 hold 12 values each; ewma(0.2) keeps its 21-message warm-up.
    assert memory["raw_values_held"] == 12 + 12 + 21 and memory["fields"] == 3
    assert 45 * 8 < memory["bytes_per_partition"] < 1_000_000


def test_http_and_edge_rows_and_the_throughput_targets(result):
    rows = rows_by(result)
    for subject in (features_path.POINT_WISE, features_path.WINDOWED):
        single = rows[(f"HTTP single message, concurrency {features_path.CONCURRENCY}", subject)]
        assert single["rps"]["median"] > 0 and single["failed"] == 0
        assert rows[(f"HTTP list of {features_path.BATCH:,} messages", subject)]["msgs_per_s"]["median"] > 0
    for subject in (features_path.POINT_WISE, features_path.WINDOWED):
        burst = rows[("edgeHub path, burst of 100", subject)]
        assert burst["msgs_per_s"]["median"] > 0 and burst["unscored"] == 0
    goals = [t for t in result["targets"] if t["target"] == ">= 90%"]
    assert len(goals) == 3 and all(t["met"] in (True, False) and math.isfinite(t["measured"]) for t in goals)
    assert "| memory per warm partition over 100 partitions (tracemalloc) |" in "\n".join(report.section_table(result))


def test_the_section_is_registered():
    from bench.__main__ import SECTIONS

    assert SECTIONS["features"] == "bench.features_path"
