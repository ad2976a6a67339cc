"""The scores the running agent returns over HTTP for the whole NAB series equal scikit-learn's own, exactly."""

import numpy as np
import pytest
import requests

from module.models import nab
from tests.helpers.local_agent import in_process

BATCH = 1000


@pytest.mark.slow
@pytest.mark.parametrize("compiled", [True, False], ids=["compiled-if-chosen", "sklearn"])
def test_http_scores_equal_offline_score_samples(tmp_path, compiled):
    timestamps, values = nab.load_series()
    X = nab.to_features(values)
    forest = nab.train_forest()  # a fresh fit: the seeded default is the same model the agent serves
    offline = forest.score_samples(X)
    threshold = None
    got: list[float] = []
    with in_process(tmp_path, scoring={"compiled": compiled}, agent={"default_model": "nab-forest"}) as agent, requests.Session() as http:
        assert agent.slot.current.version == nab.FOREST_VERSION
        for start in range(0, len(X), BATCH):
            body = [nab.to_message(row, timestamps[start + i]) for i, row in enumerate(X[start:start + BATCH])]
            response = http.post(agent.url + "/score", json=body, timeout=60)
            assert response.status_code == 200, response.text
            results = response.json()
            assert len(results) == len(body)
            got.extend(r["score"] for r in results)
            threshold = results[0]["threshold"]
            assert all(r["model_version"] == nab.FOREST_VERSION for r in results)
            assert [r["anomaly"] for r in results] == [r["score"] < threshold for r in results]
    assert len(got) == len(X) == 22695
    assert np.array_equal(np.array(got), offline)  # ==, not approx
    assert got == offline.tolist()
    assert threshold == forest.offset_
