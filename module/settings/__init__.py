"""One typed settings object: defaults, then a YAML file, then AGENT_* environment variables, then the
live sections of the desired state (twin or --desired file). Validated at start; errors name the key.

  sections.py     the section models (agent, history, http, scoring, updates, upstream, edge): each key's
                  type, default, bounds and attribute docstring (docs/settings.md is generated from them)
  validation.py   Settings (the sections together), validate(raw), Settings.with_sections (desired
                  sections over the base), describe (one message naming every bad key; secrets not echoed)
  sources.py      read_file, from_environment (AGENT_<SECTION>_<KEY>), load: file < environment < overrides

Callers import from here: `from module.settings import Settings, load`.
"""

from .sections import (
    DEFAULT_FEATURES,
    DEFAULT_HTTP_PORT,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_MODEL_BYTES,
    DEFAULT_MODEL_NAME,
    DEFAULT_TRIAL_MEMORY_MB,
    DOWNLOAD_DEADLINE_FLOOR_S,
    SLOW_LINK_BYTES_PER_S,
    AgentSection,
    EdgeSection,
    HistorySection,
    HttpSection,
    ScoringSection,
    Section,
    UpdatesSection,
    UpstreamSection,
    numbered_to_list,
)
from .sources import ENV_PREFIX, from_environment, load, read_file
from .validation import LIVE_SECTIONS, SECRET_KEYS, Settings, describe, validate

__all__ = [
    "DEFAULT_FEATURES", "DEFAULT_HTTP_PORT", "DEFAULT_MAX_BODY_BYTES", "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_MODEL_BYTES", "DEFAULT_MODEL_NAME", "DEFAULT_TRIAL_MEMORY_MB", "DOWNLOAD_DEADLINE_FLOOR_S",
    "ENV_PREFIX", "LIVE_SECTIONS", "SECRET_KEYS", "SLOW_LINK_BYTES_PER_S", "AgentSection", "EdgeSection",
    "HistorySection", "HttpSection", "ScoringSection", "Section", "Settings", "UpdatesSection",
    "UpstreamSection", "describe", "from_environment", "load", "numbered_to_list", "read_file", "validate",
]
