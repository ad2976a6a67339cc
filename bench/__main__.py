"""`python -m bench [--quick] [--only SECTION,...]`: run the sections, print the table, write the JSON."""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from . import machine, report
from .context import Context

#: Section name -> module (in run order). Each module has NAME, TITLE and run(ctx) -> dict.
SECTIONS = {
    "edgehub": "bench.edgehub_path",
    "http": "bench.http_path",
    "compiled": "bench.compiled_rows",
    "swap": "bench.hot_swap",
    "bytes": "bench.update_bytes",
    "memory": "bench.memory_start",
    "detectors": "bench.detectors",
    "features": "bench.features_path",
    "arm32v7": "bench.arm32v7_path",
    "fleet": "bench.fleet_scale",
}
#: Run only when named in --only: arm32v7 needs the built images and takes many minutes under emulation;
#: fleet simulates 100,000 devices (several minutes, and it measures calls and bytes more than speed).
OPT_IN = {"arm32v7", "fleet"}


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="smoke run: a few seconds per section, small N")
    p.add_argument("--only", help=f"comma-separated sections ({', '.join(SECTIONS)}; "
                                  f"{', '.join(sorted(OPT_IN))} only when named here)")
    p.add_argument("--results-dir", type=Path, default=report.RESULTS, help="where the JSON goes")
    args = p.parse_args(argv)
    chosen = [s for s in SECTIONS if s not in OPT_IN]
    if args.only:
        chosen = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = [s for s in chosen if s not in SECTIONS]
        if unknown:
            p.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    args.sections = chosen
    return args


def run_section(name: str, ctx: Context) -> dict:
    module = importlib.import_module(SECTIONS[name])
    started = time.perf_counter()
    print(f"[bench] {name}: {module.TITLE} ...", file=sys.stderr, flush=True)
    try:
        result = module.run(ctx)
    except Exception as exc:  # one broken section must not hide the others' numbers
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"}
    result = {"title": module.TITLE, **result, "seconds": round(time.perf_counter() - started, 1)}
    print(f"[bench] {name}: done in {result['seconds']} s", file=sys.stderr, flush=True)
    return result


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    doc = {
        "started": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "quick": args.quick,
        "machine": machine.describe(),
        "sections": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        ctx = Context(args.quick, Path(tmp))
        for name in args.sections:
            doc["sections"][name] = run_section(name, ctx)
    doc["seconds"] = time.perf_counter() - started
    doc["machine"]["load_average_at_end"] = [round(x, 2) for x in __import__("os").getloadavg()]
    doc["targets"] = [t for r in doc["sections"].values() for t in r.get("targets", [])]
    path = report.write(doc, args.results_dir)
    print(report.render(doc))
    print(f"\nwritten: {path}")
    return 1 if any("error" in r for r in doc["sections"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
