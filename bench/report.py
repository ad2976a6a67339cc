"""The table (Markdown, so it pastes into docs/benchmarks.md as is) and the JSON written under bench/results/."""

from __future__ import annotations

import json
from pathlib import Path

from .machine import one_line

RESULTS = Path(__file__).resolve().parent / "results"

UNITS = {
    "rps": "req/s", "msgs_per_s": "msg/s", "p50_ms": "p50 ms", "p99_ms": "p99 ms", "ms": "ms",
    "rows_per_s": "rows/s", "pct_of_60MB": "% of 60 MB", "swaps_done": "swaps", "swap_s": "slowest swap s",
    "p99_steady_ms": "p99 steady ms", "p99_swap_ms": "p99 in swaps ms", "requests": "requests", "failed": "failed", "unscored": "unscored", "bytes": "bytes", "cpu_ms_per_msg": "CPU ms/msg", "outputs_per_1000": "outputs/1,000 in",
    "calls": "hub calls", "tag_calls": "tagging calls", "wall_s": "wall s", "s1_floor_s": "S1 throttle floor s",
    "jobs": "jobs", "ready_s": "ready s", "rss_ready_mb": "RSS at ready MB", "rss_mb": "RSS MB", "peak_rss_mb": "peak RSS MB",
}


def _number(x: float) -> str:
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) >= 1000):
        return f"{int(x):,}"
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def cell(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, dict):
        med = value.get("median")
        if med is None:
            return "–"
        text = _number(med)
        if len(value.get("trials", [])) > 1:
            text += f" ({_number(value['min'])}–{_number(value['max'])})"
        return text
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return _number(value)
    return str(value)


def section_table(result: dict) -> list[str]:
    rows = result.get("rows", [])
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r["metrics"] if k not in keys]
    head = ["case", "subject", *(UNITS.get(k, k) for k in keys)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["case"], r["subject"], *(cell(r["metrics"].get(k)) for k in keys)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def targets_table(targets: list[dict]) -> list[str]:
    lines = ["| target | goal | measured | met |", "|---|---|---|---|"]
    for t in targets:
        met = "n/a" if t["met"] is None else ("met" if t["met"] else "**missed**")
        lines.append(f"| {t['name']} | {t['target']} | {t['shown']} | {met} |")
    return lines


def render(doc: dict) -> str:
    end = doc["machine"].get("load_average_at_end")
    out = [f"Benchmark {doc['started']} ({'quick' if doc['quick'] else 'full'} run, {doc['seconds']:.0f} s)",
           f"Machine: {one_line(doc['machine'])}" + (f", at end {end}" if end else ""), ""]
    for name, result in doc["sections"].items():
        out.append(f"### {result.get('title', name)}")
        if "skipped" in result:
            out += [f"skipped: {result['skipped']}", ""]
            continue
        if "error" in result:
            out += [f"error: {result['error']}", ""]
            continue
        out += section_table(result)
        out += [f"- {n}" for n in result.get("notes", [])]
        out.append("")
    targets = [t for r in doc["sections"].values() for t in r.get("targets", [])]
    if targets:
        out += ["### Targets", *targets_table(targets), ""]
    out.append("Cells: median over trials (min–max across trials when more than one).")
    return "\n".join(out)


def main(argv=None) -> int:
    """`python -m bench.report [FILE]`: print the table of a results JSON again (default: latest.json)."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else RESULTS / "latest.json"
    print(render(json.loads(path.read_text(encoding="utf-8"))))
    return 0


def write(doc: dict, results_dir: Path = RESULTS) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, indent=2, sort_keys=False) + "\n"
    path = results_dir / f"{doc['started'].replace(':', '').replace('-', '')}.json"
    path.write_text(text, encoding="utf-8")
    (results_dir / "latest.json").write_text(text, encoding="utf-8")
    return path


if __name__ == "__main__":
    raise SystemExit(main())
