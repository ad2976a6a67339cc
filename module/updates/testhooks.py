"""TEST-ONLY hooks for the crash-safety and trial tests. None of these variables is set in production;
unset, every hook returns at once.

MODEL_AGENT_TEST_PAUSE_AT=<stage> stops the update there; the tests kill the agent (SIGKILL) while it sits
at a stage, then restart it and check the store. Stages: before_rename (model downloaded and verified,
not yet in the store), before_swap (trial passed, activating mark written, loaded and canaried live, the
old model serving), before_pointers (the new model serving, pointers not yet switched, mark still there).

MODEL_AGENT_TEST_KILL_AT=activating:<version> makes the live process SIGKILL itself while it activates
that version (after the activating mark is written): a candidate that kills the agent.

MODEL_AGENT_TEST_TRIAL=<action>:<version> runs in the trial child for that version: hang (sleeps),
segv / kill (the child signals itself), before it loads the model.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

#: Not AGENT_*: that prefix is reserved for settings, which refuse unknown keys.
ENV = "MODEL_AGENT_TEST_PAUSE_AT"
KILL_ENV = "MODEL_AGENT_TEST_KILL_AT"
TRIAL_ENV = "MODEL_AGENT_TEST_TRIAL"
log = logging.getLogger(__name__)


def pause_at(stage: str) -> None:
    if os.environ.get(ENV) != stage:
        return
    log.warning("test pause", extra={"model_version": None, "stage": stage})
    threading.Event().wait()


def kill_at(stage: str, version: str) -> None:
    if os.environ.get(KILL_ENV) != f"{stage}:{version}":
        return
    log.warning("test kill", extra={"model_version": version, "stage": stage})
    os.kill(os.getpid(), signal.SIGKILL)


def in_trial(version: str) -> None:
    action, _, wanted = os.environ.get(TRIAL_ENV, "").partition(":")
    if not action or wanted != version:
        return
    if action == "hang":
        time.sleep(3600)
    elif action in ("segv", "kill"):
        os.kill(os.getpid(), signal.SIGSEGV if action == "segv" else signal.SIGKILL)
