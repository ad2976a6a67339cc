"""`python -m deployment <command>`: the operator's commands, one module each under commands/."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import commands
from .errors import OperatorError
from .help_format import Parser


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m deployment", description=__doc__.split(":", 1)[1].strip())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{info.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except OperatorError as exc:  # a clear message and a documented exit code, not a traceback
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
