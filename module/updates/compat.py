"""The runtime-compatibility rule: may a model written by one version set load on this agent's?

Rule: scikit-learn must match exactly (major.minor.patch: its pickles change between patch releases);
numpy and scipy must match on major.minor. Python and joblib are recorded but not compared (pickle
protocol 5 and joblib's format are stable across them). A model without a recorded runtime is refused:
nothing says it will load. Checked from the manifest alone, before any byte of the model is unpickled.
"""

from __future__ import annotations

from typing import Mapping

from ..errors import UpdateError

#: package -> how many leading version parts must be equal.
RULE = {"scikit-learn": 3, "numpy": 2, "scipy": 2}


def _parts(version: str, count: int) -> tuple[str, ...]:
    return tuple(str(version).split(".")[:count])


def mismatches(recorded: Mapping[str, str], own: Mapping[str, str], own_label: str = "this agent has") -> list[str]:
    found = []
    for package, count in RULE.items():
        theirs = recorded.get(package)
        if theirs is None or _parts(theirs, count) != _parts(own.get(package, "absent"), count):
            found.append(f"{package} {theirs or 'unrecorded'} ({own_label} {own.get(package, 'absent')})")
    return found


def check(recorded: Mapping[str, str] | None, own: Mapping[str, str]) -> None:
    """Raises UpdateError (stage "runtime") when the model was written for another runtime version set."""
    if not recorded:
        raise UpdateError(
            "the model records no runtime versions (manifest `runtime`); bundle it with `python -m deployment bundle`",
            stage="runtime",
        )
    bad = mismatches(recorded, own)
    if bad:
        raise UpdateError(
            "the model was written for another runtime: " + "; ".join(bad)
            + " (scikit-learn must match exactly, numpy and scipy on major.minor; train with the device's versions)",
            stage="runtime",
        )
