"""From a nested dict to one validated Settings, or one SettingsError naming every bad key and value:
the sections together, the live merge of desired sections over them, and the error text."""

from __future__ import annotations

from typing import Any, Mapping

from pydantic import ValidationError

from ..errors import SettingsError
from .sections import (
    AgentSection,
    EdgeSection,
    HistorySection,
    HttpSection,
    ScoringSection,
    Section,
    UpdatesSection,
    UpstreamSection,
)

#: Settings whose values are secrets: never echoed in an error message.
SECRET_KEYS = ("http.admin_token",)

#: Sections a desired document (twin or --desired file) may change while the agent runs.
LIVE_SECTIONS = ("scoring", "upstream")


class Settings(Section):
    agent: AgentSection = AgentSection()
    history: HistorySection = HistorySection()
    http: HttpSection = HttpSection()
    scoring: ScoringSection = ScoringSection()
    updates: UpdatesSection = UpdatesSection()
    upstream: UpstreamSection = UpstreamSection()
    edge: EdgeSection = EdgeSection()

    def with_sections(
        self,
        sections: Mapping[str, Mapping[str, Any] | None],
        base: "Settings | None" = None,
        replace: bool = False,
    ) -> "Settings":
        """A new Settings with desired sections merged over this one's (live twin or --desired sections).

        A key set to null (how a twin deletes it), or a whole section set to null, goes back to its value
        in `base`: the settings from file, environment and command line (the defaults when not given).
        With replace=True a given section is laid over `base`'s instead of this one's (a whole document).
        """
        base_dump = (base or Settings()).model_dump()
        merged = self.model_dump()
        for name, values in sections.items():
            if name not in merged:
                raise SettingsError(f"unknown section {name!r}")
            if values is None or replace:
                merged[name] = dict(base_dump[name])
            if values is None:
                continue
            if not isinstance(values, Mapping):
                raise SettingsError(f"{name}: expected an object, got {type(values).__name__} ({values!r})")
            for key, value in values.items():
                if str(key).startswith("$"):  # twin metadata ($version, $metadata)
                    continue
                if value is None and key in base_dump[name]:
                    merged[name][key] = base_dump[name][key]
                else:
                    merged[name][key] = value
        return validate(merged)


def validate(raw: Mapping[str, Any]) -> Settings:
    """Turn a nested dict into Settings or raise one SettingsError naming every bad key and value."""
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise SettingsError(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(root)"
        if err["type"] == "extra_forbidden":
            lines.append(f"{key}: unknown setting (got {err.get('input')!r})")
        elif key in SECRET_KEYS:
            lines.append(f"{key}: {err['msg']}")  # a secret's value never reaches a log line
        else:
            lines.append(f"{key}: {err['msg']} (got {err.get('input')!r})")
    return "; ".join(lines)
