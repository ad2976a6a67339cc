"""`python -m bench.revisions REV [REV ...]`: the edgeHub burst for the working tree and git revisions,
beside the SDK echo module, in one run.

A change to the scoring path is judged by what it does inside the agent, not in a hot loop: a 1-D
forest walk that was 26% faster in a loop made the agent slower on this path (docs/benchmarks.md). Each
revision is checked out into a temporary git worktree and run with this checkout's venv (so a revision
whose requirements differ is not comparable here). Every trial measures every subject in turn, so a
machine that slows down mid-run slows them all; the table gives medians and the ratios to the echo
module, as the edgehub section does, in a couple of minutes instead of that section's six.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from . import procs
from .edgehub_path import ECHO, THREAD_NAMES, Subject

WORKING_TREE = "working tree"
#: After every module answered once: the agent's first seconds (JIT-free Python, but caches, the twin,
#: the compiled forest's cost check) are not what a burst measures.
SETTLE_S = 20.0


class RevisionError(Exception):
    """A revision git cannot check out."""


def worktree(revision: str, stack: ExitStack) -> Path:
    """A detached checkout of `revision`, removed when `stack` closes."""
    found = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"],
                           cwd=procs.REPO, capture_output=True, text=True)
    if found.returncode != 0:
        raise RevisionError(f"not a commit in {procs.REPO}: {revision!r}")
    path = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-rev-"))) / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(path), found.stdout.strip()],
                   cwd=procs.REPO, check=True)
    stack.callback(subprocess.run, ["git", "worktree", "remove", "--force", str(path)], cwd=procs.REPO)
    return path


def agent_argv(root: Path, data_dir: Path) -> list[str]:
    """`python -m module` importing the package from `root` (the child's cwd is this checkout)."""
    boot = (f"import runpy, sys; sys.path.insert(0, {str(root)!r}); "
            "runpy.run_module('module', run_name='__main__', alter_sys=True)")
    return [sys.executable, "-c", boot, "--http-host", "127.0.0.1", "--http-port", "0", "--data-dir", str(data_dir)]


def subjects(revisions: list[str], folder: Path, stack: ExitStack) -> dict[str, Subject]:
    roots = {WORKING_TREE: procs.REPO, **{rev: worktree(rev, stack) for rev in revisions}}
    env = {"AGENT_AGENT_LOG_LEVEL": "warning", **procs.AGENT_MODEL, "PYTHONPATH": str(THREAD_NAMES)}
    out: dict[str, Subject] = {}
    for i, (name, root) in enumerate(roots.items()):
        sub = folder / f"agent-{i}"
        sub.mkdir(parents=True)
        out[name] = stack.enter_context(_stopping(Subject(name, agent_argv(root, sub / "data"), sub, env)))
    (folder / "echo").mkdir()
    echo = Subject(ECHO, [sys.executable, "-m", "bench.echo_module"], folder / "echo",
                   {"PYTHONPATH": str(THREAD_NAMES)}, echo=True)
    out[ECHO] = stack.enter_context(_stopping(echo))
    return out


class _stopping:
    def __init__(self, subject: Subject):
        self.subject = subject

    def __enter__(self) -> Subject:
        return self.subject

    def __exit__(self, *_) -> None:
        self.subject.stop()


def measure(subs: dict[str, Subject], trials: int, burst: int, settle_s: float) -> dict[str, list[dict]]:
    for subject in subs.values():
        subject.wait_serving()
    time.sleep(settle_s)
    results: dict[str, list[dict]] = {name: [] for name in subs}
    for _ in range(trials):
        for name, subject in subs.items():
            results[name].append(subject.measure(burst, None))
    return results


def table(results: dict[str, list[dict]], burst: int) -> str:
    def mps(r: dict) -> float:
        return (burst - r["unscored"]) / r["span"]

    echo_mps = statistics.median(mps(r) for r in results[ECHO])
    echo_cpu = statistics.median(r["cpu_ms_per_msg"] for r in results[ECHO])
    lines = ["| subject | msg/s (min–max) | of echo | CPU µs/msg | x echo | unscored | busiest threads, µs/msg |",
             "|---|---|---|---|---|---|---|"]
    for name, runs in results.items():
        rates = [mps(r) for r in runs]
        cpu = statistics.median(r["cpu_ms_per_msg"] for r in runs)
        lines.append(f"| {name} | {statistics.median(rates):,.0f} ({min(rates):,.0f}–{max(rates):,.0f}) "
                     f"| {statistics.median(rates) / echo_mps:.0%} | {cpu * 1000:,.0f} | {cpu / echo_cpu:.2f}x "
                     f"| {sum(r['unscored'] for r in runs)} | {_threads(runs)} |")
    return "\n".join(lines)


def _threads(runs: list[dict], top: int = 4) -> str:
    groups = {g for r in runs for g in r.get("threads_us_per_msg", {})}
    med = {g: statistics.median(r.get("threads_us_per_msg", {}).get(g, 0.0) for r in runs) for g in groups}
    return ", ".join(f"{g} {us:.0f}" for g, us in sorted(med.items(), key=lambda kv: -kv[1])[:top])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.revisions", description=__doc__.split("\n\n")[0])
    p.add_argument("revisions", nargs="+", metavar="REV", help="git revisions to compare with the working tree")
    p.add_argument("--trials", type=int, default=7, help="bursts per subject (default 7)")
    p.add_argument("--burst", type=int, default=3000, help="inputs per burst (default 3000)")
    p.add_argument("--settle", type=float, default=SETTLE_S, help="seconds between start-up and the first trial")
    args = p.parse_args(argv)
    if args.trials < 1 or args.burst < 1:
        p.error("--trials and --burst must be at least 1")
    with ExitStack() as stack:
        try:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-revisions-")))
            subs = subjects(args.revisions, folder, stack)
        except RevisionError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        results = measure(subs, args.trials, args.burst, args.settle)
    print(f"edgeHub burst of {args.burst}, {args.trials} trials each, medians; ratios to the echo module "
          "measured in this run")
    print(table(results, args.burst))
    return 0


if __name__ == "__main__":
    sys.exit(main())
