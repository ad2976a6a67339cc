"""Pickles that try to run code: each would create `marker` if it ever ran."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import zstandard

from deployment.bundling import desired_section
from module.runtime import fingerprint


class Reduce:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def payloads(marker: Path) -> dict[str, bytes]:
    import builtins
    import importlib
    import os
    import subprocess

    cmd = f"touch {marker}"
    return {
        "os.system": pickle.dumps(Reduce(os.system, cmd)),
        "subprocess.Popen": pickle.dumps(Reduce(subprocess.Popen, ["touch", str(marker)])),
        "subprocess.check_call": pickle.dumps(Reduce(subprocess.check_call, ["touch", str(marker)])),
        "builtins.eval": pickle.dumps(Reduce(builtins.eval, f"open({str(marker)!r}, 'w')")),
        "builtins.exec": pickle.dumps(Reduce(builtins.exec, f"open({str(marker)!r}, 'w')")),
        "importlib.import_module": pickle.dumps(Reduce(importlib.import_module, "antigravity")),
        "builtins.getattr": pickle.dumps(Reduce(getattr, Reduce(importlib.import_module, "os"), "system")),
        "builtins.open": pickle.dumps(Reduce(builtins.open, str(marker), "w")),
        # A harmful callable tucked inside an allowed estimator: the nested global is refused.
        "inside an allowed estimator": _inside_estimator(cmd),
        # A REDUCE on an allowed numpy reconstructor whose argument is itself a harmful call.
        "harmful arg to an allowed global": _allowed_with_harmful_arg(cmd),
    }


def _inside_estimator(cmd: str) -> bytes:
    import os

    from sklearn.preprocessing import FunctionTransformer

    return pickle.dumps(FunctionTransformer(func=Reduce(os.system, cmd)))


def _allowed_with_harmful_arg(cmd: str) -> bytes:
    import os

    import numpy as np

    return pickle.dumps(Reduce(np.dtype, Reduce(os.system, cmd)))


def section_for(payload: bytes, version: str, fmt: str = "pickle", runtime: dict | None = None) -> dict:
    """A desired section for raw bytes (the bundler would refuse them), pinned to their sha256."""
    manifest = {"version": version, "format": fmt, "sha256": hashlib.sha256(payload).hexdigest(),
                "size": len(payload), "runtime": runtime or fingerprint()}
    section, inline = desired_section(manifest, zstandard.ZstdCompressor().compress(payload))
    assert inline
    return section
