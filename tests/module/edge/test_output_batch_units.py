"""OutputBatcher without a broker: full batches, size cap, order of batches of one output."""

from __future__ import annotations

import json
import threading

from module.edge.output_batch import MAX_BATCH_BYTES, OutputBatcher


def collect():
    sent = []
    return sent, lambda output, message, size: sent.append((output, json.loads(message.data), message.custom_properties))


def test_full_batches_in_order_and_a_flush_sends_the_rest():
    sent, send = collect()
    batcher = OutputBatcher(send, 3, 60_000)
    batcher.start()
    for i in range(7):
        batcher.add("scores", {"i": i}, {"p": str(i)})
    assert [[r["i"] for r in body] for _, body, _ in sent] == [[0, 1, 2], [3, 4, 5]]
    assert sent[0][1][1]["properties"] == {"p": "1"} and sent[0][2]["batch"] == "3"
    batcher.stop()
    assert [r["i"] for r in sent[-1][1]] == [6]


def test_a_batch_never_passes_the_byte_cap():
    sent, send = collect()
    batcher = OutputBatcher(send, 1000, 60_000)
    big = "x" * (MAX_BATCH_BYTES // 4)
    for i in range(9):
        batcher.add("anomalies", {"i": i, "message": big}, {})
    batcher.flush()
    assert [r["i"] for _, body, _ in sent for r in body] == list(range(9))
    assert all(len(json.dumps(body)) <= MAX_BATCH_BYTES + 100 for _, body, _ in sent) and len(sent) >= 3


def test_concurrent_producers_lose_nothing_and_timer_batches_keep_order():
    sent, send = collect()
    batcher = OutputBatcher(send, 7, 1)
    batcher.start()

    def produce(p):
        for i in range(300):
            batcher.add("scores", {"p": p, "i": i}, {})

    threads = [threading.Thread(target=produce, args=(p,)) for p in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    batcher.stop()
    results = [r for _, body, _ in sent for r in body]
    for p in range(4):
        assert [r["i"] for r in results if r["p"] == p] == list(range(300))
