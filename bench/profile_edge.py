"""`python -m bench.profile_edge [--count N] [-o FILE] [--env KEY=VALUE ...]`: where the agent's GIL time goes on the edgeHub path.

Starts the agent with its own mosquitto and edgeHub stand-in (as the edgehub section does), attaches
`py-spy record --gil` (pip install py-spy) during a burst, and prints the top entries, self and
inclusive. A relative picture: run it on a quiet machine for shares that mean something.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import edgehub_path as edge, procs

RATE_HZ = 200


def top(raw: Path, n: int = 12) -> str:
    """py-spy's raw (collapsed) stacks -> the top self and inclusive entries, line numbers dropped."""
    own, incl, total = collections.Counter(), collections.Counter(), 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        k = int(count)
        total += k
        frames = [re.sub(r":\d+\)", ")", f) for f in stack.split(";") if f] or ["(no Python frame)"]
        own[frames[-1]] += k
        for f in set(frames):
            incl[f] += k
    out = [f"samples: {total}", "self:"]
    out += [f"{100 * k / total:5.1f}%  {f}" for f, k in own.most_common(n)]
    out.append("inclusive (the agent's own code and the SDK's send):")
    mine = [(f, k) for f, k in incl.most_common() if "(module/" in f or "send_message_to_output" in f]
    out += [f"{100 * k / total:5.1f}%  {f}" for f, k in mine[:n]]
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile_edge", description=__doc__)
    p.add_argument("--count", type=int, default=2000, help="inputs in the burst")
    p.add_argument("-o", "--output", type=Path, help="keep py-spy's raw stacks here")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                   help="for the agent, e.g. AGENT_UPDATES_BAKED_MODEL_DIR=DIR to profile another model")
    args = p.parse_args(argv)
    extra = dict(item.split("=", 1) for item in args.env)
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    folder = Path(tempfile.mkdtemp(prefix="profile-edge-"))
    raw = args.output or folder / "stacks.txt"
    argv_agent = [sys.executable, "-m", "module", "--http-host", "127.0.0.1", "--http-port", "0",
                  "--data-dir", str(folder / "data")]
    subject = edge.Subject("agent", argv_agent, folder, {"AGENT_AGENT_LOG_LEVEL": "warning", **procs.AGENT_MODEL, **extra})
    try:
        subject.wait_serving()
        seconds = max(2, int(args.count / 500) + 2)
        recorder = subprocess.Popen([spy, "record", "--pid", str(subject.proc.pid), "--format", "raw", "-o",
                                     str(raw), "-r", str(RATE_HZ), "--nonblocking", "--gil", "-d", str(seconds)])
        result = subject.measure(args.count, None)
        recorder.wait(seconds + 30)
    finally:
        subject.stop()
    print(f"burst of {args.count}: unscored {result['unscored']}")
    print(top(raw))
    return 0


if __name__ == "__main__":
    sys.exit(main())
