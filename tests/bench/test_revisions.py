"""`python -m bench.revisions`: the working tree and a git revision through the edgeHub burst, beside the
echo module, in one run; the temporary worktrees are gone afterwards."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench import revisions
from bench.procs import REPO

pytestmark = pytest.mark.slow


def worktrees() -> str:
    return subprocess.run(["git", "worktree", "list", "--porcelain"], cwd=REPO, capture_output=True,
                          text=True, check=True).stdout


def test_a_revision_git_does_not_know_is_refused_by_name_and_nothing_starts(capsys):
    before = worktrees()
    assert revisions.main(["--trials", "1", "no-such-revision-7f3a"]) == 2
    assert "'no-such-revision-7f3a'" in capsys.readouterr().err
    assert worktrees() == before


def test_the_working_tree_and_a_revision_beside_the_echo_module(tmp_path):
    before = worktrees()
    done = subprocess.run([sys.executable, "-m", "bench.revisions", "--trials", "2", "--burst", "400",
                           "--settle", "0", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in done.stdout.splitlines() if line.startswith("| ") and "---" not in line}
    assert set(rows) == {"subject", revisions.WORKING_TREE, "HEAD", revisions.ECHO}, done.stdout
    assert rows[revisions.ECHO][1] == "100%" and rows[revisions.ECHO][3] == "1.00x"
    for name in (revisions.WORKING_TREE, "HEAD"):
        msgs, share, cpu, _, unscored, threads = rows[name]
        assert float(msgs.split()[0].replace(",", "")) > 0 and share.endswith("%") and unscored == "0"
        assert float(cpu.replace(",", "")) > 0 and "pool-" in threads  # the SDK's handler pool did the work
    assert worktrees() == before
