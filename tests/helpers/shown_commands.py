"""The commands and answers the documentation shows, read from the pages themselves, so the tests follow
the docs: fenced ```sh blocks, `curl` examples with the `# [status] {json}` answer under them, and a
comparison that is exact where the page shows every digit and rounds where the page rounds."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
_STATUS = re.compile(r"^(\d{3}) ")


def sh_blocks(page: Path) -> list[str]:
    return [body for lang, body in _FENCE.findall(page.read_text(encoding="utf-8")) if lang == "sh"]


@dataclass(frozen=True)
class Shown:
    """A float as the page shows it: compared to as many decimals as the page gives."""

    text: str

    def matches(self, actual: Any) -> bool:
        if isinstance(actual, bool) or not isinstance(actual, (int, float)):
            return False
        if repr(float(actual)) == self.text:
            return True
        decimals = len(self.text.split(".")[1]) if "." in self.text else 0
        return f"{actual:.{decimals}f}" == self.text


@dataclass(frozen=True)
class CurlExample:
    page: str
    command: str
    method: str
    url: str
    headers: dict[str, str]
    data: str | None
    status: int
    answer: Any  # the JSON shown, floats as Shown

    def request_url(self, base: str) -> str:
        return re.sub(r"^(https?://)?localhost:8080", base, self.url)


def _split_complete(lines: list[str], start: int) -> tuple[list[str], int]:
    """The shell words of the command starting at lines[start] (it may span lines inside quotes)."""
    text = ""
    for end in range(start, len(lines)):
        text += lines[end] + "\n"
        try:
            return shlex.split(text, comments=True), end + 1
        except ValueError:  # an open quote: the command goes on
            continue
    raise ValueError(f"unterminated command: {text[:80]}")


def _curl(words: list[str]) -> tuple[str, str, dict[str, str], str | None]:
    method, url, headers, data = "GET", "", {}, None
    it = iter(words[1:])
    for word in it:
        if word.startswith("-X"):
            method = word[2:] or next(it)
        elif word == "-H":
            name, _, value = next(it).partition(":")
            headers[name.strip()] = value.strip()
        elif word == "-d":
            data = next(it)
            method = "POST" if method == "GET" else method
        elif word.startswith("-"):
            continue
        else:
            url = word
    return method, url, headers, data


def curl_examples(page: Path) -> list[CurlExample]:
    """Every `curl` whose answer is shown as JSON in `#` lines under it (other curls are not examples)."""
    found = []
    for block in sh_blocks(page):
        lines = block.splitlines()
        i = 0
        while i < len(lines):
            if not lines[i].startswith("curl "):
                i += 1
                continue
            words, i = _split_complete(lines, i)
            if "|" in words:  # piped into another program: its output is not the answer
                continue
            answer_lines = []
            while i < len(lines) and lines[i].startswith("#"):
                answer_lines.append(lines[i][1:].strip())
                i += 1
            text = " ".join(answer_lines)
            status = 200
            if match := _STATUS.match(text):
                status, text = int(match.group(1)), text[match.end():]
            try:
                answer = json.loads(text, parse_float=Shown)
            except ValueError:
                continue  # an elided answer ("{..., ...}"): prose, not a value to check
            method, url, headers, data = _curl(words)
            found.append(CurlExample(page.name, " ".join(words), method, url, headers, data, status, answer))
    return found


def mismatches(shown: Any, actual: Any, where: str = "$") -> list[str]:
    """Where `actual` differs from what the page shows (same keys, same order of list items)."""
    if isinstance(shown, Shown):
        return [] if shown.matches(actual) else [f"{where}: page shows {shown.text}, got {actual!r}"]
    if isinstance(shown, dict):
        if not isinstance(actual, dict) or set(shown) != set(actual):
            got = sorted(actual) if isinstance(actual, dict) else actual
            return [f"{where}: page shows keys {sorted(shown)}, got {got}"]
        return [m for key in shown for m in mismatches(shown[key], actual[key], f"{where}.{key}")]
    if isinstance(shown, list):
        if not isinstance(actual, list) or len(shown) != len(actual):
            return [f"{where}: page shows {len(shown)} items, got {actual!r}"]
        return [m for n, (s, a) in enumerate(zip(shown, actual)) for m in mismatches(s, a, f"{where}[{n}]")]
    if shown == actual and type(shown) is type(actual):
        return []
    return [f"{where}: page shows {shown!r}, got {actual!r}"]
