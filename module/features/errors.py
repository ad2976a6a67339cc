"""The feature engine's errors: a bad spec (named by its column) and a message the spec cannot read."""

from __future__ import annotations

from ..errors import BadInput, SettingsError


class SpecError(SettingsError):
    """A feature spec that cannot serve; `column` names the column (or key) at fault."""

    def __init__(self, message: str, column: str | None = None):
        super().__init__(f"features: column {column!r}: {message}" if column else f"features: {message}")
        self.column = column


class MessageError(BadInput):
    """One message cannot join its partition's history: a field, the time or the partition key is bad."""
