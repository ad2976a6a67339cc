"""SDK messages <-> the agent: read an input's ids and properties, build JSON outputs that carry them over."""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from azure.iot.device import Message

#: edgeHub refuses messages over 256 KB; the SDK raises ValueError above this, properties included.
MAX_MESSAGE_BYTES = 256 * 1024
CONTENT_TYPE = "application/json"
CONTENT_ENCODING = "utf-8"
#: The SDK leaves edgeHub's connection properties ($.cdid, $.cmid) among the user properties.
SOURCE_DEVICE_KEY = "$.cdid"
SOURCE_MODULE_KEY = "$.cmid"
#: Output message ids: a random half per process start, a counter for the other half. As unique as
#: uuid4 for de-duplication, without a getrandom() call per output (one per input, at least).
_ID_PREFIX = uuid.uuid4().hex[:16]
_ID_COUNTER = itertools.count()  # next() is atomic under the GIL: the four handler threads share it


@dataclass(frozen=True)
class InputMeta:
    """Who sent an input and under which ids; outputs answer with the same correlation."""

    input_name: str | None
    message_id: str | None = None
    correlation_id: str | None = None
    source_module: str | None = None
    source_device: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    """The sender's own (user) properties, carried over to every output."""

    @property
    def correlation(self) -> str | None:
        """The correlation id outputs carry: the input's own, else its message id."""
        return self.correlation_id or self.message_id


def read_input(message: Message) -> tuple[bytes, InputMeta]:
    data = message.data
    if isinstance(data, str):
        data = data.encode("utf-8")
    props = dict(message.custom_properties or {})
    meta = InputMeta(
        input_name=message.input_name,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        source_module=getattr(message, "connection_module_id", None) or props.get(SOURCE_MODULE_KEY),
        source_device=getattr(message, "connection_device_id", None) or props.get(SOURCE_DEVICE_KEY),
        properties={k: str(v) for k, v in props.items() if not k.startswith("$.") and v is not None},
    )
    return data or b"", meta


def encode(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def carried_properties(meta: InputMeta | None) -> dict[str, str]:
    """The properties every output of one input carries: built once per input, not once per output."""
    props: dict[str, str] = {}
    if meta is not None:
        props.update(meta.properties)
        if meta.source_module:
            props["sourceModule"] = meta.source_module
        if meta.source_device:
            props["sourceDevice"] = meta.source_device
        if meta.message_id:
            props["sourceMessageId"] = meta.message_id
    return props


def build(data: bytes, meta: InputMeta | None, extra: dict[str, str] | None = None,
          carried: dict[str, str] | None = None) -> Message:
    """A JSON output; its message id is new (consumers can de-duplicate a retried send by it).
    `carried`: carried_properties(meta) when the caller already has them."""
    message = Message(
        data,
        message_id=new_message_id(),
        content_encoding=CONTENT_ENCODING,
        content_type=CONTENT_TYPE,
    )
    if meta is not None and meta.correlation:
        message.correlation_id = meta.correlation
    props = dict(carried_properties(meta) if carried is None else carried)
    props.update(extra or {})
    message.custom_properties = props
    return message


def new_message_id() -> str:
    """32 hex digits, like uuid4().hex, unique within this process and across its restarts."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


def fits(message: Message) -> bool:
    """The SDK's own size estimate against edgeHub's 256 KB limit."""
    return message.get_size() <= MAX_MESSAGE_BYTES
