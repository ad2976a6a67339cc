"""The SDK's own log records in the agent's JSON lines: a background exception is one line, a warning
with the reason when the SDK recovers by itself, an error when it is a real failure."""

from __future__ import annotations

import io
import json
import logging

import pytest
from azure.iot.device.common import handle_exceptions, transport_exceptions

from module import logs


def setup_into(out: io.StringIO, level: str) -> None:
    """logs.setup as the agent calls it, its one handler then writing into `out`."""
    logs.setup(level)
    logging.getLogger().handlers[0].setStream(out)


@pytest.fixture
def lines():
    out = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    setup_into(out, "info")
    yield lambda: [json.loads(line) for line in out.getvalue().splitlines()]
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def test_a_dropped_connection_is_one_warning_with_the_reason(lines):
    handle_exceptions.handle_background_exception(transport_exceptions.ConnectionDroppedError("Unexpected disconnection"))
    [line] = lines()
    assert line["level"] == "warning"
    assert line["msg"] == "edgeHub connection dropped; the SDK reconnects on its own"
    assert line["error"] == "ConnectionDroppedError: Unexpected disconnection"


def test_a_real_failure_stays_an_error(lines):
    handle_exceptions.handle_background_exception(transport_exceptions.UnauthorizedError("bad SAS token"))
    [line] = lines()
    assert (line["level"], line["msg"], line["error"]) == ("error", "SDK background error",
                                                         "UnauthorizedError: bad SAS token")


def test_a_swallowed_exception_keeps_its_message_and_one_line_for_the_traceback(lines):
    handle_exceptions.swallow_unraised_exception(ValueError("odd"), log_msg="handler failed")
    first, second = lines()
    assert (first["level"], first["msg"]) == ("warning", "handler failed")
    assert (second["level"], second["msg"], second["error"]) == ("warning", "SDK background error", "ValueError: odd")
    assert second["traceback"].startswith("Traceback")


def test_other_sdk_records_pass_unchanged(lines):
    logging.getLogger("azure.iot.device.iothub.sync_clients").warning("something %s", "else")
    [line] = lines()
    assert (line["level"], line["msg"]) == ("warning", "something else")


def test_a_record_made_a_warning_is_not_shown_to_an_agent_at_level_error(lines):
    setup_into(logging.getLogger().handlers[0].stream, "error")
    handle_exceptions.swallow_unraised_exception(transport_exceptions.ConnectionDroppedError("gone"),
                                                 log_msg="dropped", log_lvl="error")
    assert [line["msg"] for line in lines()] == ["dropped"]

