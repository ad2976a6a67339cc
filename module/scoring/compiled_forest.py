"""The compiled IsolationForest scorer: scikit-learn's scores, bit for bit, without its per-call floor.

scikit-learn's `IsolationForest.score_samples` walks its trees one by one in Python, about 14-40 ms per
call for 100 trees however few the rows. Telemetry arrives one message at a time, so that floor sets the
agent's latency. The compiled evaluator (forest_arrays.py packs the trees, forest_walk.py walks them all
at once) reproduces scikit-learn 1.2.1's arithmetic exactly. It serves a model only after it matched
scikit-learn bit for bit on the canary rows and a fixed set of generated rows (forest_rows.py); for any
difference, an estimator it does not support or a scikit-learn it does not know, scikit-learn serves the
model and the reason is reported (LoadedModel.scorer_reason, GET /model). A malformed tree
(tree_structure.Malformed) is never handed to scikit-learn: it refuses the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .forest_arrays import Unsupported, check_version, pack
from .forest_check import CostModel, Mismatch, measure, same_bits
from .forest_code import NotGenerated, RowCode
from .forest_rows import generated_rows
from .forest_steps import Step, prefix_steps
from .forest_walk import ForestWalk
from .tree_structure import Malformed

NAME = "compiled-forest"
F32_MAX = float(np.finfo(np.float32).max)
#: Up to this many rows a call goes through the generated one-row code (a message or a small list).
FEW_ROWS = 4


@dataclass(frozen=True)
class Compiled:
    """A candidate evaluator for one estimator, not yet checked against scikit-learn."""

    forest: Any  # the IsolationForest (the final step of a pipeline)
    walk: Any  # .score(float64 rows in the forest's input space) -> scores; ForestWalk
    steps: tuple[Step, ...]  # the pipeline's transformers, applied in order
    transformers: tuple[Any, ...]  # the fitted transformers themselves (their inverse makes check rows)
    width: int
    description: str

    def score(self, X: np.ndarray) -> np.ndarray:
        for step in self.steps:
            X = step(X)
        return self.walk.score(X)


def compile_estimator(estimator: Any) -> Compiled:
    """An IsolationForest, or a Pipeline of transformers ending in one; raises Unsupported otherwise."""
    from sklearn.ensemble import IsolationForest
    from sklearn.pipeline import Pipeline

    transformers: list[Any] = []
    forest = estimator
    if type(estimator) is Pipeline:
        transformers = [t for _, t in estimator.steps[:-1] if t is not None and t != "passthrough"]
        forest = estimator.steps[-1][1]
    if type(forest) is not IsolationForest:
        what = type(forest).__name__ if forest is estimator else f"a Pipeline ending in {type(forest).__name__}"
        raise Unsupported(f"the compiled scorer supports IsolationForest (alone or ending a Pipeline), not {what}")
    steps, described = prefix_steps(transformers)
    walk = ForestWalk(pack(forest))
    width = int(getattr(estimator, "n_features_in_", walk.arrays.width))
    trees = f"IsolationForest of {walk.arrays.n_trees} trees"
    return Compiled(forest, walk, tuple(steps), tuple(transformers), width, " -> ".join([*described, trees]))


class CompiledForestScorer:
    """Serves one model: the compiled evaluator where it is known faster, scikit-learn everywhere else.

    Batches scikit-learn would refuse (NaN, infinities, values beyond float32, the wrong width or dtype)
    go to scikit-learn, so they fail with scikit-learn's own error, as they would without this scorer.
    """

    name = NAME

    def __init__(self, compiled: Compiled, plain: Any, cost: CostModel, rows: RowCode | None = None):
        self._compiled = compiled
        self._plain = plain
        self.cost = cost
        self._rows = rows
        """The generated one-row code (forest_code.py), for a forest without transformers, when built."""

    def cheap_for(self, rows: int) -> bool:
        """True when `rows` are walked by the compiled evaluator (microseconds a row, no per-call floor),
        so the caller may score them on its own thread instead of handing them to the batcher."""
        return self.cost.prefers_compiled(rows)

    def score(self, X: np.ndarray) -> np.ndarray:
        if (
            not isinstance(X, np.ndarray)
            or X.dtype != np.float64
            or X.ndim != 2
            or X.shape[1] != self._compiled.width
            or not len(X)  # scikit-learn's own error for no rows (the walk's max() would raise numpy's)
            or not self.cost.prefers_compiled(len(X))
        ):
            return self._plain.score(X)
        if self._rows is not None and len(X) <= FEW_ROWS:  # built only for a forest without transformers
            values = X.tolist()
            # The float32-range check below, in Python on a few values (NaN fails `<=` too)
            if all(abs(v) <= F32_MAX for row in values for v in row):
                return self._rows.score(values)
            return self._plain.score(X)
        Xt = X
        if self._compiled.steps:
            if not np.isfinite(X).all():
                return self._plain.score(X)
            for step in self._compiled.steps:
                Xt = step(Xt)
        # Finite, and finite in float32 too, in one pass: NaN and infinities fail `<=` as well. No cast
        # under np.errstate (that costs more than the check): a value within float32's range casts to
        # a finite float32; one beyond it goes to scikit-learn, which scores it (or refuses it) itself.
        if not np.abs(Xt).max() <= F32_MAX:
            return self._plain.score(X)
        return self._compiled.walk.score(Xt)


def _finite_rows(rows: np.ndarray | None, width: int) -> np.ndarray:
    """Finite float64 rows of the model's width out of whatever the caller gave (canary inputs)."""
    if rows is None:
        return np.empty((0, width))
    rows = np.asarray(rows, dtype=np.float64)
    if rows.size == 0 or rows.size % width:
        return np.empty((0, width))
    rows = rows.reshape(-1, width)
    return rows[np.isfinite(rows).all(axis=1)]


def _scorable(compiled: Compiled, rows: np.ndarray | None) -> np.ndarray:
    """The rows scikit-learn can score: finite, and finite in float32 once through the transformers
    (one refused row would make scikit-learn refuse the whole check batch)."""
    rows = _finite_rows(rows, compiled.width)
    with np.errstate(all="ignore"):
        ahead = rows
        for step in compiled.steps:
            ahead = step(ahead)
        keep = np.isfinite(np.asarray(ahead, dtype=np.float64).astype(np.float32)).all(axis=1)
    return rows[keep]


def _inverse(compiled: Compiled, forest_rows: np.ndarray) -> np.ndarray | None:
    """Generated rows mapped back through the transformers' inverses, when they all have one."""
    rows = forest_rows
    with np.errstate(all="ignore"):
        try:
            for transformer in reversed(compiled.transformers):
                rows = transformer.inverse_transform(rows)
        except (AttributeError, ValueError, TypeError):
            return None
    return rows


def check_rows_for(compiled: Compiled, check_rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(rows in the model's input space, rows in the forest's input space) the candidate is checked on."""
    forest_rows = generated_rows(compiled.walk.arrays)
    model_rows = forest_rows if not compiled.steps else _inverse(compiled, forest_rows)
    return np.concatenate([_scorable(compiled, check_rows), _scorable(compiled, model_rows)]), forest_rows


def choose(
    estimator: Any,
    plain_scorer: Any,
    check_rows: np.ndarray | None,
    *,
    sklearn_version: str | None = None,
    compiler: Callable[[Any], Compiled] = compile_estimator,
    generate: Callable[[Any], RowCode] | None = RowCode.build,
) -> tuple[Any, str]:
    """(scorer, reason): the compiled scorer when it is exact and faster, else `plain_scorer`.

    `sklearn_version` (default: the running one) and `compiler` are seams for tests: a fake version
    proves the guard, and a compiler returning a deliberately wrong evaluator proves the check.
    `generate` builds the one-row code (forest_code.py); None skips it (the trial child: it checks the
    model, it never serves, and the live process builds and checks the code itself).
    """
    try:
        check_version(sklearn_version)
        compiled = compiler(estimator)
        rows, forest_rows = check_rows_for(compiled, check_rows)
        with np.errstate(all="ignore"):  # sklearn's finiteness check overflows on the extreme rows
            if compiled.steps:
                same_bits("forest", compiled.walk.score, compiled.forest.score_samples, forest_rows)
            same_bits("model", compiled.score, plain_scorer.score, rows)
            cost = measure(compiled.score, plain_scorer.score, rows)
    except (Unsupported, Mismatch) as exc:
        return plain_scorer, f"served by scikit-learn: {exc}"
    except Malformed:
        raise  # scikit-learn would walk the same broken tree (out of bounds, or forever): refuse the model
    except Exception as exc:  # a fault in building the evaluator must never stop a model from loading
        return plain_scorer, f"served by scikit-learn: the compiled scorer failed to build: {exc!r}"
    if cost.never_compiled():
        return plain_scorer, f"served by scikit-learn: the compiled scorer is exact but slower here ({cost.describe()})"
    row_code, rows_said = _row_code(compiled, rows, generate) if generate else (None, "one-row code not generated here")
    reason = (f"{compiled.description}; matched scikit-learn bit for bit on {len(rows)} check rows; {rows_said}; "
              f"{cost.describe()}")
    return CompiledForestScorer(compiled, plain_scorer, cost, row_code), reason


def _row_code(compiled: Compiled, rows: np.ndarray, builder: Callable[[Any], RowCode]) -> tuple[RowCode | None, str]:
    """The generated one-row code when it gives the walk's bits on every check row one by one, else None;
    and what to say about it. The walk (already matched against scikit-learn) is the reference."""
    if compiled.steps:
        return None, "one row at a time through the walk (the transformers are numpy)"
    try:
        code = builder(compiled.walk.arrays)
        values = rows[np.abs(rows).max(axis=1, initial=0.0) <= F32_MAX]
        want = compiled.walk.score(values)
        got = np.array([code.score([row])[0] for row in values.tolist()], dtype=np.float64)
        if got.tobytes() != want.tobytes():
            first = int(np.flatnonzero(got != want)[0])
            return None, f"one-row code differs from the walk on check row {first}, not used"
    except NotGenerated as exc:
        return None, f"one row at a time through the walk: {exc}"
    return code, f"one-row code generated, same bits on all {len(values)} rows"
