"""YAML for documents a person or a tool writes (the --desired file, the settings file): no anchors or aliases,
a depth cap, and every failure as one YamlRefused.

Aliases are what an alias bomb ("billion laughs") is made of: 700 bytes that expand to hundreds of MB. A twin
has no aliases and IoT Hub caps its depth at 10, so nothing legitimate is lost. The depth cap keeps the
composer's recursion (one Python frame per level) far from RecursionError.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import AliasEvent, CollectionStartEvent, ScalarEvent

#: Nesting levels a document may have (IoT Hub allows 10 in a twin; the rest is headroom).
MAX_DEPTH = 32


class YamlRefused(ValueError):
    """The text is not YAML/JSON, or uses what these documents may not (aliases, anchors, deep nesting)."""


class _Loader(yaml.SafeLoader):
    """SafeLoader (plain data types only) that refuses anchors and aliases and counts its depth."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            raise YamlRefused(f"aliases (*{event.anchor}) are not allowed (line {event.start_mark.line + 1})")
        if isinstance(event, (ScalarEvent, CollectionStartEvent)) and event.anchor is not None:
            raise YamlRefused(f"anchors (&{event.anchor}) are not allowed (line {event.start_mark.line + 1})")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise YamlRefused(f"nested deeper than {MAX_DEPTH} levels (line {event.start_mark.line + 1})")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load(text: str | bytes) -> Any:
    """One YAML (or JSON) document as plain data; raises YamlRefused for anything else, whatever went wrong."""
    loader = _Loader(text)
    try:
        return loader.get_single_data()
    except YamlRefused:
        raise
    except yaml.YAMLError as exc:
        raise YamlRefused(f"not valid YAML/JSON: {exc}") from None
    except Exception as exc:  # RecursionError, MemoryError, a constructor's ValueError: never past this point
        raise YamlRefused(f"cannot be read: {type(exc).__name__}: {exc}") from None
    finally:
        loader.dispose()
