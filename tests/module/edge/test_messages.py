"""Output message ids: unique across the SDK's handler threads and across restarts of the agent."""

from __future__ import annotations

import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from module.edge import messages


def test_output_ids_are_unique_across_handler_threads():
    with ThreadPoolExecutor(4) as pool:
        ids = [i for batch in pool.map(lambda _: [messages.new_message_id() for _ in range(5000)], range(4))
               for i in batch]
    assert len(set(ids)) == len(ids) == 20000
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)  # the shape uuid4().hex had
    assert messages.build(b"{}", None).message_id != messages.build(b"{}", None).message_id


def test_a_restarted_agent_does_not_repeat_ids():
    code = "from module.edge import messages; print(messages.new_message_id())"
    first, second = (subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                    timeout=60).stdout.strip() for _ in range(2))
    assert first != second and first != messages.new_message_id()
