"""Recorded series -> training matrix: the offline function streams through the very online state.

Bit-for-bit equality with serving holds by construction: each row is what FeatureState.update returns
for that message, on a fresh state, in the series' order.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from .errors import SpecError
from .messages import partition_key
from .spec import FeatureSpec, parse_spec
from .state import FeatureState

OFFLINE_PARTITION = "offline"


@dataclass(frozen=True)
class TrainingMatrix:
    X: np.ndarray
    """n x width float64, the columns in the spec's order."""
    warm: np.ndarray
    """n booleans: False for rows whose partition lacked the history (train on X[warm])."""
    partitions: list[str]


def training_matrix(spec: FeatureSpec | dict, source: Any, *, partition: str = OFFLINE_PARTITION,
                    times: Sequence[float] | None = None) -> TrainingMatrix:
    """The rows a running agent would compute for `source`, message by message.

    source: a CSV path (a header of field paths; numeric cells become numbers), a numpy array (one
    column per field of spec.paths, in that order), or a list of messages (dicts as sent).
    partition: the partition of messages under the default ("sender") rule, or the header's value under
    a "header:NAME" rule (a field rule reads each message's field).
    times: arrival times per message, used when the spec's time field is absent (seconds).
    """
    if isinstance(spec, dict):
        spec = parse_spec(spec)
    messages = list(as_messages(spec, source))
    state = FeatureState(max_partitions=None, idle_ttl_s=None, clock=None)
    state.require(spec)
    rows, warm, keys = [], [], []
    headers = {spec.partition.name: partition} if spec.partition.kind == "header" else None
    for i, message in enumerate(messages):
        key = partition_key(spec, message, sender=partition, headers=headers)
        arrival = None if times is None else float(times[i])
        try:
            row = state.update(spec, key, message, arrival)
        except ValueError as exc:
            raise ValueError(f"message {i}: {exc}") from None
        rows.append(row.values)
        warm.append(row.warm)
        keys.append(key)
    X = np.asarray(rows, dtype=np.float64).reshape(len(rows), spec.width)
    return TrainingMatrix(X, np.asarray(warm, dtype=bool), keys)


def as_messages(spec: FeatureSpec, source: Any) -> Iterable[dict]:
    if isinstance(source, (str, Path)):
        return read_csv(source)
    if isinstance(source, np.ndarray):
        return _from_array(spec, source)
    if isinstance(source, (list, tuple)):
        return source
    raise SpecError(f"cannot read a series from {type(source).__name__} (a CSV path, numpy array or list)")


def read_csv(path: str | Path) -> list[dict]:
    """Rows as messages: a column `machine.temperature` becomes {"machine": {"temperature": x}}."""
    with open(path, newline="", encoding="utf-8") as handle:
        return [nest({k: _cell(v) for k, v in row.items() if k is not None}) for row in csv.DictReader(handle)]


def _cell(text: str | None) -> Any:
    if text is None or text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return text


def nest(flat: dict) -> dict:
    message: dict = {}
    for key, value in flat.items():
        if value is None:
            continue
        node = message
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return message


def _from_array(spec: FeatureSpec, array: np.ndarray) -> list[dict]:
    paths = spec.paths
    data = array.reshape(-1, 1) if array.ndim == 1 else array
    if data.ndim != 2 or data.shape[1] != len(paths):
        raise SpecError(f"an array needs one column per field ({', '.join(paths)}), got shape {list(array.shape)}")
    return [nest(dict(zip(paths, row))) for row in data.tolist()]
