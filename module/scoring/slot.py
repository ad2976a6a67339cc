"""The active model: one slot, read once per batch, replaced by one reference assignment."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .scorer import Scorer


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to serve: immutable, so a batch that holds it is never touched by a swap."""

    version: str
    sha256: str
    format: str
    estimator: Any
    scorer: Scorer
    n_features: int | None
    default_threshold: float
    source: str
    """embedded, update, baked or store: where this model came from."""
    scorer_reason: str = ""
    path: Path | None = None
    manifest: dict = field(default_factory=dict)
    loaded_at: float = field(default_factory=time.time)
    entry: Any = None
    """The Azure ML entry script instance (scoring/entry_script.py) that scores this model's messages."""
    features: Any = None
    """The model's FeatureSpec (module/features) when its bundle has one: it swaps in with the model, in
    the same reference; None: the model reads the `scoring.features` field paths."""

    def describe(self) -> dict:
        return {
            "version": self.version,
            "sha256": self.sha256,
            "format": self.format,
            "source": self.source,
            "loaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.loaded_at)),
            "n_features": self.n_features,
            "default_threshold": self.default_threshold,
            "scorer": self.scorer.name,
            "scorer_reason": self.scorer_reason,
            "entry_script": self.entry and str(self.entry.script),
            "features": self.features.describe() if self.features is not None else {"source": "scoring.features"},
        }


class ModelSlot:
    """Holds the model in service. Readers take `current` without a lock; writers are serialised."""

    def __init__(self) -> None:
        self._current: LoadedModel | None = None
        self._write = threading.Lock()
        self._loaded = threading.Event()

    @property
    def current(self) -> LoadedModel | None:
        return self._current

    def swap(self, new: LoadedModel) -> LoadedModel | None:
        """Put `new` in service and return the model it replaced (which in-flight batches still hold)."""
        with self._write:
            old, self._current = self._current, new
        self._loaded.set()
        return old

    def wait_loaded(self, timeout: float | None = None) -> bool:
        return self._loaded.wait(timeout)
