"""A stand-in for `azureml.core.model.Model`, for entry scripts written for Azure ML's IoT Edge path.

The runtime image does not ship the Azure ML SDK, but old IoT scripts call
`Model.get_model_path('model.pkl')` in init(). The shim answers that one call from the model
directory of the model being initialised; it is installed only when azureml is not importable.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import types
from pathlib import Path

MODEL_DIR_VARIABLE = "AZUREML_MODEL_DIR"

_install_lock = threading.Lock()
_local = threading.local()


class Model:
    """The part of azureml.core.model.Model an entry script running on a device can use."""

    @staticmethod
    def get_model_path(model_name: str, version: int | None = None, _workspace=None) -> str:
        """The model file (or folder) named `model_name` in the model directory; with one file, that file.

        Azure ML names models at registration, often after their file, so a lone file matches any name.
        """
        root = model_dir()
        if root is None:
            raise FileNotFoundError(f"{MODEL_DIR_VARIABLE} is not set: no model directory to look in")
        candidate = root / model_name
        if candidate.exists():
            return str(candidate)
        entries = sorted(p.name for p in root.iterdir())
        if len(entries) == 1:
            return str(root / entries[0])
        raise FileNotFoundError(f"model {model_name!r} not found in {root} (it holds {entries})")


def model_dir() -> Path | None:
    """The directory of the model whose init() runs on this thread, else AZUREML_MODEL_DIR."""
    current = getattr(_local, "model_dir", None)
    if current is not None:
        return current
    value = os.environ.get(MODEL_DIR_VARIABLE)
    return Path(value) if value else None


def set_thread_model_dir(path: Path | None) -> None:
    _local.model_dir = path


def azureml_importable() -> bool:
    if "azureml.core.model" in sys.modules:
        return True
    try:
        return importlib.util.find_spec("azureml.core.model") is not None
    except (ImportError, ValueError):  # a missing parent package raises instead of answering None
        return False


def install() -> bool:
    """Put the shim into sys.modules unless a real azureml is importable; True when it was installed."""
    with _install_lock:
        if azureml_importable():
            return False
        package = sys.modules.get("azureml") or _package("azureml")
        core = _package("azureml.core")
        model = types.ModuleType("azureml.core.model", __doc__)
        model.Model = Model
        core.Model = Model
        core.model = model
        package.core = core
        sys.modules.setdefault("azureml", package)
        sys.modules["azureml.core"] = core
        sys.modules["azureml.core.model"] = model
        return True


def _package(name: str) -> types.ModuleType:
    module = types.ModuleType(name, "Stand-in for the Azure ML SDK (edge-model-agent's azureml_shim).")
    module.__path__ = []  # a package, so `import azureml.core.model` resolves through sys.modules
    return module
