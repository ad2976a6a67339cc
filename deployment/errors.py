"""The operator commands' errors: each carries the message a person reads and the process exit code."""

from __future__ import annotations

#: Exit codes of `python -m deployment`, documented in the README's operator guide.
EXIT_OK = 0
EXIT_DEVICES_FAILED = 1  # a device reported failed, or a rollout gate was not met
EXIT_USAGE = 2  # bad arguments or a bad bundle/input file (argparse uses 2 as well)
EXIT_HUB = 3  # the hub refused or could not be reached
EXIT_TIMEOUT = 4  # --wait ran out of --timeout before every device settled


class OperatorError(Exception):
    """Root of the errors `python -m deployment` prints as `error: <message>` and exits with."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(OperatorError, ValueError):
    """An argument, file or bundle the operator gave is wrong; nothing was sent."""


class HubError(OperatorError):
    """The hub answered with an error (or could not be reached); `status` is the HTTP status when known."""

    exit_code = EXIT_HUB

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status
