"""Section (opt-in, `--only arm32v7`): the edgeHub section's agent and SDK echo module inside the arm32v7
runtime image under qemu (tools/run-in-image.sh), each with its own broker and stand-in on the host.

Under emulation absolute figures mean little; the ratio agent / echo and the CPU per message do, both
measured in this run. The image must be built (tools/build-images.sh arm32v7); bench/echo_module.py is
mounted read-only into the image beside the agent's own code.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import edgehub_path as edge, procs
from .context import Context, row, target
from .stats import metric_rows, ratio, summary

NAME = "arm32v7"
TITLE = "edgeHub path inside the arm32v7 image under qemu: agent vs SDK echo module"
REPO = Path(__file__).resolve().parent.parent
RUN = REPO / "tools" / "run-in-image.sh"
START_TIMEOUT_S = 900.0
"""The agent under qemu imports scikit-learn and checks the compiled scorer: minutes, not seconds."""


def tree_cpu_seconds(pid: int) -> float:
    """CPU of `pid` and every descendant (run-in-image.sh -> buildah -> the emulated python)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            total += edge.cpu_seconds(p)
        except OSError:
            pass
        todo += children.get(p, [])
    return total


class ImageSubject(edge.Subject):
    def __init__(self, name: str, command: list[str], folder: Path, echo: bool):
        self._command = command
        super().__init__(name, [], folder, {} if echo else dict(procs.AGENT_MODEL), echo=echo)

    def _argv(self, env: dict) -> list[str]:
        ca = Path(env["EdgeModuleCACertificateFile"])
        args = [str(RUN), "arm32v7", "-v", f"{ca.parent}:{ca.parent}:ro",
                "-v", f"{REPO / 'bench'}:/app/bench:ro", "-v", f"{self.folder}:/work"]
        for key, value in env.items():
            args += ["-e", f"{key}={value}"]
        return [*args, "--", *self._command]

    def cpu(self) -> float:
        return tree_cpu_seconds(self.proc.pid)

    def threads(self) -> dict:
        return {}  # the module runs under qemu, below run-in-image.sh: its threads are not this process's


def run(ctx: Context) -> dict:
    folder = ctx.folder(NAME)
    burst = 100 if ctx.quick else 1000
    specs = {
        "agent": (["python", "-m", "module", "--http-host", "127.0.0.1", "--http-port", "0",
                   "--data-dir", "/work/data"], False),
        edge.ECHO: (["python", "-m", "bench.echo_module"], True),
    }
    subjects, results = {}, {}
    try:
        for name, (command, echo) in specs.items():
            sub = folder / ("echo" if echo else "agent")
            sub.mkdir(parents=True, exist_ok=True)
            os.chmod(sub, 0o777)  # the image's user (uid 10001) writes its data dir there
            subjects[name] = ImageSubject(name, command, sub, echo)
        for s in subjects.values():
            s.wait_serving(START_TIMEOUT_S)
        for _ in range(ctx.trials):
            for name, s in subjects.items():
                r = s.measure(burst, None)
                r["msgs_per_s"] = None if not r["span"] else (burst - r["unscored"]) / r["span"]
                results.setdefault(name, []).append(r)
    finally:
        for s in subjects.values():
            s.stop()
    rows = [row(f"burst of {burst}, as fast as possible (qemu)", name,
                {**metric_rows(trials, ("msgs_per_s", "p50_ms", "p99_ms", "cpu_ms_per_msg")),
                 "unscored": sum(t["unscored"] for t in trials)}) for name, trials in results.items()]
    med = lambda name, key: summary(t[key] for t in results[name])["median"]  # noqa: E731
    x = ratio(med("agent", "msgs_per_s"), med(edge.ECHO, "msgs_per_s"))
    y = ratio(med("agent", "cpu_ms_per_msg"), med(edge.ECHO, "cpu_ms_per_msg"))
    targets = [
        target("arm32v7 (qemu), burst: agent / SDK echo module (msg/s)", f">= {edge.ECHO_SHARE_GOAL:.0%}", x,
               None if x is None else x >= edge.ECHO_SHARE_GOAL, None if x is None else f"{x:.0%}"),
        target("arm32v7 (qemu), burst: agent / SDK echo module (CPU per message)", f"<= {edge.CPU_GOAL:g}x", y,
               None if y is None else y <= edge.CPU_GOAL, None if y is None else f"{y:.2f}x"),
    ]
    notes = ["Both modules run inside localhost/edgemodelagent:*-arm32v7 under qemu-arm (binfmt_misc); CPU ms/msg "
             "sums the whole process tree (run-in-image.sh, buildah, the emulated python) over the burst / answers."]
    return {"rows": rows, "targets": targets, "notes": notes}
