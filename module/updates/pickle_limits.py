"""How much work one model file may make the unpickler do: opcodes, stack depth, memo entries.

A file under `updates.max_model_bytes` can still be a stream of tens of MB of opcodes that each push or
memoize an item. Honest maxima measured with scikit-learn 1.2 (protocol 2 / 5): a 1000-tree
IsolationForest is 174k / 114k opcodes, stack depth 1,098, memo 37k; a ColumnTransformer ending in a
forest 19.8k opcodes, depth 937, memo 4.8k. The limits sit 5x (opcodes) to 90x (stack) above those, so
no model the agent is sized to serve reaches them, and a crafted one stops early with a `load` error
naming the limit.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PickleLimits:
    max_opcodes: int = 1_000_000
    max_stack: int = 100_000  # items and marks on the stack and under every open MARK, together
    max_memo: int = 250_000
    #: What a joblib file's own compressed stream may inflate to (pickle and skops files are capped on disk
    #: by updates.max_model_bytes, 64 MiB by default, and skops_schema caps a zip's unpacked size the same).
    max_unpacked_bytes: int = 256 << 20


DEFAULT_LIMITS = PickleLimits()
