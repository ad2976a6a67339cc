"""`python -m deployment features SPEC DATA.csv`: the training matrix a feature spec gives a recorded series."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from module.features import SpecError, load_spec, training_matrix

EXIT_USAGE = 2


def register(subparsers) -> None:
    p = subparsers.add_parser("features", help="compute a feature spec's training matrix from a recorded series",
                              description=__doc__)
    p.add_argument("spec", type=Path, metavar="SPEC", help="feature spec, YAML or JSON")
    p.add_argument("data", type=Path, metavar="DATA.csv", help="recorded messages: a header of field paths")
    p.add_argument("--out", type=Path, help="write the matrix as CSV here (default: standard output)")
    p.add_argument("--warm-only", action="store_true", help="leave out the rows that are not warm")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        spec = load_spec(args.spec)
        matrix = training_matrix(spec, args.data)
    except (SpecError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    out = open(args.out, "w", newline="", encoding="utf-8") if args.out else sys.stdout
    try:
        writer = csv.writer(out)
        writer.writerow([*spec.names, "warm", "partition"])
        for row, warm, key in zip(matrix.X.tolist(), matrix.warm.tolist(), matrix.partitions):
            if warm or not args.warm_only:
                writer.writerow([*(repr(v) for v in row), "true" if warm else "false", key])
    finally:
        if args.out:
            out.close()
    if args.out:
        print(f"{len(matrix.X)} rows ({int(matrix.warm.sum())} warm) x {spec.width} columns -> {args.out}",
              file=sys.stderr)
    return 0
