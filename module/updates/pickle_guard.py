"""The restricted unpickler: only allow-listed globals, only ever called or changed where that is harmless.

Why the Python unpickler (pickle._Unpickler) and not the C one: the C unpickler lets a subclass hook only
find_class, and find_class is not the whole boundary. Every global it admits lands on the stack, where
BUILD (set attributes), APPEND(S)/SETITEM(S)/ADDITEMS (call .append/.extend/__setitem__/.add) and
REDUCE/NEWOBJ act on it: `GLOBAL TreePredictor` + state + `BUILD` rewrote an allow-listed class for the
whole process. Hooking those opcodes checks the very object they act on, not a model of it (a pre-scan
with pickletools.genops would have to re-derive the stack and memo, and cannot read joblib files, whose
array bytes sit between opcodes), and joblib's own unpickler is already this Python class, so one guard
serves both formats. The cost is a few ms on a 100-tree forest.

The rules, each checked on the object itself:
- find_class resolves exactly the name it checked: Python 2 renames (protocol < 3) are applied first and
  checked, dotted names (`a.b`, walked attribute by attribute) are refused, copyreg extension codes too;
- REDUCE, NEWOBJ(_EX) and OBJ call only an object find_class returned in this load, and the few callables
  whose arguments matter only with the arguments honest files give them (call_checks.py);
- BUILD and the container opcodes act only on objects this load built: never on a global, a class, a
  function, a module, or a shared numpy singleton (a builtin dtype, a numpy scalar);
- opcodes, stack depth and memo size are bounded (pickle_limits.py).
"""

from __future__ import annotations

import _compat_pickle
import pickle
import sys
import types
from typing import Any

import numpy as np

from .allowlist import is_allowed
from .call_checks import check_call
from .pickle_limits import DEFAULT_LIMITS, PickleLimits
from .refusal import Refused

#: Objects that are shared by the whole process however they reached the stack: changing one changes
#: every later use of it (a class's __setstate__, a function's defaults, a module's globals).
_SHARED_KINDS = (
    type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType,
    types.MethodWrapperType, types.WrapperDescriptorType, types.MethodDescriptorType,
    types.ClassMethodDescriptorType, types.GetSetDescriptorType, types.MemberDescriptorType,
    staticmethod, classmethod, property,
    np.generic,  # numpy scalars: np.True_/np.False_ are singletons, and no honest pickle BUILDs a scalar
)


class GuardedUnpickler(pickle._Unpickler):
    dispatch = pickle._Unpickler.dispatch.copy()

    def __init__(self, file, names: frozenset[str], limits: PickleLimits = DEFAULT_LIMITS):
        super().__init__(file)
        self._names, self._limits = names, limits

    # -- globals ---------------------------------------------------------------------------------------

    def find_class(self, module: str, name: str) -> Any:
        module, name = self._renamed(module, name)
        if "." in name or not name or not module:
            raise Refused(f"the model file names {module}.{name}: dotted or empty names are not loaded")
        if not is_allowed(module, name, self._names):
            raise Refused(
                f"the model file names {module}.{name}, which is not on the allow-list "
                "(add it to updates.allowed_globals only if you trust what it does)"
            )
        __import__(module, level=0)
        obj = getattr(sys.modules[module], name)
        self._globals.add(id(obj))
        return obj

    def _renamed(self, module: str, name: str) -> tuple[str, str]:
        """The name pickle would import (its Python 2 renames), so that name is the one checked."""
        if self.proto < 3 and self.fix_imports:
            if (module, name) in _compat_pickle.NAME_MAPPING:
                return _compat_pickle.NAME_MAPPING[(module, name)]
            return _compat_pickle.IMPORT_MAPPING.get(module, module), name
        return module, name

    def _refuse_ext(self):
        raise Refused("the model file uses copyreg extension codes (EXT1/2/4), which are not loaded")

    for _op in (pickle.EXT1, pickle.EXT2, pickle.EXT4):
        dispatch[_op[0]] = _refuse_ext
    del _op

    # -- calls -------------------------------------------------------------------------------------------

    def _refuse_unless_global(self, callee: Any, opcode: str) -> None:
        if id(callee) not in self._globals:
            raise Refused(f"the model file applies {opcode} to {_describe(callee)}, which is not an "
                          "allow-listed global it named")

    def _checked_call(self, callee: Any, args: Any, opcode: str, kwargs: Any = None) -> None:
        self._refuse_unless_global(callee, opcode)
        check_call(callee, args, kwargs)

    def load_reduce(self):
        self._checked_call(self.stack[-2], self.stack[-1], "REDUCE")
        pickle._Unpickler.load_reduce(self)

    def load_newobj(self):
        self._checked_call(self.stack[-2], self.stack[-1], "NEWOBJ")
        pickle._Unpickler.load_newobj(self)

    def load_newobj_ex(self):
        self._checked_call(self.stack[-3], self.stack[-2], "NEWOBJ_EX", self.stack[-1])
        pickle._Unpickler.load_newobj_ex(self)

    def load_obj(self):
        self._refuse_unless_global(self.stack[0] if self.stack else None, "OBJ")
        pickle._Unpickler.load_obj(self)

    def _instantiate(self, klass, args):
        """OBJ and INST (whose class find_class just returned) both call the class here."""
        check_call(klass, tuple(args))
        pickle._Unpickler._instantiate(self, klass, args)

    dispatch[pickle.REDUCE[0]] = load_reduce
    dispatch[pickle.NEWOBJ[0]] = load_newobj
    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex
    dispatch[pickle.OBJ[0]] = load_obj

    # -- changes to objects ------------------------------------------------------------------------------

    def _refuse_shared(self, target: Any, opcode: str) -> None:
        if id(target) in self._globals or isinstance(target, _SHARED_KINDS) or _builtin_dtype(target):
            raise Refused(f"the model file applies {opcode} to {_describe(target)}, which it did not build "
                          "(that would change it for the whole process)")

    def load_build(self):
        self._refuse_shared(self.stack[-2], "BUILD")
        pickle._Unpickler.load_build(self)

    def load_append(self):
        self._refuse_shared(self.stack[-2], "APPEND")
        pickle._Unpickler.load_append(self)

    def load_setitem(self):
        self._refuse_shared(self.stack[-3], "SETITEM")
        pickle._Unpickler.load_setitem(self)

    def _below_mark(self, opcode: str) -> None:
        """APPENDS, SETITEMS and ADDITEMS act on the item just under the last MARK."""
        under = self.metastack[-1] if self.metastack else []
        self._refuse_shared(under[-1] if under else None, opcode)

    def load_appends(self):
        self._below_mark("APPENDS")
        pickle._Unpickler.load_appends(self)

    def load_setitems(self):
        self._below_mark("SETITEMS")
        pickle._Unpickler.load_setitems(self)

    def load_additems(self):
        self._below_mark("ADDITEMS")
        pickle._Unpickler.load_additems(self)

    dispatch[pickle.BUILD[0]] = load_build
    dispatch[pickle.APPEND[0]] = load_append
    dispatch[pickle.APPENDS[0]] = load_appends
    dispatch[pickle.SETITEM[0]] = load_setitem
    dispatch[pickle.SETITEMS[0]] = load_setitems
    dispatch[pickle.ADDITEMS[0]] = load_additems

    # -- bounds ------------------------------------------------------------------------------------------

    def load_mark(self):
        self._under_marks += len(self.stack) + 1  # the mark counts as an item, as in pickletools
        pickle._Unpickler.load_mark(self)

    def pop_mark(self):
        self._under_marks -= len(self.metastack[-1]) + 1 if self.metastack else 0
        return pickle._Unpickler.pop_mark(self)

    dispatch[pickle.MARK[0]] = load_mark

    def load(self):
        """pickle._Unpickler.load (CPython 3.11) with an opcode count and stack/memo bounds in its loop."""
        self._globals: set[int] = set()
        self._under_marks = 0
        self._unframer = pickle._Unframer(self._file_read, self._file_readline)
        self.read, self.readinto = self._unframer.read, self._unframer.readinto
        self.readline = self._unframer.readline
        self.metastack, self.stack = [], []
        self.append = self.stack.append
        self.proto = 0
        read, dispatch, memo = self.read, self.dispatch, self.memo
        max_opcodes, max_stack, max_memo = self._limits.max_opcodes, self._limits.max_stack, self._limits.max_memo
        count = 0
        try:
            while True:
                key = read(1)
                if not key:
                    raise EOFError
                dispatch[key[0]](self)
                count += 1
                if count > max_opcodes or len(self.stack) + self._under_marks > max_stack or len(memo) > max_memo:
                    self._over_limit(count)
        except pickle._Stop as stop:
            return stop.value

    def _over_limit(self, count: int) -> None:
        limits = self._limits
        if count > limits.max_opcodes:
            raise Refused(f"the model file runs more than {limits.max_opcodes:,} pickle opcodes (the limit)")
        if len(self.memo) > limits.max_memo:
            raise Refused(f"the model file memoizes more than {limits.max_memo:,} objects (the limit)")
        raise Refused(f"the model file stacks more than {limits.max_stack:,} items (the stack limit)")


def _builtin_dtype(obj: Any) -> bool:
    """np.dtype('f8', copy=False) is numpy's own float64 descriptor; honest pickles BUILD copies only."""
    return isinstance(obj, np.dtype) and obj.isbuiltin != 0


def _describe(obj: Any) -> str:
    if isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType)) or callable(obj):
        name = getattr(obj, "__qualname__", getattr(obj, "__name__", type(obj).__name__))
        return f"{getattr(obj, '__module__', '?')}.{name}"
    return f"a {type(obj).__module__}.{type(obj).__qualname__}"
