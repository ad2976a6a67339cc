"""Section: the compiled forest scorer beside scikit-learn's own score_samples, in-process, same model.

The per-batch-size rows come from bench/bench_compiled.py (the compiled scorer's own benchmark) when it
is in the tree; the one-row ratio that the target names is measured here on the embedded default.
"""

from __future__ import annotations

import importlib
from importlib.util import find_spec

from . import workload
from .context import Context, row, target
from .stats import median_call_ms, summary

NAME = "compiled"
TITLE = "Compiled forest scorer vs scikit-learn (in-process)"
ONE_ROW_GOAL = 50.0


def _one_row(ctx: Context) -> tuple[list[dict], list[dict]]:
    from module.scoring.scorer import build_scorer

    model, x = workload.model(), workload.features()[:1]
    scorer, reason = build_scorer(model, compiled=True)
    calls = (20, 2000) if ctx.quick else (60, 20000)
    sk, comp = [], []
    for _ in range(ctx.trials):
        sk.append(median_call_ms(model.score_samples, x, calls[0]))
        comp.append(median_call_ms(scorer.score, x, calls[1]))
    rows = [
        row("one row, 100 trees (median call)", "scikit-learn score_samples", {"ms": summary(sk)}),
        row("one row, 100 trees (median call)", f"agent scorer ({scorer.name})", {"ms": summary(comp)}, reason),
    ]
    x_ratio = summary(sk)["median"] / summary(comp)["median"]
    met = x_ratio >= ONE_ROW_GOAL if scorer.name != "sklearn" else False
    t = target("compiled one-row scoring / scikit-learn (speed-up)", f">= {ONE_ROW_GOAL:g}x", x_ratio, met,
               f"{x_ratio:.0f}x")
    return rows, [t]


def _helper_rows(ctx: Context) -> list[dict]:
    """bench_compiled.run(quick) -> list of dicts; numbers become metrics, the rest names the row."""
    if find_spec("bench.bench_compiled") is None:
        return []
    out = []
    for d in importlib.import_module("bench.bench_compiled").run(ctx.quick):
        if "metrics" in d:
            out.append(row(str(d.get("case", "")), str(d.get("subject", "")), d["metrics"], d.get("note", "")))
            continue
        names = {k: v for k, v in d.items() if not isinstance(v, (int, float)) or isinstance(v, bool)}
        metrics = {k: v for k, v in d.items() if k not in names}
        case = names.pop("case", None) or ", ".join(f"{k} {v}" for k, v in names.items() if k != "subject")
        out.append(row(str(case), str(names.get("subject", names.get("scorer", ""))), metrics))
    return out


def run(ctx: Context) -> dict:
    rows, targets = _one_row(ctx)
    rows += _helper_rows(ctx)
    return {"rows": rows, "targets": targets}
