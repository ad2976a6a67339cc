"""What every section gets: quick or full, its scratch folder, and how many trials to repeat."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class Context:
    quick: bool
    workdir: Path

    @property
    def trials(self) -> int:
        return 1 if self.quick else 3

    def folder(self, name: str) -> Path:
        path = self.workdir / name
        path.mkdir(parents=True, exist_ok=True)
        return path


def row(case: str, subject: str, metrics: dict, note: str = "") -> dict:
    """One table row: metrics are summaries ({"median", "min", "max", "trials"}) or plain numbers."""
    out = {"case": case, "subject": subject, "metrics": metrics}
    if note:
        out["note"] = note
    return out


def target(name: str, goal: str, measured: float | None, met: bool | None, shown: str | None = None) -> dict:
    return {
        "name": name,
        "target": goal,
        "measured": measured,
        "shown": shown if shown is not None else ("n/a" if measured is None else f"{measured:.3g}"),
        "met": met,
    }
