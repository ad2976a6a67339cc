"""The agent's errors: one root, small typed leaves that also inherit the matching built-in.

Errors carry no transport codes; each edge (HTTP, MQTT outputs, direct methods, reported properties)
maps them in one table of its own.
"""


class AgentError(Exception):
    """Root of every error the agent raises on purpose."""


class SettingsError(AgentError, ValueError):
    """A setting (file, environment or desired section) is missing, unknown or of the wrong type."""


class BadInput(AgentError, ValueError):
    """A message or request body that cannot be scored: bad JSON, missing or non-numeric field."""


class NoModel(AgentError, RuntimeError):
    """Scoring was asked for while no model is loaded."""


class ScoringFailed(AgentError, RuntimeError):
    """The model raised while scoring a batch; the batch's requests fail, the process stays up."""

    def __init__(self, message: str, by_model: bool = False):
        super().__init__(message)
        self.by_model = by_model
        """The model raised on these rows (fewer of them may score), rather than time running out."""


class ShuttingDown(AgentError, RuntimeError):
    """The agent is stopping and takes no new work."""


class UpdateError(AgentError):
    """A model update was refused; the old model keeps serving. `stage` says where it failed."""

    stage = "update"

    def __init__(self, message: str, stage: str | None = None):
        super().__init__(message)
        if stage:
            self.stage = stage
