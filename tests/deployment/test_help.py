"""Every command's --help reads cleanly: description and epilog keep their paragraphs, the epilog is a
block of its own after the options (never run into the last option's text), and lines fit the terminal."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

import pytest

from deployment.__main__ import build_parser
from module.__main__ import parse_args
from tests.helpers.shown_commands import ROOT

WIDTH = 80


def command_parsers() -> dict[str, argparse.ArgumentParser]:
    top = build_parser()
    sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    return {"python -m deployment": top, **{f"python -m deployment {n}": p for n, p in sub.choices.items()}}


def paragraphs(text: str) -> list[str]:
    return [" ".join(block.split()) for block in re.split(r"\n\s*\n", text.strip()) if block.strip()]


@pytest.fixture(autouse=True)
def terminal_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", str(WIDTH))


@pytest.mark.parametrize("name", list(command_parsers()))
def test_help_keeps_paragraphs_and_sets_the_epilog_apart(name):
    parser = command_parsers()[name]
    shown = parser.format_help()
    blocks = paragraphs(shown)
    for source in (parser.description, parser.epilog):
        for paragraph in paragraphs(source or ""):
            assert paragraph in blocks, f"{name}: paragraph run into another block: {paragraph[:60]}"
    if parser.epilog:
        last_option = [a for a in parser._actions if a.help and a.help != argparse.SUPPRESS][-1]
        options_block = next(b for b in blocks if " ".join(last_option.help.split()) in b)
        assert not any(p in options_block for p in paragraphs(parser.epilog)), f"{name}: epilog in the options"
        assert blocks.index(options_block) < blocks.index(paragraphs(parser.epilog)[0])
    after_usage = shown.split("\n\n", 1)[1]  # argparse keeps a mutually exclusive group on one usage line
    too_long = [line for line in after_usage.splitlines() if len(line) > WIDTH and " " in line.strip()]
    assert not too_long, f"{name}: lines wider than {WIDTH}: {too_long}"


def test_the_agent_help_reads_cleanly(capsys):
    with pytest.raises(SystemExit) as done:
        parse_args(["--help"])
    assert done.value.code == 0
    shown = capsys.readouterr().out
    assert "Score telemetry with a model delivered by module twin or tiny image layer." in paragraphs(shown)
    assert all(len(line) <= WIDTH for line in shown.splitlines())


def test_bundle_help_from_the_shell_ends_with_its_own_paragraphs():
    done = subprocess.run([sys.executable, "-m", "deployment", "bundle", "--help"], cwd=ROOT, capture_output=True,
                          text=True, env={"COLUMNS": str(WIDTH), "PATH": "/usr/bin:/bin"}, timeout=60)
    assert done.returncode == 0, done.stderr
    blocks = paragraphs(done.stdout)
    assert blocks[-1].startswith("Next: python -m deployment publish")
    assert blocks[-2].startswith("The bundle directory holds manifest.json")
    assert blocks[-3].endswith("one JSON document on stdout; the prose goes to stderr")
