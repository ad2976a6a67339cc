"""Opt-in output batching (edge.output_batch): up to N results or T ms per output message, one JSON list.

Past the SDK's per-message ceiling, and fewer messages for IoT Hub to bill on the upstream route. Each
result keeps the properties it would have carried alone under "properties" inside the list; the batch
message itself carries "batch" (how many results it holds). Off (1) by default: one result per message.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from . import messages

#: A batch is sent before its JSON would pass this (edgeHub's limit is 256 KB with properties).
MAX_BATCH_BYTES = 192 * 1024

Send = Callable[[str, object, int], None]
"""(output, message, size): where a finished batch goes (the outbox)."""


class OutputBatcher:
    def __init__(self, send: Send, max_results: int, max_wait_ms: float):
        self._send = send
        self.max_results = max_results
        self.max_wait_s = max_wait_ms / 1000.0
        self._open: dict[str, list[bytes]] = {}
        self._bytes: dict[str, int] = {}
        self._since: dict[str, float] = {}
        self._cond = threading.Condition()
        self._order = threading.Lock()
        """Held from taking a batch until it is handed to the outbox: batches of one output keep their order."""
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="edge-output-batch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def add(self, output: str, body: dict, properties: dict[str, str]) -> None:
        """One result for `output`; sends the batch when it is full (on the caller's thread)."""
        item = messages.encode({**body, "properties": properties})
        with self._order, self._cond:
            if self._bytes.get(output, 0) + len(item) > MAX_BATCH_BYTES:
                ready = self._take(output)
            else:
                ready = None
            batch = self._open.setdefault(output, [])
            if not batch:
                self._since[output] = time.monotonic()
                self._cond.notify()
            batch.append(item)
            self._bytes[output] = self._bytes.get(output, 0) + len(item)
            full = self._take(output) if len(batch) >= self.max_results else None
            for items in (ready, full):
                if items:
                    self._emit(output, items)

    def flush(self) -> None:
        """Send every open batch now (on SIGTERM, before the outbox flushes)."""
        with self._order:
            with self._cond:
                ready = {output: self._take(output) for output in list(self._open)}
            for output, items in ready.items():
                if items:
                    self._emit(output, items)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self.flush()

    def _take(self, output: str) -> list[bytes]:
        self._bytes[output] = 0
        return self._open.pop(output, [])

    def _emit(self, output: str, items: list[bytes]) -> None:
        data = b"[" + b",".join(items) + b"]"
        self._send(output, messages.build(data, None, {"batch": str(len(items))}), len(data))

    def _run(self) -> None:
        """Sends batches that waited max_wait_s, oldest first."""
        while True:
            with self._cond:
                if self._stopping:
                    return
                now = time.monotonic()
                waits = [t + self.max_wait_s - now for o, t in self._since.items() if self._open.get(o)]
                if not waits or min(waits) > 0:
                    self._cond.wait(min(waits) if waits else None)
                    continue
            with self._order:
                with self._cond:
                    now = time.monotonic()
                    due = [o for o, t in self._since.items() if self._open.get(o) and now - t >= self.max_wait_s]
                    ready = {o: self._take(o) for o in due}
                for output, items in ready.items():
                    self._emit(output, items)
