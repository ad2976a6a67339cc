"""The detectors bench section, tiny: every detector of scikit-learn's outlier guide, alone and in a
Pipeline, as pickle and skops, loads through the allow-list and gets a scorer and a latency."""

from __future__ import annotations

from bench import detectors, report
from bench.context import Context


def test_every_detector_form_and_format_gets_a_row_with_its_scorer(tmp_path):
    result = detectors.run(Context(True, tmp_path))
    rows = {(r["case"], r["subject"].split(":")[0]): r for r in result["rows"]}
    assert len(rows) == len(detectors.detectors()) * 2 * 2  # alone/pipeline x pickle/skops
    for (case, fmt), r in rows.items():
        scorer = r["subject"].split(": ", 1)[1]
        assert scorer.startswith("compiled") if case.startswith("IsolationForest") else scorer == "scikit-learn", r
        assert r["metrics"]["ms"]["median"] > 0
    assert ("LocalOutlierFactor(novelty=True), kd_tree, in Pipeline(scaler, PCA)", "skops") in rows
    assert "| IsolationForest (100 trees) | pickle: compiled (compiled-forest) |" in "\n".join(
        report.section_table(result))
