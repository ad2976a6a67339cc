"""Load a model file without running its code: pickle and joblib through the guarded unpickler
(pickle_guard.py), skops after its schema was checked node by node (skops_schema.py). Every global or type a
file names must be on the allow-list (allowlist.py).
"""

from __future__ import annotations

import io
import math
import pickle
from pathlib import Path
from typing import Any, Iterable

from ..errors import UpdateError
from . import skops_schema
from .allowlist import allowed_names
from .pickle_guard import GuardedUnpickler
from .capped_stream import CappedStream
from .pickle_limits import DEFAULT_LIMITS, PickleLimits
from .refusal import Refused

FORMATS = ("pickle", "joblib", "skops")


class RestrictedUnpickler(GuardedUnpickler):
    """The guarded Python unpickler over allow-listed globals (pickle_guard.py says why not the C one)."""


def load_pickle(path: Path, extra: Iterable[str] = ()) -> Any:
    with open(path, "rb") as fh:
        return RestrictedUnpickler(fh, allowed_names(extra)).load()


def load_joblib(path: Path, extra: Iterable[str] = (), limits: PickleLimits = DEFAULT_LIMITS) -> Any:
    """joblib.load itself uses plain pickle (and plain pickle.load for object arrays): never call it."""
    from joblib.numpy_pickle import NDArrayWrapper, NumpyArrayWrapper, NumpyUnpickler
    from joblib.numpy_pickle_utils import _read_fileobject

    names = allowed_names(extra, joblib=True)

    class RestrictedJoblibUnpickler(GuardedUnpickler, NumpyUnpickler):
        dispatch = GuardedUnpickler.dispatch.copy()

        def __init__(self, filename: str, fobj: CappedStream):
            NumpyUnpickler.__init__(self, filename, fobj, mmap_mode=None)
            self._names, self._limits = names, limits

        def load_build(self):
            GuardedUnpickler.load_build(self)  # the guard, then pickle's BUILD; never joblib's (plain pickle)
            top = self.stack[-1]
            if isinstance(top, NDArrayWrapper):
                raise Refused("joblib files older than joblib 0.10 (companion .npy files) are not loaded")
            if isinstance(top, NumpyArrayWrapper):
                if top.dtype.hasobject:
                    # joblib would read these with plain pickle.load, outside any allow-list.
                    raise Refused("the joblib file holds an array of Python objects, which is not loaded")
                # joblib allocates the whole array (np.empty) before reading it from the stream.
                self.file_handle.reserve(math.prod(int(n) for n in top.shape) * top.dtype.itemsize, "array")
                self.stack.pop()
                self.stack.append(top.read(self))

        dispatch[pickle.BUILD[0]] = load_build

    with open(path, "rb") as raw:
        with _read_fileobject(raw, str(path), None) as fobj:
            if isinstance(fobj, str):
                raise Refused("joblib files older than joblib 0.10 are not loaded")
            return RestrictedJoblibUnpickler(str(path), CappedStream(fobj, limits.max_unpacked_bytes)).load()


def load_skops(path: Path, extra: Iterable[str] = ()) -> Any:
    """skops builds only what skops_schema approved: the walk's types are the whole trusted list."""
    import skops.io as sio

    trusted = skops_schema.trusted_types(skops_schema.read_schema(path), allowed_names(extra))
    return sio.load(path, trusted=trusted)


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
