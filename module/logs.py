"""JSON-lines logging on stdout, the stream IoT Edge collects from a module; the SDK's records go through
the same lines, at the level they deserve."""

import json
import logging
import sys
import time

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra fields passed with `extra=` become keys (model_version, ...)."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


SDK_LOGGER = "azure.iot.device"
SDK_BACKGROUND = "azure.iot.device.common.handle_exceptions"
SDK_UNHANDLED = "Exception caught in background thread.  Unable to handle."
#: What the SDK reports from its background threads while it reconnects by itself.
SDK_RECONNECTS = {
    "ConnectionDroppedError": "edgeHub connection dropped; the SDK reconnects on its own",
    "ConnectionFailedError": "edgeHub not reachable; the SDK retries",
    "NoConnectionError": "edgeHub not connected; the SDK retries",
}


class SdkRecords(logging.Filter):
    """The SDK logs each background exception as two warnings, "Unable to handle." and the exception as
    a Python list, which on a device reads like a crash on every broker drop. One line instead: a warning
    with the reason for a connection it recovers by itself, an error for anything else."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != SDK_BACKGROUND:
            return True
        if record.msg == SDK_UNHANDLED:
            return False  # the next record carries the exception itself
        if isinstance(record.msg, list):  # handle_background_exception: the exception, no traceback
            self._rewrite(record, "".join(record.msg), logging.ERROR)
        elif isinstance(record.msg, str) and record.msg.startswith("Traceback"):  # swallow_unraised_exception
            self._rewrite(record, record.msg, record.levelno)
        return record.levelno >= logging.getLogger(SDK_LOGGER).getEffectiveLevel()

    @staticmethod
    def _rewrite(record: logging.LogRecord, text: str, failure_level: int) -> None:
        lines = text.strip().splitlines()
        error = _short_exception(lines[-1] if lines else "")
        kind = error.split(":", 1)[0]
        if kind in SDK_RECONNECTS:
            record.levelno, record.msg = logging.WARNING, SDK_RECONNECTS[kind]
        else:
            record.levelno, record.msg = failure_level, "SDK background error"
            if len(lines) > 1:
                record.traceback = text.strip()
        record.levelname, record.args, record.error = logging.getLevelName(record.levelno), (), error


def _short_exception(line: str) -> str:
    """'azure.iot.device.common.transport_exceptions.ConnectionDroppedError: Unexpected disconnection'
    -> 'ConnectionDroppedError: Unexpected disconnection'."""
    name, sep, reason = line.strip().partition(":")
    return name.rsplit(".", 1)[-1] + (f":{reason}" if sep else "")


def setup(level: str = "info") -> None:
    """Route every logger (ours and the SDK's) through one JSON handler on stdout."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(SdkRecords())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The SDK and paho are chatty at INFO; their warnings still come through.
    for noisy in ("azure.iot.device", "paho", "urllib3", "waitress.queue"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
