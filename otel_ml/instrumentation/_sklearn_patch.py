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

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast

import wrapt
from sklearn.utils import all_estimators
from sklearn.utils.parallel import Parallel as _SklearnParallel
from sklearn.utils.parallel import _FuncWrapper

from otel_ml.instrumentation._sklearn_calls import IN_MONITORED_CALL, WrapperFunction

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

_LOG = logging.getLogger(__name__)

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


if TYPE_CHECKING:  # wrapt's classes are generic in its stubs only
    _BoundBase = wrapt.BoundFunctionWrapper[..., Any]
    _FunctionBase = wrapt.FunctionWrapper[..., Any]
else:
    _BoundBase = wrapt.BoundFunctionWrapper
    _FunctionBase = wrapt.FunctionWrapper


class _BoundMethodWrapper(_BoundBase):
    """A bound wrapped method that pickles as ``getattr(owner, name)``."""

    def __reduce_ex__(self, protocol: object) -> tuple[Any, tuple[Any, str]]:
        owner = self._self_instance if self._self_instance is not None else self._self_owner
        return getattr, (owner, self._self_parent._self_attribute)

    def __reduce__(self) -> tuple[Any, tuple[Any, str]]:
        return self.__reduce_ex__(2)


class _MethodWrapper(_FunctionBase):
    """The wrapt ``FunctionWrapper`` otel_ml installs on a scikit-learn class."""

    __bound_function_wrapper__ = _BoundMethodWrapper

    def __init__(self, wrapped: object, wrapper: WrapperFunction, attribute: str) -> None:
        super().__init__(cast(Callable[..., Any], wrapped), wrapper)
        self._self_attribute = attribute


@dataclass(frozen=True)
class _Patch:
    owner: type
    attribute: str
    original: object


class Patcher:
    """Installs wrappers on classes and restores the originals exactly.

    Examples
    --------
    >>> class Model:
    ...     def predict(self, x):
    ...         return x + 1
    >>> seen = []
    >>> def wrapper(wrapped, instance, args, kwargs):
    ...     seen.append(type(instance).__name__)
    ...     return wrapped(*args, **kwargs)
    >>> original = Model.__dict__["predict"]
    >>> patcher = Patcher()
    >>> patcher.wrap(Model, "predict", wrapper)
    True
    >>> Model().predict(1), seen
    (2, ['Model'])
    >>> patcher.restore()
    >>> Model.__dict__["predict"] is original
    True
    """

    def __init__(self) -> None:
        self._patches: list[_Patch] = []

    def __len__(self) -> int:
        return len(self._patches)

    def wrap(self, owner: type, attribute: str, wrapper: WrapperFunction) -> bool:
        """Wrap ``owner.<attribute>`` (defined in ``owner.__dict__``); False if already wrapped."""
        original = vars(owner)[attribute]
        if isinstance(original, _MethodWrapper):
            return False
        wrapt.wrap_object(owner, attribute, _MethodWrapper, (wrapper, attribute))
        self._patches.append(_Patch(owner, attribute, original))
        return True

    def restore(self) -> None:
        """Put every original back where it was, newest first."""
        while self._patches:
            patch = self._patches.pop()
            current = vars(patch.owner).get(patch.attribute)
            if isinstance(current, _MethodWrapper) and current.__wrapped__ is patch.original:
                setattr(patch.owner, patch.attribute, patch.original)
            else:
                # Someone wrapped on top of us: removing ours would drop theirs. Our
                # wrapper stays, and passes calls straight through once uninstrumented.
                _LOG.debug(
                    "otel_ml: %s.%s was re-wrapped; left in place", patch.owner, patch.attribute
                )


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


def guard_only(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Wrapper for ``fit``/``transform``/...: predictions made inside are not monitored."""
    if IN_MONITORED_CALL.get():
        return wrapped(*args, **kwargs)
    token = IN_MONITORED_CALL.set(True)
    try:
        return wrapped(*args, **kwargs)
    finally:
        IN_MONITORED_CALL.reset(token)


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


def install(patcher: Patcher, predict_wrapper: Callable[[str], WrapperFunction]) -> int:
    """Wrap every prediction method, guard method and ``Parallel.__call__``; return the count.

    ``predict_wrapper(method_name)`` gives the wrapper for one prediction method.
    """
    classes = estimator_classes()
    wrappers = {name: predict_wrapper(name) for name in PREDICT_METHODS}
    for owner, name in defining_classes(classes, PREDICT_METHODS):
        patcher.wrap(owner, name, wrappers[name])
    for owner, name in defining_classes(classes, GUARD_METHODS):
        patcher.wrap(owner, name, guard_only)
    patcher.wrap(_SklearnParallel, "__call__", propagate_guard)
    return len(patcher)
