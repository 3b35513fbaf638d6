"""What every framework instrumentor shares (scikit-learn, XGBoost, LightGBM, CatBoost, ...).

- :data:`IN_MONITORED_CALL`, the one "one call is one call" guard: a
  ``ContextVar`` set while a monitored call (or a training call) runs. Every
  instrumentor checks and sets the same variable, so an ``XGBClassifier`` whose
  ``predict_proba`` calls ``Booster.predict``, or a scikit-learn ``Pipeline``
  whose last step is an ``LGBMClassifier``, is one monitored call, named after
  the outermost model;
- :func:`guard_only`, the wrapper of training methods (``fit``, ``train``):
  predictions made inside them are not production traffic (:func:`guard_training`
  puts it on a framework's training methods and ``train``/``cv`` functions);
- :class:`Patcher` (``_patcher.py``), which wraps methods and module functions with
  wrapt and puts back the very originals on ``uninstrument()``; the readers of data
  containers and raw outputs are in ``_containers.py``;
- :class:`FrameworkCalls`, the monitoring side of one ``instrument()``: the
  model of each instance (``name_model``, else by class name, else a default
  name), and the wrapper of each prediction method;
- :class:`FrameworkInstrumentor`, the ``BaseInstrumentor`` each framework
  subclasses: configuration (``OTEL_ML_<FRAMEWORK>_*``), a framework that is not
  installed is skipped, the export bridge and the exit flush.

Nothing here raises into the user's call: a failure of ours is counted on
``otel_ml.internal.errors`` and the call runs unmonitored; the user's result is
returned as is (the same object) and the user's exception propagates unchanged.
"""

from __future__ import annotations

import atexit
import contextvars
import dataclasses
import hashlib
import importlib.util
import logging
import os
import threading
import weakref
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, ClassVar, Final, NamedTuple, Protocol

from opentelemetry import metrics, trace
from opentelemetry.instrumentation.dependencies import (
    DependencyConflict,
    get_dependency_conflicts,
)
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from otel_ml import semconv
from otel_ml.instrumentation._containers import (
    as_class_indices,
    remember_source,
    source_of,
    two_classes,
)
from otel_ml.instrumentation._internal_errors import InternalErrors
from otel_ml.instrumentation._monitor import is_instrumentation_enabled
from otel_ml.instrumentation._naming import naming_of, options_from
from otel_ml.instrumentation._options import MonitorOptions
from otel_ml.instrumentation._patcher import Patcher, WrapperFunction
from otel_ml.instrumentation._sklearn_config import SklearnConfig, parse_config
from otel_ml.sketch import Profile

__all__ = [
    "IN_MONITORED_CALL",
    "Framework",
    "FrameworkCalls",
    "FrameworkInstrumentor",
    "Patcher",
    "Read",
    "Reader",
    "WrapperFunction",
    "as_class_indices",
    "content_name",
    "guard_only",
    "guard_training",
    "inside_monitored_span",
    "remember_source",
    "source_of",
    "two_classes",
]

_LOG = logging.getLogger(__name__)

IN_MONITORED_CALL: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "otel_ml_in_monitored_call", default=False
)
"""True while a monitored (or guard-only) call of any instrumented framework runs here."""

RequestHook = Callable[[trace.Span, Any, str, Any], None]
"""``request_hook(span, model, operation, X)``, called before the method runs."""

ResponseHook = Callable[[trace.Span, Any, str, Any], None]
"""``response_hook(span, model, operation, result)``, called after it returned."""

STAGE_RESOLVE: Final = "framework.resolve"
STAGE_HOOK: Final = "framework.hook"
STAGE_ADAPT: Final = "framework.output"


def inside_monitored_span() -> bool:
    """Whether the current span is one otel_ml started (a monitored call is running)."""
    scope = getattr(trace.get_current_span(), "instrumentation_scope", None)
    return getattr(scope, "name", None) == semconv.SCOPE_NAME


def guard_only(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Wrapper for ``fit`` / ``train`` / ...: predictions made inside are not monitored."""
    if IN_MONITORED_CALL.get():
        return wrapped(*args, **kwargs)
    token = IN_MONITORED_CALL.set(True)
    try:
        return wrapped(*args, **kwargs)
    finally:
        IN_MONITORED_CALL.reset(token)


def guard_training(patcher: Patcher, classes: Iterable[type], methods: Iterable[str],
                   modules: Iterable[object], *, package: str) -> None:
    """Wrap ``methods`` of ``classes`` (those ``package`` defines) and each module's
    ``train`` and ``cv`` in :func:`guard_only`: the gradient-boosting frameworks' training."""
    patcher.wrap_defined(classes, methods, guard_only, package=package)
    for module in modules:
        for function in ("train", "cv"):
            patcher.wrap(module, function, guard_only)


# -- one framework's knowledge of its models -------------------------------------------------
class Read(NamedTuple):
    """How one call is monitored: the input to describe, the operation, the output reading.

    ``adapt`` turns the result into what the monitor reads (for example one column
    of positive-class probabilities into the two-class matrix); the user gets the
    original result. ``None``: the result is read as it is.
    """

    inputs: object
    operation: str
    adapt: Callable[[Any], Any] | None = None


Reader = Callable[[Any, MonitorOptions, tuple[Any, ...], dict[str, Any]], Read | None]
"""``read(instance, options, args, kwargs)``: how to monitor one call; ``None``: not a
prediction (for example XGBoost's ``pred_contribs``), run unmonitored."""


class Framework(Protocol):
    """What one framework instrumentor knows of its models."""

    #: ``ml.model.framework`` and the ``OTEL_ML_<NAME>_*`` variables
    name: str

    def complete(self, options: MonitorOptions, instance: Any) -> MonitorOptions:
        """Fill in what the model knows (task, class names, feature names)."""
        ...

    def default_name(self, instance: Any) -> str:
        """``ml.model.name`` of an instance named neither by ``name_model`` nor by class."""
        ...


def content_name(instance: object, content: Callable[[], bytes | str]) -> str:
    """``<Class>-<8 hex digits of the model's serialized content>``: a stable default name.

    The same model (the same trees) gets the same name in every process and after a
    restart; two different models of one class get different names. Computed once
    per instance, at its first monitored call (``content`` serializes the model);
    the class name alone when the model cannot be serialized (not fitted).

    >>> content_name(object(), lambda: b"trees")
    'object-29d80730'
    """
    cls_name = type(instance).__name__
    try:
        data = content()
    except Exception:  # noqa: BLE001 - an unfitted model: its class name
        return cls_name
    raw = data.encode() if isinstance(data, str) else bytes(data)
    return f"{cls_name}-{hashlib.sha256(raw).hexdigest()[:8]}"


class _Monitor(Protocol):
    options: MonitorOptions

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


def _default_read(operation: str) -> Reader:
    def read(
        instance: Any, options: MonitorOptions, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Read:
        return Read(args[0] if args else kwargs.get("X"), operation)

    return read


class FrameworkCalls:
    """The monitoring side of one framework instrumentor's ``instrument()``.

    Parameters
    ----------
    framework
        What the framework knows of its models (:class:`Framework`).
    models
        Options by class name (``"Pipeline"``, ``"XGBClassifier"``).
    references
        Reference profiles by model name, for options without one.
    template
        Options for models not given complete options: everything but the model
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
        framework: Framework,
        models: Mapping[str, MonitorOptions],
        references: Mapping[str, Profile],
        template: MonitorOptions,
        monitor_factory: MonitorFactory,
        errors: InternalErrors,
        request_hook: RequestHook | None = None,
        response_hook: ResponseHook | None = None,
    ) -> None:
        self._framework = framework
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
    def options_for(self, instance: object) -> MonitorOptions:
        """The options this instance is monitored with."""
        naming = naming_of(instance)
        if naming is not None:
            options = options_from(naming, self._template)
        else:
            options = self._models.get(type(instance).__name__) or dataclasses.replace(
                self._template, model=self._framework.default_name(instance)
            )
        if options.reference is None and options.model in self._references:
            options = dataclasses.replace(options, reference=self._references[options.model])
        return self._framework.complete(options, instance)

    def monitor_for(self, instance: object) -> _Monitor:
        """The monitor of this instance's model (one per model name and version)."""
        naming = naming_of(instance)
        with self._lock:
            try:
                found = self._by_instance.get(instance)
            except TypeError:
                found = None
        if found is not None and found[0] is naming:
            return found[1]
        options = self.options_for(instance)
        key = (options.model, options.version)
        with self._lock:
            monitor = self._by_model.get(key)
            if monitor is None:
                monitor = self._factory(options)
                self._by_model[key] = monitor
            try:
                self._by_instance[instance] = (naming, monitor)
            except TypeError:
                pass  # unhashable or no weak references: resolved again on each call
        return monitor

    # -- the wrapper -----------------------------------------------------------------------
    def wrapper(self, operation: str, read: Reader | None = None) -> WrapperFunction:
        """The wrapt wrapper of one prediction method.

        ``read`` says how a call is monitored (default: the first argument, or ``X``,
        is the input, and ``operation`` the operation).
        """
        reader = read if read is not None else _default_read(operation)

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
            try:
                # Called from a monitored call (an async @monitor function: the monitor's
                # own nesting check is per thread): not monitored, nor what it calls.
                how = None if inside_monitored_span() else self._resolve(instance, args, kwargs,
                                                                         reader)
            except Exception as exc:  # noqa: BLE001 - never break the model; counted
                self._errors.report(STAGE_RESOLVE, exc)
                how = None
            token = IN_MONITORED_CALL.set(True)
            try:
                if how is None:
                    return wrapped(*args, **kwargs)
                monitor, (inputs, op, adapt) = how
                return self._call(monitor, wrapped, instance, args, kwargs, op, inputs, adapt)
            finally:
                IN_MONITORED_CALL.reset(token)

        return wrapped_call

    def _resolve(
        self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], reader: Reader
    ) -> tuple[_Monitor, Read] | None:
        monitor = self.monitor_for(instance)
        how = reader(instance, monitor.options, args, kwargs)
        return None if how is None else (monitor, how)

    def _call(
        self,
        monitor: _Monitor,
        wrapped: Callable[..., Any],
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        operation: str,
        inputs: object,
        adapt: Callable[[Any], Any] | None,
    ) -> Any:
        fn = wrapped
        if self._request_hook is not None or self._response_hook is not None:
            fn = self._with_hooks(wrapped, instance, operation, inputs)
        if adapt is None:
            return monitor.call(fn, args, kwargs, operation=operation, inputs=inputs)
        results: list[Any] = []

        def run(*a: Any, **k: Any) -> Any:
            result = fn(*a, **k)
            results.append(result)
            try:
                return adapt(result)
            except Exception as exc:  # noqa: BLE001 - read as it is; counted
                self._errors.report(STAGE_ADAPT, exc)
                return result

        monitor.call(run, args, kwargs, operation=operation, inputs=inputs)
        return results[0]  # the user's result itself, not what the monitor read

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


# -- the instrumentor ----------------------------------------------------------------------
class FrameworkInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """The ``BaseInstrumentor`` of one framework; subclasses say what to wrap.

    A subclass sets :attr:`framework` (the ``ml.model.framework`` and the
    ``OTEL_ML_<FRAMEWORK>_*`` prefix), :attr:`module` (the package imported to
    instrument: when it is not installed, ``instrument()`` does nothing) and
    :attr:`instruments_any` (the distributions, any of which satisfies the
    dependency check), and implements :meth:`_framework` and :meth:`_install`.
    """

    framework: ClassVar[str]
    module: ClassVar[str]
    instruments_any: ClassVar[tuple[str, ...]]

    _patcher: Patcher | None = None
    _calls: FrameworkCalls | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return self.instruments_any

    def _check_dependency_conflicts(self) -> DependencyConflict | None:
        # Any one distribution will do (xgboost or xgboost-cpu): "instruments-any".
        return get_dependency_conflicts((), self.instruments_any)

    def _framework(self) -> Framework:
        raise NotImplementedError

    def _install(self, patcher: Patcher, calls: FrameworkCalls, config: SklearnConfig) -> None:
        """Wrap the framework's prediction (and, unless recorded, training) methods."""
        raise NotImplementedError

    def _instrument(self, **kwargs: Any) -> None:
        config = parse_config(kwargs, os.environ, framework=self.framework)
        if importlib.util.find_spec(self.module) is None:
            # opentelemetry-instrument skips the per-instrumentor dependency check.
            _LOG.debug("otel_ml: %s is not installed; not instrumented", self.module)
            return
        from otel_ml.instrumentation._monitor import ModelMonitor, flush, internal_errors
        from otel_ml.instrumentation._sklearn_export import bridge_readers

        def factory(options: MonitorOptions) -> ModelMonitor:
            return ModelMonitor(
                options,
                tracer_provider=config.tracer_provider,
                meter_provider=config.meter_provider,
                logger_provider=config.logger_provider,
            )

        calls = FrameworkCalls(
            framework=self._framework(),
            models=config.models,
            references=config.references,
            template=config.template,
            monitor_factory=factory,
            errors=internal_errors(),
            request_hook=config.request_hook,
            response_hook=config.response_hook,
        )
        patcher = Patcher()
        try:
            self._install(patcher, calls, config)
        except BaseException:
            calls.active = False
            patcher.restore()
            raise
        self._patcher, self._calls = patcher, calls
        meter_provider = config.meter_provider or metrics.get_meter_provider()
        if not bridge_readers(meter_provider):
            _LOG.debug(
                "otel_ml: no SDK metric reader to bridge; feature histograms are exported "
                "only through a SketchMetricExporter, a SketchCollector or otel_ml.configure()"
            )
        # Registered after the SDK's own exit handlers, so it runs before them (LIFO):
        # buffered calls become events and sketches while the providers still export.
        atexit.unregister(flush)
        atexit.register(flush)

    def _uninstrument(self, **kwargs: Any) -> None:
        if self._calls is not None:
            self._calls.active = False
        if self._patcher is not None:
            self._patcher.restore()
        self._patcher = self._calls = None
