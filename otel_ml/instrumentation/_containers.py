"""Reading what a framework's prediction call was given and returned, cheaply.

- :func:`remember_source` / :func:`source_of`: a data container (an XGBoost
  ``DMatrix``, a CatBoost ``Pool``) is read through a weak reference to the array
  or frame it was built from, instead of copying its matrix back out;
- :func:`two_classes`, :func:`as_class_indices`: a booster's raw output put in the
  shape the monitor reads (new arrays; the user's result is untouched).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, Final

import numpy as np

from otel_ml.instrumentation._patcher import WrapperFunction

__all__ = ["SOURCE_ATTRIBUTE", "as_class_indices", "remember_source", "source_of", "two_classes"]


def two_classes(result: Any) -> Any:
    """One column of positive-class probabilities as the two-class matrix ``[1 - p, p]``.

    How a binary model's ``Booster.predict`` output is read, so its probabilities go
    to the same per-class streams as ``predict_proba``'s (a new array; the user's
    result is untouched).

    >>> two_classes(np.array([0.25, 1.0])).tolist()
    [[0.75, 0.25], [0.0, 1.0]]
    """
    p = np.asarray(result)
    if p.ndim == 2 and p.shape[1] == 1:
        p = p[:, 0]
    if p.ndim != 1 or p.dtype.kind != "f":
        return result
    return np.column_stack((1.0 - p, p))


def as_class_indices(result: Any) -> Any:
    """Class indices returned as floats (``multi:softmax``) read as integer labels.

    >>> as_class_indices(np.array([2.0, 0.0])).tolist()
    [2, 0]
    """
    r = np.asarray(result)
    if r.dtype.kind == "f" and r.ndim == 1 and bool(np.all(np.isfinite(r))):
        return r.astype(np.int64)
    return result


SOURCE_ATTRIBUTE: Final = "_otel_ml_source"
"""Attribute of a framework data container (DMatrix, Pool) holding a weak reference to the
array or frame it was built from."""


def remember_source(argument: str) -> WrapperFunction:
    """Wrapper for a data container's ``__init__``: keep a weak reference to its source data.

    A prediction on the container (an XGBoost ``DMatrix``, a CatBoost ``Pool``) is then
    read from the user's own array or frame, without copying the container's matrix
    back out. Only a numpy array, a pandas DataFrame or a scipy sparse matrix is kept
    (weakly: the container does not keep it alive).
    """

    def init(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        result = wrapped(*args, **kwargs)
        data = args[0] if args else kwargs.get(argument)
        kind = type(data).__module__.partition(".")[0]
        if isinstance(data, np.ndarray) or kind in ("pandas", "scipy"):
            try:
                setattr(instance, SOURCE_ATTRIBUTE, weakref.ref(data))
            except (TypeError, AttributeError):
                pass  # no weak references or no attributes: read as rows only
        return result

    return init


def source_of(container: object, n_rows: int) -> object:
    """The data ``container`` was built from, if still alive and of ``n_rows`` rows.

    Else an ``(n_rows, 0)`` array: the call's rows are counted, its features are not
    read (counted as unreadable rows).
    """
    ref = getattr(container, SOURCE_ATTRIBUTE, None)
    data = ref() if isinstance(ref, weakref.ref) else None
    shape = getattr(data, "shape", None)
    if data is not None and shape is not None and len(shape) == 2 and shape[0] == n_rows:
        return data
    return np.empty((n_rows, 0))
