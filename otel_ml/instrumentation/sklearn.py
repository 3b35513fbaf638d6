"""Monitor scikit-learn models without changing the application: ``SklearnInstrumentor``.

Every call to ``predict``, ``predict_proba``, ``decision_function`` or
``predict_log_proba`` of a scikit-learn estimator or ``Pipeline`` becomes one
monitored call: a span, the call / row / error counters and the duration
histogram, per-feature distributions as real histogram metrics
(``ml.feature.values``), the prediction distribution and class counts,
data-quality counts against a reference profile, and one ``ml.prediction``
event carrying the prediction ids (see ``docs/semantic-conventions.md``).
The estimator's result comes back untouched (the same object) and its
exceptions propagate unchanged.

Usage
-----
Unmodified application, with ``opentelemetry-distro`` installed (it is what
makes ``opentelemetry-instrument`` set up the SDK and its OTLP exporters)::

    pip install 'otel-ml[instruments]' opentelemetry-distro
    export OTEL_SERVICE_NAME=scoring
    export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
    export OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318
    export OTEL_ML_SKLEARN_MODELS="Pipeline=credit_risk:3"
    export OTEL_ML_SKLEARN_REFERENCES="credit_risk=credit_risk-3.profile.json"
    opentelemetry-instrument python app.py

The instrumentor is found through the ``opentelemetry_instrumentor`` entry
point ``sklearn``; ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=sklearn`` turns it
off. In code::

    from otel_ml.instrumentation.sklearn import SklearnInstrumentor, name_model

    SklearnInstrumentor().instrument()
    name_model(model, "credit_risk", version="3", reference="credit_risk-3.profile.json")
    model.predict_proba(X)            # one monitored call
    SklearnInstrumentor().uninstrument()   # the original methods are back

What counts as one call
-----------------------
Only the outermost call is monitored. A ``Pipeline`` calling its final
estimator, ``predict`` calling ``predict_proba`` or ``decision_function``, a
forest or a voting ensemble calling its sub-estimators (also in joblib worker
threads and processes with ``n_jobs``) and a ``@otel_ml.monitor``-decorated
function calling the model make one monitored call, named after the outermost
estimator. Predictions made inside ``fit``, ``partial_fit``, ``fit_transform``,
``fit_predict``, ``transform``, ``inverse_transform`` and ``score`` (cross
validation in ``GridSearchCV.fit``, ``IterativeImputer``) are not monitored:
they are training or evaluation, not traffic. Inside
``opentelemetry.instrumentation.utils.suppress_instrumentation()`` nothing is
monitored.

Methods are wrapped (with wrapt) on the scikit-learn class that defines them,
which covers every public estimator and user subclasses of them; estimators
written from scratch on ``BaseEstimator`` are not covered (decorate their
predict with ``@otel_ml.monitor`` instead). ``instrument()`` imports all of
scikit-learn once to find them (about 0.4 s on top of ``import sklearn``).

Configuration
-------------
The model name is the estimator's class name (``Pipeline``,
``RandomForestClassifier``) unless the estimator is named. In order of
precedence:

1. ``name_model(estimator, "credit_risk", version="3", reference=...)`` for
   one instance (or ``name_model(estimator, MonitorOptions(...))``);
2. ``instrument(models={"Pipeline": "credit_risk:3"})`` or
   ``models={"Pipeline": MonitorOptions(model="credit_risk", ...)}`` by class
   name; with ``opentelemetry-instrument``: ``OTEL_ML_SKLEARN_MODELS``
   (``Class=name[:version]``, comma-separated);
3. the class name, with ``version`` (``OTEL_ML_SKLEARN_VERSION``, default
   ``unknown``).

Reference profiles (:class:`otel_ml.Profile` files) are attached by model
name with ``references={"credit_risk": "credit_risk-3.profile.json"}`` or
``OTEL_ML_SKLEARN_REFERENCES`` (``name=path``, comma-separated). Capture
settings apply to models not given as ``MonitorOptions``:
``capture_features`` (``OTEL_ML_SKLEARN_CAPTURE_FEATURES``, ``true``/``false``),
``feature_sample_rate`` (``OTEL_ML_SKLEARN_FEATURE_SAMPLE_RATE``, 0..1) and
``prediction_events`` (``OTEL_ML_SKLEARN_PREDICTION_EVENTS``). Keyword
arguments win over environment variables. The estimator supplies the class
names (``classes_``), the feature names (``feature_names_in_``) and the task
(binary / multiclass classification or regression). A bad value raises
:class:`~otel_ml.ConfigurationError` from ``instrument()``, naming the setting.

Hooks
-----
``request_hook(span, estimator, operation, X)`` runs before the method and
``response_hook(span, estimator, operation, result)`` after it, both inside
the call's span (``operation`` is the method name). A hook that raises is
logged once and counted on ``otel_ml.internal.errors``; the model call goes
on::

    def add_tenant(span, estimator, operation, X):
        span.set_attribute("app.tenant", current_tenant())

    SklearnInstrumentor().instrument(request_hook=add_tenant)

Examples
--------
>>> parse_models("Pipeline=credit_risk:3, Ridge=prices")["Pipeline"].version
'3'
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from otel_ml._errors import ConfigurationError
from otel_ml.instrumentation._options import MonitorOptions
from otel_ml.instrumentation._sklearn_calls import (
    FRAMEWORK,
    RequestHook,
    ResponseHook,
    set_named_options,
)
from otel_ml.instrumentation._sklearn_package import _instruments

__all__ = [
    "ENV_CAPTURE_FEATURES",
    "ENV_FEATURE_SAMPLE_RATE",
    "ENV_MODELS",
    "ENV_PREDICTION_EVENTS",
    "ENV_REFERENCES",
    "ENV_VERSION",
    "SklearnInstrumentor",
    "name_model",
    "parse_models",
    "parse_references",
]

ENV_MODELS: Final = "OTEL_ML_SKLEARN_MODELS"
ENV_REFERENCES: Final = "OTEL_ML_SKLEARN_REFERENCES"
ENV_VERSION: Final = "OTEL_ML_SKLEARN_VERSION"
ENV_CAPTURE_FEATURES: Final = "OTEL_ML_SKLEARN_CAPTURE_FEATURES"
ENV_FEATURE_SAMPLE_RATE: Final = "OTEL_ML_SKLEARN_FEATURE_SAMPLE_RATE"
ENV_PREDICTION_EVENTS: Final = "OTEL_ML_SKLEARN_PREDICTION_EVENTS"

_PLACEHOLDER_MODEL: Final = "sklearn"  # replaced by the class name of each estimator

_E = TypeVar("_E")


def _pairs(text: str, setting: str, example: str) -> list[tuple[str, str]]:
    pairs = []
    for item in text.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigurationError(
                f"{setting}: {item.strip()!r} is not KEY=VALUE; write e.g. {example!r}"
            )
        pairs.append((key.strip(), value.strip()))
    return pairs


def _model_spec(spec: str, setting: str) -> tuple[str, str | None]:
    name, sep, version = spec.partition(":")
    if not name.strip() or (sep and not version.strip()):
        raise ConfigurationError(f"{setting}: {spec!r} is not MODEL or MODEL:VERSION")
    return name.strip(), (version.strip() if sep else None)


def parse_models(text: str, *, setting: str = ENV_MODELS) -> dict[str, MonitorOptions]:
    """Parse ``Class=name[:version],...`` into options by estimator class name.

    >>> models = parse_models("Pipeline=credit_risk:3,Ridge=prices")
    >>> [(k, o.model, o.version) for k, o in models.items()]
    [('Pipeline', 'credit_risk', '3'), ('Ridge', 'prices', 'unknown')]
    """
    models = {}
    for cls_name, spec in _pairs(text, setting, "Pipeline=credit_risk:3"):
        name, version = _model_spec(spec, setting)
        models[cls_name] = MonitorOptions(
            model=name, version=version or "unknown", framework=FRAMEWORK
        )
    return models


def parse_references(text: str, *, setting: str = ENV_REFERENCES) -> dict[str, str]:
    """Parse ``model=path,...`` into reference profile paths by model name.

    >>> parse_references("credit_risk=ref/credit_risk-3.profile.json")
    {'credit_risk': 'ref/credit_risk-3.profile.json'}
    """
    return dict(_pairs(text, setting, "credit_risk=credit_risk-3.profile.json"))


def _parse_bool(text: str, setting: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise ConfigurationError(f"{setting}={text!r} must be true or false")


def _parse_rate(value: object, setting: str) -> float:
    try:
        rate = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigurationError(f"{setting}={value!r} must be a number in [0, 1]") from None
    if not 0.0 <= rate <= 1.0:
        raise ConfigurationError(f"{setting}={value!r} must be a number in [0, 1]")
    return rate


@dataclass(frozen=True)
class _Config:
    """``instrument()`` keyword arguments and environment variables, parsed once."""

    models: dict[str, MonitorOptions]
    references: dict[str, object]
    defaults: MonitorOptions
    request_hook: RequestHook | None = None
    response_hook: ResponseHook | None = None
    providers: dict[str, Any] = field(default_factory=dict)


_KNOWN_KWARGS: Final = frozenset(
    {
        "models",
        "references",
        "version",
        "capture_features",
        "feature_sample_rate",
        "prediction_events",
        "request_hook",
        "response_hook",
        "tracer_provider",
        "meter_provider",
        "logger_provider",
    }
)


def _as_options(cls_name: str, value: object) -> MonitorOptions:
    if isinstance(value, MonitorOptions):
        return value
    if isinstance(value, str):
        name, version = _model_spec(value, f"models[{cls_name!r}]")
        return MonitorOptions(model=name, version=version or "unknown", framework=FRAMEWORK)
    raise ConfigurationError(
        f"models[{cls_name!r}] must be a model name ('credit_risk' or 'credit_risk:3') or "
        f"MonitorOptions, not {type(value).__name__}"
    )


def _parse_config(kwargs: Mapping[str, Any]) -> _Config:
    unknown = sorted(set(kwargs) - _KNOWN_KWARGS)
    if unknown:
        raise ConfigurationError(
            f"SklearnInstrumentor.instrument() got unknown option(s) {unknown}; "
            f"known: {sorted(_KNOWN_KWARGS)}"
        )
    env = os.environ
    models_arg = kwargs.get("models")
    if models_arg is None:
        models = parse_models(env.get(ENV_MODELS, ""))
    elif isinstance(models_arg, Mapping):
        models = {str(k): _as_options(str(k), v) for k, v in models_arg.items()}
    else:
        raise ConfigurationError("models must be a mapping of estimator class name to model name")
    references = kwargs.get("references")
    if references is None:
        references = parse_references(env.get(ENV_REFERENCES, ""))
    elif not isinstance(references, Mapping):
        raise ConfigurationError("references must be a mapping of model name to profile (or path)")
    version = str(kwargs.get("version") or env.get(ENV_VERSION) or "unknown")
    capture = kwargs.get("capture_features")
    if capture is None:
        capture = _parse_bool(env.get(ENV_CAPTURE_FEATURES, "true"), ENV_CAPTURE_FEATURES)
    events = kwargs.get("prediction_events")
    if events is None:
        events = _parse_bool(env.get(ENV_PREDICTION_EVENTS, "true"), ENV_PREDICTION_EVENTS)
    rate = kwargs.get("feature_sample_rate")
    rate = _parse_rate(
        env.get(ENV_FEATURE_SAMPLE_RATE, "1.0") if rate is None else rate,
        "feature_sample_rate" if rate is not None else ENV_FEATURE_SAMPLE_RATE,
    )
    for hook_name in ("request_hook", "response_hook"):
        hook = kwargs.get(hook_name)
        if hook is not None and not callable(hook):
            raise ConfigurationError(
                f"{hook_name} must be callable(span, estimator, operation, value)"
            )
    defaults = MonitorOptions(
        model=_PLACEHOLDER_MODEL,
        version=version,
        framework=FRAMEWORK,
        capture_features=bool(capture),
        feature_sample_rate=rate,
        prediction_events=bool(events),
    )
    providers = {
        k: kwargs[k]
        for k in ("tracer_provider", "meter_provider", "logger_provider")
        if kwargs.get(k) is not None
    }
    return _Config(
        models=models,
        references={str(k): v for k, v in references.items()},
        defaults=defaults,
        request_hook=kwargs.get("request_hook"),
        response_hook=kwargs.get("response_hook"),
        providers=providers,
    )


def name_model(
    estimator: _E,
    model: str | MonitorOptions,
    *,
    version: str | None = None,
    reference: object | None = None,
) -> _E:
    """Name the model one estimator instance is monitored as; returns the estimator.

    Parameters
    ----------
    estimator
        A scikit-learn estimator or Pipeline (kept by weak reference).
    model
        The model name (``ml.model.name``), or complete :class:`MonitorOptions`.
    version
        ``ml.model.version`` (only with a model name).
    reference
        A reference :class:`otel_ml.Profile`, or the path of a saved one.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> clf = name_model(LogisticRegression(), "credit_risk", version="3")
    >>> name_model(clf, MonitorOptions(model="x"), version="1")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    otel_ml._errors.ConfigurationError: give version= and reference= inside MonitorOptions, ...
    """
    if isinstance(model, MonitorOptions):
        if version is not None or reference is not None:
            raise ConfigurationError(
                "give version= and reference= inside MonitorOptions, not next to it"
            )
        options = model
    else:
        options = MonitorOptions(
            model=model,
            version="unknown" if version is None else version,
            framework=FRAMEWORK,
            reference=reference,  # type: ignore[arg-type]
        )
    try:
        set_named_options(estimator, options)
    except TypeError as exc:
        raise ConfigurationError(
            f"cannot name a {type(estimator).__name__}: it does not support weak references "
            "or is unhashable; use instrument(models={...}) by class name instead"
        ) from exc
    return estimator


class SklearnInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """An OpenTelemetry instrumentor for scikit-learn prediction calls (see the module docs)."""

    _patcher: Any = None
    _calls: Any = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        config = _parse_config(kwargs)
        from otel_ml.instrumentation import _sklearn_patch
        from otel_ml.instrumentation._monitor import ModelMonitor, internal_errors
        from otel_ml.instrumentation._sklearn_calls import SklearnCalls

        providers = config.providers

        def factory(options: MonitorOptions) -> ModelMonitor:
            return ModelMonitor(
                options,
                tracer_provider=providers.get("tracer_provider"),
                meter_provider=providers.get("meter_provider"),
                logger_provider=providers.get("logger_provider"),
            )

        calls = SklearnCalls(
            models=config.models,
            references=config.references,
            defaults=config.defaults,
            monitor_factory=factory,
            errors=internal_errors(),
            request_hook=config.request_hook,
            response_hook=config.response_hook,
        )
        patcher = _sklearn_patch.Patcher()
        try:
            _sklearn_patch.install(patcher, calls.wrapper)
        except BaseException:
            calls.active = False
            patcher.restore()
            raise
        self._patcher, self._calls = patcher, calls

    def _uninstrument(self, **kwargs: Any) -> None:
        if self._calls is not None:
            self._calls.active = False
        if self._patcher is not None:
            self._patcher.restore()
        self._patcher = self._calls = None
