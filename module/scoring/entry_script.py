"""Azure ML entry scripts (score.py with init() and run(input_str)): one module instance per model.

An entry script is code, so it is only ever read from the image or the local file system (settings
`agent.entry_script`, `--entry-script`), never from a twin or a download. Each model version gets a
fresh module object, so one version's init() globals never mix with another's; a new version's init()
runs beside the old one, which keeps serving until the one-reference swap.
"""

from __future__ import annotations

import builtins
import importlib.util
import itertools
import json
import logging
import os
import sys
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import ScoringFailed, UpdateError
from . import azureml_shim, entry_model_dir, results

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EntryScriptConfig:
    script: Path
    data_dir: Path


_config: EntryScriptConfig | None = None
_init_lock = threading.Lock()  # AZUREML_MODEL_DIR is process-wide: one init() at a time
_counter = itertools.count(1)
_live: "weakref.WeakSet[EntryScript]" = weakref.WeakSet()


def configure(script: Path | None, data_dir: Path) -> None:
    """Called by the agent: from then on prepare() gives every model its own instance of `script`."""
    global _config
    if script is None:
        _config = None
        return
    script = Path(script).resolve()
    if str(script.parent) not in sys.path:
        # Azure ML runs a script beside its source folder; appended, so it never shadows a package.
        sys.path.append(str(script.parent))
    _config = EntryScriptConfig(script, Path(data_dir))


def configured() -> EntryScriptConfig | None:
    return _config


class EntryScript:
    """One model version's instance of the script: its own globals and a lock, because scripts keep
    their model in module globals and were written for one request at a time."""

    def __init__(self, script: Path, module: ModuleType, model_dir: Path, version: str):
        self.script = script
        self.model_dir = model_dir
        self.version = version
        self._run = module.run
        self._module = module
        self._lock = threading.Lock()

    def run_messages(self, messages: list[Any], model: Any) -> list[dict]:
        """run(input_str) once per message, in order; a raising run() fails only its own message."""
        return [self._run_one(message, model) for message in messages]

    def _run_one(self, message: Any, model: Any) -> dict:
        message_id = _message_id(message)
        with self._lock:
            try:
                returned = self._run(json.dumps(message))
            except (Exception, SystemExit) as exc:  # the script's failure fails this message, never the process
                log.warning("entry script run() raised", extra={"model_version": self.version, "error": repr(exc)})
                return results.failed(ScoringFailed(f"entry script run() raised {exc!r}"), message_id, model)
        try:
            return to_result(returned, self.version, message_id)
        except ValueError as exc:
            return results.failed(ScoringFailed(f"entry script run() returned {exc}"), message_id, model)


def build(manifest: dict, estimator: Any, path: Path | None) -> EntryScript | None:
    """The configured script's instance for this model, after its init(); None when none is configured.

    Raises UpdateError (stage "load") when the script cannot be loaded or its init() raises, so an
    update is refused with the reason and the old model keeps serving.
    """
    config = _config
    if config is None:
        return None
    version = str(manifest["version"])
    try:
        model_dir = entry_model_dir.materialize(config.data_dir, manifest, estimator, path)
    except OSError as exc:
        raise UpdateError(f"cannot write the entry script's model directory: {exc}", stage="load") from None
    try:
        module = _load(config.script, version)
        _init(module, model_dir, version, config.script.name)
    except UpdateError:
        if model_dir.resolve() not in {s.model_dir.resolve() for s in list(_live)}:
            entry_model_dir.remove(model_dir)
        raise
    entry = EntryScript(config.script, module, model_dir, version)
    _live.add(entry)
    entry_model_dir.prune(config.data_dir, [s.model_dir for s in list(_live)])
    return entry


def _load(script: Path, version: str) -> ModuleType:
    """A fresh module object from the file on disk (importlib), so each version has its own globals."""
    name = f"entry_script_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, script)
    if spec is None or spec.loader is None:
        raise UpdateError(f"entry script {script} cannot be loaded as Python", stage="load")
    module = importlib.util.module_from_spec(spec)
    module.print = _printer(version, script.name)  # print() in the script becomes a JSON log line
    azureml_shim.install()
    sys.modules[name] = module  # dataclasses and pickle look a module up while it executes
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        raise UpdateError(f"entry script {script.name} failed to import: {exc!r}", stage="load") from None
    finally:
        sys.modules.pop(name, None)  # not kept: a retired version's globals must be freed with it
    for function in ("init", "run"):
        if not callable(getattr(module, function, None)):
            raise UpdateError(f"entry script {script.name} has no {function}() function", stage="load")
    return module


def _init(module: ModuleType, model_dir: Path, version: str, script_name: str) -> None:
    started = time.perf_counter()
    with _init_lock:
        previous = os.environ.get(azureml_shim.MODEL_DIR_VARIABLE)
        os.environ[azureml_shim.MODEL_DIR_VARIABLE] = str(model_dir)
        azureml_shim.set_thread_model_dir(model_dir)
        try:
            module.init()
        except (Exception, SystemExit) as exc:
            _restore(previous)
            log.warning("entry script init() failed", extra={"model_version": version, "error": repr(exc)})
            reason = f"entry script {script_name} init() failed for model {version}: {exc!r}"
            raise UpdateError(reason, stage="load") from None
        finally:
            azureml_shim.set_thread_model_dir(None)
    # On success AZUREML_MODEL_DIR stays on the newest model's directory, as Azure ML leaves it set.
    log.info(
        "entry script initialised",
        extra={
            "model_version": version,
            "model_dir": str(model_dir),
            "seconds": round(time.perf_counter() - started, 3),
        },
    )


def _restore(previous: str | None) -> None:
    if previous is None:
        os.environ.pop(azureml_shim.MODEL_DIR_VARIABLE, None)
    else:
        os.environ[azureml_shim.MODEL_DIR_VARIABLE] = previous


def _printer(version: str, script_name: str):
    script_log = logging.getLogger(f"{__package__}.entry_script.{Path(script_name).stem}")

    def print_(*args, sep=" ", end="\n", file=None, flush=False):
        if file is not None and file is not sys.stdout:
            builtins.print(*args, sep=sep, end=end, file=file, flush=flush)
            return
        script_log.info(sep.join(str(a) for a in args), extra={"model_version": version})

    return print_


def to_result(returned: Any, version: str, message_id: Any = None) -> dict:
    """run()'s return value as a result dict: Azure ML IoT scripts return [json_string] or an object.

    A one-element list is unwrapped, JSON strings are decoded, an object becomes the result; anything
    else is kept under "result" ("results" for a longer list). Every result names the model version.
    """
    value = _decode(returned[0]) if isinstance(returned, (list, tuple)) and len(returned) == 1 else _decode(returned)
    if isinstance(value, dict):
        result = dict(value)
    elif isinstance(value, (list, tuple)):
        result = {"results": [_decode(v) for v in value]}
    else:
        result = {"result": value}
    try:
        result = json.loads(json.dumps(result, default=_plain, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"a value JSON cannot carry: {exc}") from None
    result["model_version"] = version
    if message_id is not None:
        result.setdefault("id", message_id)
    return result


def _decode(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _plain(value: Any) -> Any:
    """numpy scalars and arrays (what a script's model hands back) as plain JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _message_id(message: Any) -> Any:
    if isinstance(message, dict):
        for key in ("id", "messageId", "message_id"):
            if key in message:
                return message[key]
    return None
