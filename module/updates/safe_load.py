"""Load a model file without running its code: pickle and joblib through a restricted unpickler, skops
through skops' own trusted-types check. Every global a file names must be on the allow-list (allowlist.py).
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any, Iterable

from ..errors import UpdateError
from .allowlist import allowed_names, is_allowed

FORMATS = ("pickle", "joblib", "skops")


class Refused(UpdateError):
    """The file names a global outside the allow-list, or holds what the loader will not read."""

    stage = "load"


class RestrictedUnpickler(pickle.Unpickler):
    """pickle.Unpickler whose find_class admits only allow-listed globals (the C implementation, fast)."""

    def __init__(self, file, names: frozenset[str]):
        super().__init__(file)
        self._names = names

    def find_class(self, module: str, name: str) -> Any:
        return _checked(module, name, self._names, super().find_class)


def _checked(module: str, name: str, names: frozenset[str], find) -> Any:
    if not is_allowed(module, name, names):
        raise Refused(
            f"the model file names {module}.{name}, which is not on the allow-list "
            "(add it to updates.allowed_globals only if you trust what it does)"
        )
    return find(module, name)


def load_pickle(path: Path, extra: Iterable[str] = ()) -> Any:
    with open(path, "rb") as fh:
        return RestrictedUnpickler(fh, allowed_names(extra)).load()


def load_joblib(path: Path, extra: Iterable[str] = ()) -> Any:
    """joblib.load itself uses plain pickle (and plain pickle.load for object arrays): never call it."""
    from joblib.numpy_pickle import NDArrayWrapper, NumpyArrayWrapper, NumpyUnpickler
    from joblib.numpy_pickle_utils import _read_fileobject

    names = allowed_names(extra, joblib=True)

    class RestrictedJoblibUnpickler(NumpyUnpickler):
        dispatch = NumpyUnpickler.dispatch.copy()

        def find_class(self, module: str, name: str) -> Any:
            return _checked(module, name, names, super().find_class)

        def load_build(self):
            pickle._Unpickler.load_build(self)
            top = self.stack[-1]
            if isinstance(top, NDArrayWrapper):
                raise Refused("joblib files older than joblib 0.10 (companion .npy files) are not loaded")
            if isinstance(top, NumpyArrayWrapper):
                if top.dtype.hasobject:
                    # joblib would read these with plain pickle.load, outside any allow-list.
                    raise Refused("the joblib file holds an array of Python objects, which is not loaded")
                self.stack.pop()
                self.stack.append(top.read(self))

        dispatch[pickle.BUILD[0]] = load_build

    with open(path, "rb") as raw:
        with _read_fileobject(raw, str(path), None) as fobj:
            if isinstance(fobj, str):
                raise Refused("joblib files older than joblib 0.10 are not loaded")
            return RestrictedJoblibUnpickler(str(path), fobj, mmap_mode=None).load()


def load_skops(path: Path, extra: Iterable[str] = ()) -> Any:
    import skops.io as sio

    names = allowed_names(extra)
    untrusted = sio.get_untrusted_types(file=path)
    refused = [t for t in untrusted if not is_allowed(*_split(t), names)]
    if refused:
        raise Refused(f"the skops file holds types that are not trusted: {', '.join(sorted(refused)[:10])}")
    return sio.load(path, trusted=untrusted)


def _split(dotted: str) -> tuple[str, str]:
    module, _, name = dotted.rpartition(".")
    return module, name


LOADERS = {"pickle": load_pickle, "joblib": load_joblib, "skops": load_skops}


def load(path: Path, fmt: str, extra: Iterable[str] = ()) -> Any:
    """The estimator in `path`, or UpdateError (stage "load") saying why it was refused."""
    if fmt not in LOADERS:
        raise Refused(f"unknown model format {fmt!r} (expected one of {', '.join(FORMATS)})")
    try:
        return LOADERS[fmt](Path(path), tuple(extra))
    except UpdateError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            ImportError, OSError, MemoryError) as exc:
        raise Refused(f"cannot load the {fmt} file: {type(exc).__name__}: {exc}") from None
    except Exception as exc:  # a crafted file can raise anything from a __setstate__; the old model serves on
        raise Refused(f"cannot load the {fmt} file: {type(exc).__name__}: {exc}") from None


def loads_pickle(data: bytes, extra: Iterable[str] = ()) -> Any:
    """For tests and the bundler: the same restricted unpickler over bytes in memory."""
    return RestrictedUnpickler(io.BytesIO(data), allowed_names(extra)).load()
