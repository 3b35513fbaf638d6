"""Wrapping scikit-learn's prediction methods in place, and restoring them exactly.

A method is wrapped once, on the class that *defines* it (for example
``LinearClassifierMixin.predict`` serves ``LogisticRegression``,
``RidgeClassifier``, ``SGDClassifier``...), so user subclasses of scikit-learn
estimators are covered too, and :meth:`Patcher.restore` puts back the very
object that was in the class ``__dict__`` (including scikit-learn's
``available_if`` descriptors, so ``hasattr(SVC(), "predict_proba")`` keeps its
meaning while instrumented).

Three details make the wrapping invisible to scikit-learn and its users:

- a bound wrapped method pickles as ``getattr(estimator, name)``: wrapt's
  proxies refuse to pickle, and meta-estimators such as
  ``MultiOutputClassifier(n_jobs=2)`` send bound ``predict`` methods to joblib's
  worker processes;
- the nested-call guard (:data:`IN_MONITORED_CALL`, a ``ContextVar``) travels
  into joblib workers: a ``RandomForestClassifier(n_jobs=2)`` predicts with its
  trees in worker threads, where a context variable set by the caller is not
  visible. While the guard is set, tasks given to scikit-learn's ``Parallel``
  run with the guard set in the worker (thread or process);
- ``fit``, ``transform``, ``score`` and friends only set the guard (no
  monitoring): predictions made inside training or cross-validation
  (``GridSearchCV.fit``, ``IterativeImputer``) are not production traffic.

This module imports scikit-learn; ``otel_ml.instrumentation.sklearn`` imports
it only when instrumenting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final

from sklearn.utils import all_estimators
from sklearn.utils.parallel import Parallel as _SklearnParallel
from sklearn.utils.parallel import _FuncWrapper

from otel_ml.instrumentation._framework import (
    IN_MONITORED_CALL,
    Patcher,
    WrapperFunction,
    guard_only,
)

__all__ = [
    "GUARD_METHODS",
    "IN_MONITORED_CALL",
    "PREDICT_METHODS",
    "Patcher",
    "WrapperFunction",
    "defining_classes",
    "estimator_classes",
    "guard_only",
    "install",
    "propagate_guard",
]

PREDICT_METHODS: Final = ("predict", "predict_proba", "decision_function", "predict_log_proba")
"""The methods whose calls are monitored."""

GUARD_METHODS: Final = (
    "fit",
    "partial_fit",
    "fit_transform",
    "fit_predict",
    "transform",
    "inverse_transform",
    "score",
)
"""Methods inside which prediction calls are internal to scikit-learn (not monitored)."""

TRAINING_METHODS: Final = ("fit", "partial_fit", "fit_transform", "fit_predict", "score")
"""The guard methods that ``record_training=True`` leaves unwrapped."""


def estimator_classes() -> list[type]:
    """Every public scikit-learn estimator class (imports all of scikit-learn once).

    >>> from sklearn.pipeline import Pipeline
    >>> Pipeline in estimator_classes()
    True
    """
    return [cls for _, cls in all_estimators()]


def defining_classes(classes: Iterable[type], methods: Sequence[str]) -> list[tuple[type, str]]:
    """The scikit-learn classes that define each method for the given classes, deduplicated.

    >>> from sklearn.linear_model import LogisticRegression, SGDClassifier
    >>> pairs = defining_classes([LogisticRegression, SGDClassifier], ["predict"])
    >>> [(cls.__name__, name) for cls, name in pairs]
    [('LinearClassifierMixin', 'predict')]
    """
    found: dict[tuple[type, str], None] = {}
    for cls in classes:
        for method in methods:
            for owner in cls.__mro__:
                if method in vars(owner):
                    if owner.__module__.split(".", 1)[0] == "sklearn":
                        found[(owner, method)] = None
                    break
    return list(found)


class _GuardedFuncWrapper(_FuncWrapper):  # type: ignore[misc]
    """scikit-learn's joblib task wrapper that also sets the nested-call guard in the worker."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        token = IN_MONITORED_CALL.set(True)
        try:
            return super().__call__(*args, **kwargs)
        finally:
            IN_MONITORED_CALL.reset(token)


def _guard_task(item: object) -> object:
    if isinstance(item, tuple) and len(item) == 3 and type(item[0]) is _FuncWrapper:
        guarded = _GuardedFuncWrapper.__new__(_GuardedFuncWrapper)
        guarded.__dict__.update(item[0].__dict__)
        return (guarded, item[1], item[2])
    return item


def _guarded_tasks(tasks: Iterable[object]) -> Iterator[object]:
    for item in tasks:
        yield _guard_task(item)


def propagate_guard(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Wrapper for scikit-learn's ``Parallel.__call__``: workers inherit the guard."""
    if not IN_MONITORED_CALL.get() or len(args) != 1 or kwargs:
        return wrapped(*args, **kwargs)
    return wrapped(_guarded_tasks(args[0]))


def install(
    patcher: Patcher,
    predict_wrapper: Callable[[str], WrapperFunction],
    *,
    record_training: bool = False,
) -> int:
    """Wrap every prediction method, guard method and ``Parallel.__call__``; return the count.

    ``predict_wrapper(method_name)`` gives the wrapper for one prediction method.
    With ``record_training``, predictions inside ``fit``, ``score``... are monitored too.
    """
    classes = estimator_classes()
    wrappers = {name: predict_wrapper(name) for name in PREDICT_METHODS}
    for owner, name in defining_classes(classes, PREDICT_METHODS):
        patcher.wrap(owner, name, wrappers[name])
    guards = [m for m in GUARD_METHODS if not (record_training and m in TRAINING_METHODS)]
    for owner, name in defining_classes(classes, guards):
        patcher.wrap(owner, name, guard_only)
    patcher.wrap(_SklearnParallel, "__call__", propagate_guard)
    return len(patcher)
