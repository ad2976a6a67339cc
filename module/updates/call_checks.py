"""The arguments an allow-listed callable may get from a pickle, for the few whose arguments matter.

An allow-listed name makes a callable safe to call with data, not with any data: `_codecs.encode` looks
its codec up by name (importing `encodings.<name>`), and `bytes(n)`, `numpy.ndarray(shape)` or
`_reconstruct(ndarray, shape, ...)` reserve n- or shape-sized memory from a 100-byte file, as does
`Tree(n_features, n_classes, n_outputs)` with n_outputs. Honest pickles call
them in one form only (what numpy's and pickle's own reducers write), so that form is the one admitted.
"""

from __future__ import annotations

import _codecs
from typing import Any, Callable

import numpy as np
from numpy.core.multiarray import _reconstruct
from sklearn.tree._tree import Tree

from .refusal import Refused


def _latin1_only(args: tuple) -> bool:
    """Protocol 2 writes bytes as _codecs.encode(text, "latin1")."""
    return len(args) == 2 and type(args[0]) is str and args[1] == "latin1"


def _empty_reconstruct(args: tuple) -> bool:
    """ndarray.__reduce__ writes _reconstruct(cls, (0,), b"b"); BUILD then sets shape and data together."""
    return len(args) == 3 and args[1] == (0,)


def _never(args: tuple) -> bool:
    """numpy.ndarray is admitted as _reconstruct's argument; calling it allocates whatever shape it is given."""
    return False


def _tree_shape(args: tuple) -> bool:
    """Tree(n_features, n_classes, n_outputs) allocates n_outputs entries before it reads n_classes, whose
    length Tree.__reduce__ writes as n_outputs: that is the form admitted."""
    return (len(args) == 3 and isinstance(args[1], np.ndarray) and args[1].ndim == 1
            and type(args[2]) is int and args[2] == len(args[1]))


def _no_arguments(args: tuple) -> bool:
    """Protocol 2 writes b"" as bytes(); bytes(n) would allocate n bytes from a number in the file."""
    return args == ()


ARGUMENT_CHECKS: dict[int, tuple[str, Callable[[tuple], bool]]] = {
    id(bytes): ("builtins.bytes", _no_arguments),
    id(Tree): ("sklearn.tree._tree.Tree", _tree_shape),
    id(_codecs.encode): ("_codecs.encode", _latin1_only),
    id(_reconstruct): ("numpy.core.multiarray._reconstruct", _empty_reconstruct),
    id(np.ndarray): ("numpy.ndarray", _never),
}


def check_call(callee: Any, args: Any, kwargs: Any = None) -> None:
    """Refuses a call of callee with args (REDUCE, NEWOBJ(_EX), OBJ, INST) that no honest pickle makes;
    keyword arguments (NEWOBJ_EX) are never admitted for these callables."""
    entry = ARGUMENT_CHECKS.get(id(callee))
    if entry is not None and (kwargs or not (isinstance(args, tuple) and entry[1](args))):
        raise Refused(f"the model file calls {entry[0]} with arguments no honest model file uses")
