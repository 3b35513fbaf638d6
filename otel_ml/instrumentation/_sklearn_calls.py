"""What happens on each wrapped scikit-learn prediction call.

:class:`SklearnCalls` holds the configuration of one ``instrument()`` (model
options, hooks, providers) and makes one wrapper per method name. A wrapper:

1. passes the call straight through when instrumentation is off, suppressed
   (``is_instrumentation_enabled()``), or when the call is nested in another
   monitored call: a scikit-learn one (the :data:`IN_MONITORED_CALL` guard) or
   any whose span otel_ml started (an ``async`` ``@monitor`` function);
2. finds the :class:`ModelMonitor` of the estimator (named by
   :func:`otel_ml.instrumentation.sklearn.name_model` -- the naming is an
   attribute of the instance, see ``_sklearn_naming`` --, by the ``models``
   mapping, or after its class), built once per model name and version;
3. runs the original method under ``ModelMonitor.call`` with the guard set, so
   whatever the method calls inside (a Pipeline's final step, ``predict_proba``
   from ``predict``, the trees of a forest) is not monitored a second time.

Nothing here raises into the user's call: a failure to resolve the model is
counted on ``otel_ml.internal.errors`` and the call runs unmonitored.
"""

from __future__ import annotations

import contextvars
import dataclasses
import logging
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from otel_ml import semconv
from otel_ml.instrumentation._internal_errors import InternalErrors
from otel_ml.instrumentation._options import MonitorOptions, OneDimensionalInput, Task
from otel_ml.instrumentation._sklearn_config import FRAMEWORK
from otel_ml.instrumentation._sklearn_naming import naming_of, options_from
from otel_ml.sketch import Profile

__all__ = [
    "IN_MONITORED_CALL",
    "MonitorFactory",
    "RequestHook",
    "ResponseHook",
    "SklearnCalls",
    "WrapperFunction",
]

_LOG = logging.getLogger(__name__)

IN_MONITORED_CALL: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "otel_ml_sklearn_in_call", default=False
)
"""True while a monitored (or guard-only) scikit-learn call runs in this context."""

WrapperFunction = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]
"""A wrapt wrapper: ``wrapper(wrapped, instance, args, kwargs) -> result``."""

STAGE_RESOLVE = "sklearn.resolve"
STAGE_HOOK = "sklearn.hook"

RequestHook = Callable[[trace.Span, Any, str, Any], None]
"""``request_hook(span, estimator, operation, X)``, called before the method runs."""

ResponseHook = Callable[[trace.Span, Any, str, Any], None]
"""``response_hook(span, estimator, operation, result)``, called after it returned."""


class _Monitor(Protocol):
    def call(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        operation: str,
        inputs: object,
    ) -> Any: ...


MonitorFactory = Callable[[MonitorOptions], _Monitor]
"""Builds the monitor of one model from its options (``ModelMonitor`` by default)."""

def _inside_monitored_span() -> bool:
    """Whether the current span is one otel_ml started (a monitored call is running)."""
    scope = getattr(trace.get_current_span(), "instrumentation_scope", None)
    return getattr(scope, "name", None) == semconv.SCOPE_NAME


def _class_names(estimator: object) -> tuple[str, ...] | None:
    classes: Any = getattr(estimator, "classes_", None)
    if getattr(classes, "ndim", None) != 1:
        return None  # not a classifier, not fitted, or multi-output (a list of arrays)
    try:
        return tuple(str(c) for c in classes)
    except TypeError:
        return None


def _feature_names(estimator: object) -> tuple[str, ...] | None:
    names: Any = getattr(estimator, "feature_names_in_", None)
    if getattr(names, "ndim", None) != 1:
        return None
    return tuple(str(n) for n in names)


def _task(estimator: object, class_names: tuple[str, ...] | None) -> Task:
    from sklearn.base import is_classifier, is_regressor

    if is_classifier(estimator):
        if class_names is None:
            return Task.AUTO
        if len(class_names) == 2:
            return Task.BINARY_CLASSIFICATION
        return Task.MULTICLASS_CLASSIFICATION
    if is_regressor(estimator):
        return Task.REGRESSION
    return Task.AUTO


def complete_options(options: MonitorOptions, estimator: object) -> MonitorOptions:
    """Fill what the estimator knows (classes, feature names, task) into ``options``.

    What the user set explicitly wins; ``framework`` is ``sklearn``,
    ``skip_nested`` is on (a call inside another monitored call, such as a
    ``@monitor``-decorated function, is not monitored twice) and a 1-D input is
    a batch, as scikit-learn reads it (documents for a text Pipeline, values of
    one feature for ``IsotonicRegression``), never one row.
    """
    class_names = options.class_names or _class_names(estimator)
    task = options.task
    if task is Task.AUTO:
        task = _task(estimator, class_names)
    return dataclasses.replace(
        options,
        framework=FRAMEWORK,
        task=task,
        class_names=class_names,
        feature_names=options.feature_names or _feature_names(estimator),
        skip_nested=True,
        one_dimensional_input=OneDimensionalInput.COLUMN,
    )


class SklearnCalls:
    """The monitoring side of one ``SklearnInstrumentor.instrument()``.

    Parameters
    ----------
    models
        Options by estimator class name (``"Pipeline"``, ``"RandomForestClassifier"``).
    references
        Reference profiles by model name, for options without one.
    template
        Options for estimators named after their class: everything but the model
        name is taken from it (version, id column, capture settings).
    monitor_factory
        Builds the monitor of a model from its options.
    errors
        Where internal failures are counted.
    request_hook, response_hook
        User callbacks run inside the span (their exceptions are logged, never raised).
    """

    def __init__(
        self,
        *,
        models: Mapping[str, MonitorOptions],
        references: Mapping[str, Profile],
        template: MonitorOptions,
        monitor_factory: MonitorFactory,
        errors: InternalErrors,
        request_hook: RequestHook | None = None,
        response_hook: ResponseHook | None = None,
    ) -> None:
        self._models = dict(models)
        self._references = dict(references)
        self._template = template
        self._factory = monitor_factory
        self._errors = errors
        self._request_hook = request_hook
        self._response_hook = response_hook
        self._lock = threading.Lock()
        self._by_model: dict[tuple[str, str], _Monitor] = {}
        # Per instance: its naming when resolved (a later name_model resolves it again).
        self._by_instance: weakref.WeakKeyDictionary[Any, tuple[object, _Monitor]] = (
            weakref.WeakKeyDictionary()
        )
        self.active = True

    # -- model resolution ------------------------------------------------------------------
    def options_for(self, estimator: object) -> MonitorOptions:
        """The options this estimator is monitored with."""
        naming = naming_of(estimator)
        if naming is not None:
            options = options_from(naming, self._template)
        else:
            cls_name = type(estimator).__name__
            options = self._models.get(cls_name) or dataclasses.replace(
                self._template, model=cls_name
            )
        if options.reference is None and options.model in self._references:
            options = dataclasses.replace(options, reference=self._references[options.model])
        return complete_options(options, estimator)

    def monitor_for(self, estimator: object) -> _Monitor:
        """The monitor of this estimator's model (one per model name and version)."""
        naming = naming_of(estimator)
        with self._lock:
            try:
                found = self._by_instance.get(estimator)
            except TypeError:
                found = None
        if found is not None and found[0] is naming:
            return found[1]
        options = self.options_for(estimator)
        key = (options.model, options.version)
        with self._lock:
            monitor = self._by_model.get(key)
            if monitor is None:
                monitor = self._factory(options)
                self._by_model[key] = monitor
            try:
                self._by_instance[estimator] = (naming, monitor)
            except TypeError:
                pass  # unhashable estimator: resolved again on each call
        return monitor

    # -- the wrapper -----------------------------------------------------------------------
    def wrapper(self, operation: str) -> WrapperFunction:
        """The wrapt wrapper of one prediction method (``operation`` is its name)."""

        def wrapped_call(
            wrapped: Callable[..., Any],
            instance: Any,
            args: tuple[Any, ...],
            kwargs: dict[str, Any],
        ) -> Any:
            if (
                not self.active
                or instance is None
                or IN_MONITORED_CALL.get()
                or not is_instrumentation_enabled()
            ):
                return wrapped(*args, **kwargs)
            if _inside_monitored_span():
                # Called from a monitored call (an async @monitor function: the monitor's
                # own nesting check is per thread): not monitored, and neither is
                # anything it calls.
                token = IN_MONITORED_CALL.set(True)
                try:
                    return wrapped(*args, **kwargs)
                finally:
                    IN_MONITORED_CALL.reset(token)
            try:
                monitor = self.monitor_for(instance)
            except Exception as exc:  # noqa: BLE001 - never break the model; counted
                self._errors.report(STAGE_RESOLVE, exc)
                return wrapped(*args, **kwargs)
            inputs = args[0] if args else kwargs.get("X")
            fn = wrapped
            if self._request_hook is not None or self._response_hook is not None:
                fn = self._with_hooks(wrapped, instance, operation, inputs)
            token = IN_MONITORED_CALL.set(True)
            try:
                return monitor.call(fn, args, kwargs, operation=operation, inputs=inputs)
            finally:
                IN_MONITORED_CALL.reset(token)

        return wrapped_call

    def _with_hooks(
        self, wrapped: Callable[..., Any], instance: Any, operation: str, inputs: object
    ) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            self._run_hook(self._request_hook, instance, operation, inputs)
            result = wrapped(*args, **kwargs)
            self._run_hook(self._response_hook, instance, operation, result)
            return result

        return run

    def _run_hook(
        self, hook: RequestHook | ResponseHook | None, instance: Any, operation: str, value: Any
    ) -> None:
        if hook is None:
            return
        try:
            hook(trace.get_current_span(), instance, operation, value)
        except Exception as exc:  # noqa: BLE001 - a user hook must not break the model
            self._errors.report(STAGE_HOOK, exc)
