"""NormalEnvelope: one row scores in Python floats with exactly the bits the numpy path gives."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from module.models import embedded
from module.models.envelope import NormalEnvelope


@pytest.fixture(scope="module")
def model() -> NormalEnvelope:
    return embedded.train()


def _rows(model: NormalEnvelope, n: int = 3000) -> np.ndarray:
    """Rows inside, at the edge of and far outside every trained range, with the relation kept and broken."""
    rng = np.random.default_rng(7)
    span = model.high_ - model.low_
    rows = model.low_ + span * rng.uniform(-1.5, 2.5, size=(n, len(span)))
    rows[: n // 3] = model.low_ + span * rng.uniform(0, 1, size=(n // 3, len(span)))
    rows[n // 3: n // 2, 1] = model.lines_[0, 0] + model.lines_[0, 1] * rows[n // 3: n // 2, 0]  # on the line
    rows[-5:] = np.array([model.low_, model.high_, model.low_ - 1e300, model.high_ + 1e300, -model.low_])
    return rows


def test_one_row_at_a_time_gives_the_same_bits_as_the_whole_batch(model):
    rows = _rows(model)
    batch = model.score_samples(rows)  # the numpy path
    one_by_one = np.concatenate([model.score_samples(r[None, :]) for r in rows])
    assert np.isfinite(batch).all() and (batch < 0).any() and (batch == 0).any()
    assert one_by_one.tobytes() == batch.tobytes()


def test_a_row_with_nan_or_infinity_keeps_the_numpy_answer(model):
    row = model.low_.copy()
    for bad in (np.nan, np.inf, -np.inf):
        row[2] = bad
        alone, in_batch = model.score_samples(row[None, :]), model.score_samples(np.vstack([row, row]))
        assert alone.tobytes() == in_batch[:1].tobytes()


def test_a_zero_margin_keeps_numpys_answer_instead_of_raising():
    X = np.array([[0.0, 0.0], [1.0, 2.0], [2.0, 4.0]])
    model = NormalEnvelope(margins=(0.0, 1.0), relations=((1, 0),), relation_margins=(0.0,)).fit(X)
    with np.errstate(all="ignore"):
        alone = model.score_samples([[3.0, 1.0]])
        batch = model.score_samples([[3.0, 1.0], [3.0, 1.0]])
    assert alone.tobytes() == batch[:1].tobytes() and np.isinf(alone[0])


def test_the_float_cache_built_by_scoring_is_not_pickled(model):
    model.score_samples(model.low_[None, :])
    assert "_floats" in model.__dict__
    again = pickle.loads(pickle.dumps(model))
    assert "_floats" not in again.__dict__
    assert again.score_samples(model.high_[None, :]).tobytes() == model.score_samples(model.high_[None, :]).tobytes()
