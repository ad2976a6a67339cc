"""The trial: a candidate is unpickled, prepared and first scored in a short-lived child process before the
live process touches it.

Unpickling builds whatever the file describes, and scikit-learn's compiled code trusts the arrays it is
given: a hostile or broken file can allocate gigabytes, spin forever or crash the interpreter. The child
runs exactly what the live process would run on the candidate (safe_load.load, scoring.prepare with its
structural checks of every tree, the canary or the probe rows) under an address-space limit (RLIMIT_AS,
updates.trial_memory_mb) and a wall-clock limit (updates.trial_timeout_s, after which it is killed).
Whatever goes wrong there (an error, MemoryError, a signal, the time limit) is one UpdateError of stage
"load" saying why; the agent's own memory and threads are never involved.

The child is a fresh interpreter (`python -m module.updates.trial`, no fork): it inherits no socket,
thread or lock of the agent (close_fds), gets a minimal environment (no AGENT_* settings, no
credentials) and reads its request as one JSON document on stdin. The parent has verified the file's
sha256 before it starts the child; the child checks it once more before it unpickles, so a file replaced
in between is never opened. Its answer is one JSON line on stdout.

Only the standard library is imported at module level: the limit is set before numpy is imported.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UpdateError

log = logging.getLogger(__name__)

#: The directory that holds the `module` package: the child's working directory, so `-m` finds it.
ROOT = Path(__file__).resolve().parents[2]
#: The only variables of the agent's environment the child sees (a locale, a temp dir, the search path).
PASSED_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR")
#: One thread per BLAS/OpenMP pool and two malloc arenas: each extra thread reserves tens of MB of address
#: space (glibc's arenas are 64 MiB each on 64-bit), which RLIMIT_AS counts although nothing uses it.
CHILD_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "MALLOC_ARENA_MAX": "2",
    "PYTHONDONTWRITEBYTECODE": "1",
}
#: Test hooks (testhooks.py) reach the child; nothing else of the agent's environment does.
TEST_ENV_PREFIX = "MODEL_AGENT_TEST_"
#: What the parent keeps of the child's stderr for the error message.
STDERR_TAIL = 600
MIB = 1 << 20


@dataclass(frozen=True)
class TrialResult:
    wall_ms: float
    peak_kib: int | None  # the child's VmPeak: the address space it needed, what the limit is set against
    rss_kib: int | None  # the child's VmHWM: the memory it touched
    scorer: str | None
    memory_limited: bool | None  # False: the kernel (or an emulator) did not apply RLIMIT_AS


def request_for(path: Path, manifest: dict, settings: Any) -> dict:
    """All the child needs: the file, its manifest and the few settings the checks read."""
    return {
        "path": str(Path(path).resolve()),  # the child runs in ROOT: a relative data dir would miss
        "manifest": manifest,
        "allowed_globals": list(settings.updates.allowed_globals),
        "default_width": len(settings.scoring.features),
        "compiled": bool(settings.scoring.compiled),
        "memory_mb": settings.updates.trial_memory_mb,
    }


def child_env() -> dict[str, str]:
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    env.update({k: v for k, v in os.environ.items() if k.startswith(TEST_ENV_PREFIX)})
    env.update(CHILD_ENV)
    return env


def run(path: Path, manifest: dict, settings: Any) -> TrialResult:
    """Raises UpdateError (stage "load", or the stage the child's checks failed at) unless the trial passed."""
    try:
        return _run(path, manifest, settings)
    except UpdateError as exc:  # the one line that says the live process never opened this file
        log.warning("candidate refused by its trial process", extra={
            "model_version": manifest.get("version"), "stage": exc.stage, "error": str(exc)})
        raise


def _run(path: Path, manifest: dict, settings: Any) -> TrialResult:
    request = request_for(path, manifest, settings)
    timeout = settings.updates.trial_timeout_s
    started = time.monotonic()
    try:
        child = subprocess.Popen(
            [sys.executable, "-E", "-s", "-m", "module.updates.trial"], cwd=ROOT, env=child_env(),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True,
            start_new_session=True,  # a signal meant for the agent's process group does not reach it
        )
    except OSError as exc:
        raise UpdateError(f"cannot start the trial process: {exc}", stage="load") from None
    try:
        out, err = child.communicate(json.dumps(request).encode("utf-8"), timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        raise UpdateError(f"the trial process took longer than updates.trial_timeout_s ({timeout:g} s) "
                          "to load and score the model; it was killed", stage="load") from None
    except BaseException:
        child.kill()
        child.communicate()
        raise
    wall_ms = (time.monotonic() - started) * 1000.0
    answer = _answer(out)
    if answer is None or child.returncode != 0:
        raise UpdateError(_death(child.returncode, err, request["memory_mb"]), stage="load")
    if not answer.get("ok"):
        raise UpdateError(str(answer.get("error")), stage=str(answer.get("stage") or "load"))
    result = TrialResult(wall_ms, answer.get("peak_kib"), answer.get("rss_kib"), answer.get("scorer"),
                         answer.get("memory_limited"))
    if result.memory_limited is False:
        log.warning("the trial's memory limit is not in force here: RLIMIT_AS was accepted but not applied "
                    "(qemu-user does this; a real device applies it)", extra={
                        "model_version": manifest.get("version"), "memory_limit_mb": request["memory_mb"]})
    log.info("candidate passed its trial", extra={
        "model_version": manifest.get("version"), "wall_ms": round(wall_ms, 1), "peak_kib": result.peak_kib,
        "rss_kib": result.rss_kib, "memory_limit_mb": request["memory_mb"], "memory_limited": result.memory_limited,
        "scorer": result.scorer})
    return result


def _answer(out: bytes) -> dict | None:
    lines = out.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else None
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None


def _death(returncode: int, err: bytes, memory_mb: int) -> str:
    """Why a child ended without an answer: a signal, memory, or an exit code, with its last words."""
    tail = err.decode("utf-8", "replace").strip()[-STDERR_TAIL:]
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        what = f"the trial process was killed by {name} while loading the model"
        if -returncode == signal.SIGKILL:
            what += " (the kernel's OOM killer, or an operator)"
        return what
    if "MemoryError" in tail or "Cannot allocate memory" in tail or "out of memory" in tail.lower():
        return f"the trial process ran out of memory (updates.trial_memory_mb = {memory_mb}): {_last_line(tail)}"
    return f"the trial process exited with code {returncode}: {_last_line(tail) or 'no output'}"


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


# -- the child ------------------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """Linux: the kernel kills this child if the agent dies first (no orphan keeps loading a bomb)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _limit_memory(memory_mb: int) -> bool:
    """True when the limit is in force. qemu-user (the arm32v7 image tests run the image on x86_64 through
    binfmt) answers setrlimit(RLIMIT_AS) with success and applies nothing, as its own host allocations
    would fail under it: reading the limit back tells."""
    import resource

    limit = int(memory_mb) * MIB
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return resource.getrlimit(resource.RLIMIT_AS) == (limit, limit)


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _import_libraries() -> None:
    """numpy and scikit-learn under the limit first: a limit too small for them says so, instead of an
    import failing inside the unpickler and reading as a refused global."""
    try:
        import numpy  # noqa: F401
        import sklearn.base  # noqa: F401
    except (ImportError, MemoryError) as exc:
        raise MemoryError(f"numpy and scikit-learn do not fit: {type(exc).__name__}: {exc}") from None


def _try(request: dict) -> dict:
    """The live process's own steps on the candidate; no entry script init() (it runs only once, live)."""
    from . import candidate

    path, manifest = Path(request["path"]), request["manifest"]
    if _sha256(path) != manifest.get("sha256"):
        raise UpdateError("the model file changed after its sha256 was checked", stage="verify")
    model = candidate.open_model(path, manifest, request["allowed_globals"], request["default_width"],
                                 request["compiled"], source="trial", live=False)
    return {"ok": True, "scorer": model.scorer.name}


def child_main() -> int:
    _die_with_parent()
    request = json.loads(sys.stdin.buffer.read())
    limited = _limit_memory(request["memory_mb"])
    from .testhooks import in_trial

    in_trial(str(request["manifest"].get("version")))
    try:
        _import_libraries()
        answer = _try(request)
    except MemoryError as exc:
        answer = {"ok": False, "stage": "load", "error": _memory_error(exc, request["memory_mb"])}
    except UpdateError as exc:
        text = str(exc)
        if "MemoryError" in text:  # safe_load turns it into a refusal with the same name in it
            text = _memory_error(text, request["memory_mb"])
        answer = {"ok": False, "stage": exc.stage, "error": text}
    except Exception as exc:  # anything a crafted file makes a library raise: a refusal, not a crash
        answer = {"ok": False, "stage": "load", "error": f"{type(exc).__name__}: {exc}"}
    answer.update(peak_kib=_status_kib("VmPeak"), rss_kib=_status_kib("VmHWM"), memory_limited=limited)
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
    return 0


def _memory_error(exc: Any, memory_mb: int) -> str:
    return (f"the model needs more memory than the trial allows (updates.trial_memory_mb = {memory_mb}) "
            f"to load: {exc}")


if __name__ == "__main__":
    sys.exit(child_main())
