"""Imported at start by the edgehub section's module processes (it is first on their PYTHONPATH): every
Python thread gives its name to its OS thread, so the section can charge CPU to each thread
(/proc/PID/task/TID/comm and stat) in the agent and in the SDK echo module alike. Bench only: the agent
itself never loads this."""

import ctypes
import re
import threading

PR_SET_NAME = 15
_libc = ctypes.CDLL(None, use_errno=True)
_bootstrap_inner = threading.Thread._bootstrap_inner  # every thread passes here, whatever its run()


def os_name(name: str) -> str:
    """At most 15 bytes (the kernel's limit), keeping what tells threads apart: the SDK handler pool's
    "ThreadPoolExecutor-2_3" becomes "pool-2_3", paho's "Thread-3 (_thread_main)" its target's name."""
    name = re.sub(r"^ThreadPoolExecutor-", "pool-", name)
    target = re.fullmatch(r"Thread-\d+ \((.+)\)", name)
    return (target.group(1) if target else name).encode("utf-8", "replace")[:15].decode("utf-8", "ignore")


def _named_bootstrap_inner(self):
    _libc.prctl(PR_SET_NAME, os_name(self.name).encode(), 0, 0, 0)
    _bootstrap_inner(self)


threading.Thread._bootstrap_inner = _named_bootstrap_inner
