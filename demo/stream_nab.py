"""Stream the NAB machine-temperature series through a running agent's HTTP API; summarise and plot it.

    .venv/bin/python demo/stream_nab.py --url http://127.0.0.1:8080 --out demo-out/

Each NAB reading becomes a SimulatedTemperatureSensor message (module/models/nab.py), sent in lists of
--batch to POST /score, one list after the other and each in series order, all under one X-Partition
header: the series is one sensor, so a windowed model (demo/nab_update.py) sees one history in order.
The partition is new on every run (`nab-<time>`, or --partition), so a second run never continues the
first one's history. Prints how many were scored and flagged, how many of NAB's labelled failure windows
hold a flag and how many flags fall outside them (and their share of the readings outside); writes the
score over time as a PNG.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import requests  # noqa: E402

from module.models import nab  # noqa: E402

PNG_NAME = "nab_scores.png"


@dataclass
class Run:
    times: list[datetime]
    temperatures: list[float]
    scores: list[float | None]
    flags: list[bool]
    errors: int
    cold: int
    threshold: float | None
    model_version: str | None
    windows: list[tuple[datetime, datetime]]
    partition: str


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default="http://127.0.0.1:8080", help="the agent's HTTP address")
    p.add_argument("--out", type=Path, default=Path("demo-out"), help="directory for the PNG and scores.csv")
    p.add_argument("--batch", type=int, default=1000, help="messages per POST /score (a JSON list)")
    p.add_argument("--limit", type=int, help="stream only the first N readings")
    p.add_argument("--partition", help="the X-Partition header (whose history the readings join); "
                                       "default: nab-<UTC time>, a fresh history per run")
    return p.parse_args(argv)


def fresh_partition() -> str:
    return "nab-" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%f")


def stream(url: str, batch: int, limit: int | None, partition: str) -> Run:
    stamps, values = nab.load_series()
    rows = nab.to_features(values)[:limit]  # mapped over the whole series: its seeded columns stay the same
    stamps, values = stamps[:limit], values[:limit]
    times = [datetime.strptime(s, "%Y-%m-%d %H:%M:%S") for s in stamps]
    scores: list[float | None] = []
    flags: list[bool] = []
    errors, cold, threshold, version = 0, 0, None, None
    with requests.Session() as http:
        http.headers["X-Partition"] = partition
        for start in range(0, len(rows), batch):
            body = [
                {**nab.to_message(row, times[start + i].strftime("%Y-%m-%dT%H:%M:%S.0000000Z")), "id": start + i}
                for i, row in enumerate(rows[start: start + batch])
            ]
            response = http.post(url.rstrip("/") + "/score", json=body, timeout=120)
            if response.status_code != 200:
                raise SystemExit(f"POST /score answered {response.status_code}: {response.text[:300]}")
            for sent, result in zip(body, response.json()):
                assert result.get("id") == sent["id"], "results come back in the order sent"
                errors += "error" in result
                cold += result.get("warm") is False
                scores.append(result.get("score"))
                flags.append(bool(result.get("anomaly")))
                threshold = result.get("threshold", threshold)
                version = result.get("model_version", version)
    windows = [w for w in nab.load_windows() if times and w[0] <= times[-1]]
    return Run(times, list(values), scores, flags, errors, cold, threshold, version, windows, partition)


def summarise(run: Run, url: str, batch: int) -> list[str]:
    flagged = [t for t, f in zip(run.times, run.flags) if f]
    inside = [any(a <= t <= b for a, b in run.windows) for t in flagged]
    lines = [
        f"streamed {len(run.times):,} NAB readings ({run.times[0]:%Y-%m-%d %H:%M} .. {run.times[-1]:%Y-%m-%d %H:%M}) "
        f"to {url} in lists of up to {batch:,}, partition {run.partition}",
        f"model {run.model_version}, threshold {run.threshold:.4f} (anomaly when score < threshold; lower = more anomalous)",
        f"messages scored:              {len(run.times) - run.errors:,} (errors: {run.errors}, not warm: {run.cold})",
        f"anomalies flagged:            {len(flagged):,}",
        f"labelled windows with a flag: {sum(_window_flags(run, w) > 0 for w in run.windows)} of {len(run.windows)}",
    ]
    for i, window in enumerate(run.windows, 1):
        hits = [t for t in flagged if window[0] <= t <= window[1]]
        first = f", first {hits[0]:%Y-%m-%d %H:%M}" if hits else ""
        lines.append(f"  window {i}: {window[0]:%Y-%m-%d %H:%M} .. {window[1]:%Y-%m-%d %H:%M}  {len(hits):4d} flags{first}")
    outside = sum(not any(a <= t <= b for a, b in run.windows) for t in run.times)
    lines.append(f"flags outside the windows:    {inside.count(False):,} of {outside:,} readings "
                 f"({inside.count(False) / max(outside, 1):.2%})")
    return lines


def _window_flags(run: Run, window: tuple[datetime, datetime]) -> int:
    return sum(f and window[0] <= t <= window[1] for t, f in zip(run.times, run.flags))


def plot(run: Run, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(13, 6.5), sharex=True, gridspec_kw={"height_ratios": [1, 1.3]})
    flagged = [(t, v, s) for t, v, s, f in zip(run.times, run.temperatures, run.scores, run.flags) if f]
    top.plot(run.times, run.temperatures, lw=0.6, color="#444444", label="NAB reading")
    bottom.plot(run.times, [s if s is not None else float("nan") for s in run.scores], lw=0.6, color="#1f77b4",
                label="score (lower = more anomalous)")
    if flagged:
        top.scatter([f[0] for f in flagged], [f[1] for f in flagged], s=9, color="#d62728", zorder=3, label="flagged")
        bottom.scatter([f[0] for f in flagged], [f[2] for f in flagged], s=9, color="#d62728", zorder=3, label="flagged")
    for ax in (top, bottom):
        for i, (a, b) in enumerate(run.windows):
            ax.axvspan(a, b, color="#ff9900", alpha=0.25, lw=0, label="NAB labelled window" if i == 0 else None)
    if run.threshold is not None:
        bottom.axhline(run.threshold, color="#d62728", ls="--", lw=1, label=f"threshold {run.threshold:.3f}")
    top.set_ylabel("machine temperature")
    bottom.set_ylabel("anomaly score")
    top.set_title(f"NAB machine temperature scored by the agent (model {run.model_version})")
    legend = {}
    for ax in (top, bottom):  # one legend under the plots, where it hides no data
        for handle, label in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(label, handle)
    fig.legend(legend.values(), legend.keys(), loc="lower center", ncol=len(legend), fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_csv(run: Run, path: Path) -> None:
    with path.open("w", encoding="utf-8") as fh:
        fh.write("timestamp,temperature,score,anomaly\n")
        for t, v, s, f in zip(run.times, run.temperatures, run.scores, run.flags):
            fh.write(f"{t:%Y-%m-%d %H:%M:%S},{v!r},{'' if s is None else repr(s)},{int(f)}\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run = stream(args.url, args.batch, args.limit, args.partition or fresh_partition())
    except requests.ConnectionError:
        print(f"error: no agent answers at {args.url}; start one with: .venv/bin/python -m module --local",
              file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    png = args.out / PNG_NAME
    plot(run, png)
    write_csv(run, args.out / "scores.csv")
    print("\n".join(summarise(run, args.url, args.batch)))
    print(f"wrote {png} and {args.out / 'scores.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
