"""The one error every loader raises for a file it will not read (stage "load": the old model keeps serving)."""

from __future__ import annotations

from ..errors import UpdateError


class Refused(UpdateError):
    """The file names a global outside the allow-list, or holds what the loader will not read."""

    stage = "load"
