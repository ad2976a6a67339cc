"""The one list of globals a model file may name: what the restricted unpickler and the skops check admit.

A pickle can call any global it names, so this list is the security boundary. It holds classes whose
construction and __setstate__ only build data (estimators, trees, arrays, dtypes, sparse matrices) and a few
reconstruction helpers of numpy. It deliberately holds no function that reaches the file system, the
network, imports or attribute lookup (builtins.getattr, operator.attrgetter, numpy.load, ...).
Extend it per device with settings `updates.allowed_globals` ("module.Name" strings).
"""

from __future__ import annotations

import importlib
from typing import Iterable

#: numpy's array, dtype and scalar reconstruction, plus its random-state constructors (estimators keep one).
NUMPY_GLOBALS = (
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar",
    "numpy.core.numeric._frombuffer",
    "numpy.random._pickle.__randomstate_ctor",
    "numpy.random._pickle.__bit_generator_ctor",
    "numpy.random._pickle.__generator_ctor",
    "numpy.random.mtrand.RandomState",
    "numpy.random._mt19937.MT19937",
    "numpy.random._pcg64.PCG64",
    "numpy.random._generator.Generator",
    "_codecs.encode",
)
"""_codecs.encode only turns a str into bytes: protocol 2 pickles store bytes that way."""

#: numpy scalar types that appear as dtypes' classes.
NUMPY_DTYPE_GLOBALS = tuple(
    f"numpy.{name}"
    for name in (
        "float64", "float32", "float16", "int64", "int32", "int16", "int8",
        "uint64", "uint32", "uint16", "uint8", "bool_", "intp",
    )
)

#: scipy sparse matrices (fitted text and one-hot pipelines hold them). scipy >= 1.8 pickles them as
#: scipy.sparse._csr.csr_matrix (the pinned scipy 1.10 does), older releases as scipy.sparse.csr.csr_matrix,
#: scipy >= 1.11 adds the _csr_matrix base: the same classes under three paths. They load as NEWOBJ plus a
#: BUILD of a dict of arrays and a shape (no __setstate__, no code), and the guard refuses BUILD on the class.
SCIPY_GLOBALS = tuple(
    f"scipy.sparse.{module}.{prefix}{kind}_matrix"
    for kind in ("csr", "csc", "coo")
    for module, prefix in ((f"_{kind}", ""), (f"_{kind}", "_"), (kind, ""))
)

#: scikit-learn's non-estimator building blocks: the tree structures and the loss objects of boosting.
SKLEARN_GLOBALS = (
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss._loss.CyHalfSquaredError",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.Interval",
    # Cython's generated unpicklers of the two Cy losses above (HistGradientBoosting models name them): each
    # checks a layout checksum, makes an empty instance of its own class (or of a subclass passed as the
    # first argument, which is itself a global the allow-list admitted) and copies a state tuple into it.
    "sklearn._loss._loss.__pyx_unpickle_CyHalfSquaredError",
    "sklearn._loss._loss.__pyx_unpickle_CyHalfBinomialLoss",
    # HistGradientBoosting's feature binner: a BaseEstimator like the estimators admitted by package, left
    # out of that rule only by its private name; it loads the same way (BaseEstimator.__setstate__).
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
)

#: The neighbour trees of LocalOutlierFactor(novelty=True) with algorithm kd_tree / ball_tree, and their
#: distance metrics. The trees and metrics are Cython classes whose __reduce__ is (newObj, (cls,)) plus a
#: BUILD with a tuple of arrays and numbers: __setstate__ copies those into typed buffers, nothing else.
#: newObj is `return cls.__new__(cls)`: it only makes an empty instance of a class the unpickler has
#: already admitted through this same list (its argument comes off the stack), and runs no __init__.
#: PyFuncDistance is left out on purpose: it holds a Python callable and calls it on every distance.
NEIGHBORS_GLOBALS = (
    "sklearn.neighbors._kd_tree.newObj",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.newObj",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.metrics._dist_metrics.newObj",
) + tuple(
    f"sklearn.metrics._dist_metrics.{name}{suffix}"
    for name in ("Euclidean", "SEuclidean", "Manhattan", "Chebyshev", "Minkowski", "WMinkowski", "Mahalanobis",
                 "Hamming", "Canberra", "BrayCurtis", "Jaccard", "Matching", "Dice", "Kulsinski", "RogersTanimoto",
                 "RussellRao", "SokalMichener", "SokalSneath", "Haversine")
    for suffix in ("Distance", "Distance32")
)

#: SGDOneClassSVM's (and the other SGD estimators') loss objects: Cython classes reduced to (cls, (numbers,)),
#: so unpickling calls the constructor with one float at most; they compute losses and touch nothing else.
SGD_LOSS_GLOBALS = tuple(
    f"sklearn.linear_model._sgd_fast.{name}"
    for name in ("Hinge", "SquaredHinge", "ModifiedHuber", "Log", "SquaredLoss", "Huber", "EpsilonInsensitive",
                 "SquaredEpsilonInsensitive")
)

#: Python builtins in estimators' pickles. slice(start, stop, step) only makes a slice object (no call of anything,
#: no allocation beyond the object): ColumnTransformer keeps its output column ranges as slices.
#: bytes: protocol 2 writes an empty bytes object as a call of bytes() (HistGradientBoosting models hold
#: one); call_checks.py admits only that call, since bytes(n) would allocate n bytes.
PYTHON_GLOBALS = ("builtins.slice", "builtins.bytes")

#: Only for joblib files: the placeholder joblib writes in the pickle stream for each array it stores raw.
JOBLIB_GLOBALS = ("joblib.numpy_pickle.NumpyArrayWrapper",)

#: Any class under these packages that subclasses scikit-learn's BaseEstimator is admitted: estimators,
#: pipelines, column transformers, scalers, encoders. Estimators take data only in __init__ and __setstate__.
ESTIMATOR_PACKAGES = ("sklearn.",)

#: Modules under sklearn. that are never imported for a model file: scikit-learn ships its test suites,
#: their conftest, mocks and estimator-check helpers in the wheel, and their BaseEstimator subclasses are test
#: doubles (importing `sklearn.tests.test_base` alone imports pytest and runs the module's code).
#: `experimental` modules patch sklearn's namespaces when imported; the build helpers import build tools.
NEVER_IMPORTED_PARTS = frozenset({"tests", "conftest", "_testing", "_mocking", "estimator_checks", "experimental",
                                  "_build_utils", "__check_build"})

BUILTIN_GLOBALS = frozenset(NUMPY_GLOBALS + NUMPY_DTYPE_GLOBALS + SCIPY_GLOBALS + SKLEARN_GLOBALS
                            + NEIGHBORS_GLOBALS + SGD_LOSS_GLOBALS + PYTHON_GLOBALS)


def allowed_names(extra: Iterable[str] = (), joblib: bool = False) -> frozenset[str]:
    """The exact "module.name" globals admitted: the built-in list, joblib's wrapper if asked, and settings'."""
    names = set(BUILTIN_GLOBALS) | set(extra)
    if joblib:
        names |= set(JOBLIB_GLOBALS)
    return frozenset(names)


def is_estimator_class(module: str, name: str) -> bool:
    """True for a scikit-learn estimator class (resolved without touching anything outside sklearn)."""
    if not module.startswith(ESTIMATOR_PACKAGES) or name.startswith("_") or "." in name:
        return False
    if NEVER_IMPORTED_PARTS.intersection(module.split(".")):
        return False
    try:
        obj = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return False
    from sklearn.base import BaseEstimator

    return isinstance(obj, type) and issubclass(obj, BaseEstimator)


def is_allowed(module: str, name: str, names: frozenset[str]) -> bool:
    return f"{module}.{name}" in names or is_estimator_class(module, name)
