"""`python bench/bench_compiled.py [--quick]`: the compiled forest scorer vs scikit-learn, same model, same run.

The model is the agent's embedded default (IsolationForest, 100 trees, NAB-derived features). For each
batch size both paths score the same rows; a trial times a series of calls and keeps the median call,
and the table shows the median over trials with the spread (min..max). The compiled column is the
scorer the agent would serve (build_scorer), so it includes the per-batch-size choice of path.
Writes bench/results/compiled.json; `run(quick)` returns the rows for the overall benchmark (python -m bench).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a plain script from anywhere
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import sklearn  # noqa: E402

from module.models import nab  # noqa: E402
from module.scoring.scorer import build_scorer  # noqa: E402

BATCHES = (1, 8, 64, 1_000)
RESULTS = ROOT / "bench" / "results" / "compiled.json"
#: Seconds of calls per trial and path (the slow path needs at least a few calls for a median).
BUDGET_S = {True: 0.15, False: 0.6}
TRIALS = {True: 2, False: 5}
MIN_CALLS = 3


def _median_call(score, rows: np.ndarray, budget_s: float) -> float:
    """Median seconds per call over as many calls as fit the budget (at least MIN_CALLS)."""
    times, spent = [], 0.0
    while len(times) < MIN_CALLS or spent < budget_s:
        started = time.perf_counter()
        score(rows)
        times.append(time.perf_counter() - started)
        spent += times[-1]
    return statistics.median(times)


def _summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "trials": [round(v, 6) for v in values]}


def _measure(score, rows: np.ndarray, quick: bool) -> dict:
    calls = [_median_call(score, rows, BUDGET_S[quick]) for _ in range(TRIALS[quick])]
    return {"ms_per_call": _summary([c * 1e3 for c in calls]), "rows_per_s": _summary([len(rows) / c for c in calls])}


def run(quick: bool) -> list[dict]:
    """One dict per (batch size, path): case, subject, metrics (summaries), note."""
    model = nab.train_forest()
    rows = nab.to_features(nab.load_series()[1])
    scorer, reason = build_scorer(model, compiled=True, check_rows=rows[:16])
    out = []
    for batch in BATCHES:
        x = np.ascontiguousarray(rows[:batch])
        if not np.array_equal(scorer.score(x), model.score_samples(x)):
            raise AssertionError(f"compiled scores differ from scikit-learn's at batch {batch}")
        plain = _measure(model.score_samples, x, quick)
        fast = _measure(scorer.score, x, quick)
        speedup = plain["ms_per_call"]["median"] / fast["ms_per_call"]["median"]
        case = f"batch of {batch} rows, 100 trees"
        out.append({"case": case, "subject": "scikit-learn score_samples", "metrics": plain})
        out.append({"case": case, "subject": f"agent scorer ({scorer.name})",
                    "metrics": {**fast, "speedup": round(speedup, 1)},
                    "note": reason if batch == 1 else ""})
    return out


def _spread(m: dict, fmt: str) -> str:
    return f"{format(m['median'], fmt)} ({format(m['min'], fmt)}..{format(m['max'], fmt)})"


def render(rows: list[dict]) -> str:
    lines = [f"{'batch':>6}  {'path':<32}{'ms per call (min..max)':>30}{'rows/s (min..max)':>34}{'speed-up':>10}"]
    for r in rows:
        m = r["metrics"]
        batch = r["case"].split()[2]
        speed = f"{m['speedup']:.1f}x" if "speedup" in m else ""
        lines.append(f"{batch:>6}  {r['subject']:<32}{_spread(m['ms_per_call'], '.3f'):>30}"
                     f"{_spread(m['rows_per_s'], ',.0f'):>34}{speed:>10}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds: 2 trials of short series")
    args = parser.parse_args(argv)
    rows = run(args.quick)
    doc = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "quick": args.quick,
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "load_average": [round(x, 2) for x in os.getloadavg()], "python": platform.python_version(),
                    "scikit-learn": sklearn.__version__, "numpy": np.__version__},
        "rows": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(render(rows))
    print(f"\nscorer: {rows[1]['note']}")
    print(f"written: {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
