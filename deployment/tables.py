"""Plain aligned text tables and a one-line progress display, for output a person reads in a terminal."""

from __future__ import annotations

import re
import sys
from typing import Any, Iterable, Sequence, TextIO

_AMOUNT = re.compile(r"^-?\$?[\d,]+(\.\d+)?%?$")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Columns padded to their widest cell; numbers right-aligned so their digits line up."""
    raw_rows = [list(row) for row in rows]
    text_rows = [[_cell(v) for v in row] for row in raw_rows]
    widths = [len(h) for h in headers]
    for row in text_rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    numeric = [_numeric_column([r[i] for r in raw_rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        parts = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric)]
        return "  ".join(parts).rstrip()

    out = [line(list(headers)), line(["-" * w for w in widths])]
    out.extend(line(row) for row in text_rows)
    return "\n".join(out)


def _numeric_column(values: list[Any]) -> bool:
    """Numbers, and text that reads as an amount ("$16.49", "0.0229"), are right-aligned."""
    present = [v for v in values if v is not None]
    return bool(present) and all(
        (isinstance(v, (int, float)) and not isinstance(v, bool)) or (isinstance(v, str) and _AMOUNT.match(v))
        for v in present)


class ProgressLine:
    """One status line on stderr: rewritten in place on a terminal, printed only when it changes elsewhere
    (so a CI log shows each step once instead of a wall of repeats)."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.last = ""
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def update(self, text: str) -> None:
        if text == self.last:
            return
        if self.tty:
            self.stream.write("\r" + text.ljust(len(self.last)))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self.last = text

    def done(self) -> None:
        if self.tty and self.last:
            self.stream.write("\n")
            self.stream.flush()


def bar(done: int, total: int, width: int = 20) -> str:
    filled = 0 if total <= 0 else round(width * done / total)
    return "[" + "#" * filled + "." * (width - filled) + "]"
