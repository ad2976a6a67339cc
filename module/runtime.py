"""The runtime fingerprint: the versions a pickle depends on, as this process has them."""

from __future__ import annotations

import functools
import platform
from importlib import metadata

#: Packages whose versions decide whether a pickled model loads and scores as it did where it was trained.
FINGERPRINT_PACKAGES = ("scikit-learn", "numpy", "scipy", "joblib")


@functools.lru_cache(maxsize=1)
def fingerprint() -> dict[str, str]:
    found = {"python": platform.python_version(), "machine": platform.machine()}
    for name in FINGERPRINT_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "absent"
    return found
