"""Snapshots: an atomic JSON round trip; a corrupt or foreign snapshot is discarded, never loaded."""

import json

import numpy as np
import pytest

from module.features import FeatureState, parse_spec
from module.features import snapshot

SPEC = parse_spec({"columns": ["v", "mean(v, 5)", "std(v, 5)", "max(v, 30s)", "ewma(v, 0.3)", "lag(v, 2)"],
                   "time": "t"})


def fill(state, n, start=0):
    rng = np.random.default_rng(start)
    return [state.update(SPEC, f"p{i % 3}", {"v": float(rng.normal()), "t": float(i)}, arrival=float(i))
            for i in range(start, start + n)]


def test_round_trip_continues_bit_for_bit(tmp_path):
    path = tmp_path / snapshot.FILE_NAME
    uninterrupted = FeatureState(idle_ttl_s=None)
    fill(uninterrupted, 40)
    expected = fill(uninterrupted, 20, start=40)

    before = FeatureState(idle_ttl_s=None)
    fill(before, 40)
    assert snapshot.save(before, path, owner="dev/mod") == 3
    after = FeatureState(idle_ttl_s=None)
    after.require(SPEC)
    assert snapshot.load(after, path, owner="dev/mod")
    assert fill(after, 20, start=40) == expected
    assert not list(tmp_path.glob(".*.tmp"))  # the temp file was renamed into place


@pytest.mark.parametrize("damage", [
    lambda text: text[: len(text) // 2],  # cut by a power loss
    lambda text: "not json",
    lambda text: text.replace('"edgemodelagent.features.snapshot"', '"someone.else"'),
    lambda text: text.replace('"owner":"dev/mod"', '"owner":"other/mod"'),
    lambda text: text.replace('"version":1', '"version":9'),
    lambda text: text.replace('"raw":[[', '"raw":[["x",', 1),
    lambda text: text.replace('"count":', '"count":-', 1),
    lambda text: text.replace('"raw":[[', '"raw":[[NaN,', 1),
    lambda text: json.dumps({"format": "edgemodelagent.features.snapshot", "version": 1, "owner": "dev/mod",
                             "partitions": [["p", {"fields": {"v": {"raw": [[0, 1]] * 20000, "count": 20000}}}]]}),
])
def test_a_corrupt_or_foreign_snapshot_is_discarded(tmp_path, damage, caplog):
    path = tmp_path / snapshot.FILE_NAME
    state = FeatureState()
    fill(state, 10)
    snapshot.save(state, path, owner="dev/mod")
    path.write_text(damage(path.read_text()))
    fresh = FeatureState()
    with caplog.at_level("WARNING"):
        assert snapshot.load(fresh, path, owner="dev/mod") is False
    assert len(fresh.partitions) == 0
    assert any("feature snapshot discarded" in r.getMessage() for r in caplog.records)


def test_no_snapshot_is_no_error(tmp_path):
    assert snapshot.load(FeatureState(), tmp_path / "absent.json", owner="x") is False
