"""TEST-ONLY pause points for the crash-safety tests: MODEL_AGENT_TEST_PAUSE_AT=<stage> stops the update there.

The tests kill the agent (SIGKILL) while it sits at a stage, then restart it and check the store. The
variable is never set in production; unset, pause_at() returns at once.
Stages: before_rename (model downloaded and verified, not yet in the store), before_pointers (in the
store, loaded and canaried, pointers not yet switched), before_swap (pointers switched, old model serving).
"""

from __future__ import annotations

import logging
import os
import threading

#: Not AGENT_*: that prefix is reserved for settings, which refuse unknown keys.
ENV = "MODEL_AGENT_TEST_PAUSE_AT"
log = logging.getLogger(__name__)


def pause_at(stage: str) -> None:
    if os.environ.get(ENV) != stage:
        return
    log.warning("test pause", extra={"model_version": None, "stage": stage})
    threading.Event().wait()
