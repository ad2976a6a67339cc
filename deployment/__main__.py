"""`python -m deployment <command>`: the operator's commands, one module each under commands/."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
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
    if not getattr(args, "json", False):
        return _run(args)
    # --json: one document on stdout (the command's `args.result`, its exit code and why); everything a
    # person reads, progress included, goes to stderr.
    out, args.result, args.error = sys.stdout, {}, None
    with contextlib.redirect_stdout(sys.stderr):
        code = _run(args)
    document = {"command": args.command, **(args.result or {}), "exit_code": code,
                "exit_reason": EXIT_REASONS.get(code, "see error")}
    if args.error:
        document["error"] = args.error
    print(json.dumps(document, indent=1, default=str), file=out)
    return code


#: What each exit code means, in the --json document (the README's operator guide lists the same).
EXIT_REASONS = {0: "ok", 1: "a device failed or a rollout gate was not met", 2: "usage: bad arguments or input",
                3: "the hub or Blob Storage refused or could not be reached",
                4: "--wait ran out of time before every device settled"}


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.func(args) or 0)
    except OperatorError as exc:  # a clear message and a documented exit code, not a traceback
        print(f"error: {exc.message}", file=sys.stderr)
        args.error = exc.message
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
