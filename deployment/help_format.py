"""`--help` that reads like the docstrings it comes from: each paragraph of a description or epilog is
wrapped on its own (argparse's default joins them all into one), and lines already indented (examples,
lists) are kept as written."""

from __future__ import annotations

import argparse
import re
import textwrap

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


class ParagraphHelpFormatter(argparse.HelpFormatter):
    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = _PARAGRAPH_BREAK.split(textwrap.dedent(text).strip())
        return "\n\n".join(self._fill_paragraph(p, width, indent) for p in paragraphs)

    @staticmethod
    def _fill_paragraph(paragraph: str, width: int, indent: str) -> str:
        if all(line.startswith((" ", "\t")) for line in paragraph.splitlines()):
            return "\n".join(indent + line for line in paragraph.splitlines())  # an example: as written
        return textwrap.fill(" ".join(paragraph.split()), width, initial_indent=indent, subsequent_indent=indent)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose help keeps paragraphs (and so every command's, as add_subparsers' parser_class)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", ParagraphHelpFormatter)
        super().__init__(*args, **kwargs)
