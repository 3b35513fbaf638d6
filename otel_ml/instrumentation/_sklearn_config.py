"""The options of a framework instrumentor's ``instrument()`` and its ``OTEL_ML_<FRAMEWORK>_*``
variables, parsed once (``OTEL_ML_SKLEARN_*``, ``OTEL_ML_XGBOOST_*``, ...).

Keyword arguments win over environment variables (which is all
``opentelemetry-instrument`` can pass). Values are read with the shared readers
of :mod:`otel_ml._config`, so a bad value raises the same one-line
:class:`~otel_ml.ConfigurationError` as the evaluator's file does,
``<option>: <problem>; <fix>``, where the option is ``instrument.<keyword>``
or the environment variable.

Examples
--------
>>> config = parse_config({"models": {"Pipeline": "credit_risk:3"}, "id_column": "case_id"}, {})
>>> options = config.models["Pipeline"]
>>> options.model, options.version, options.id_column
('credit_risk', '3', 'case_id')
>>> parse_config({}, {ENV_FEATURE_SAMPLE_RATE: "2"})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
otel_ml._errors.ConfigurationError: OTEL_ML_SKLEARN_FEATURE_SAMPLE_RATE: expected a finite ...
>>> parse_config({"modles": {}}, {})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
otel_ml._errors.ConfigurationError: instrument.modles: unknown key; did you mean 'models'? ...
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from opentelemetry import _logs, metrics, trace

from otel_ml import semconv
from otel_ml._config import check_keys, config_error, read_bool, read_float, read_str
from otel_ml.instrumentation._options import MonitorOptions
from otel_ml.mlflow import load_profile
from otel_ml.sketch import Profile

__all__ = [
    "ENV_CAPTURE_FEATURES",
    "ENV_RECORD_TRAINING",
    "ENV_FEATURE_SAMPLE_RATE",
    "ENV_ID_COLUMN",
    "ENV_MODELS",
    "ENV_PREDICTION_EVENTS",
    "ENV_REFERENCES",
    "ENV_VERSION",
    "FRAMEWORK",
    "SklearnConfig",
    "load_reference",
    "with_loaded_reference",
    "parse_config",
    "parse_models",
    "parse_references",
]

ENV_MODELS: Final = "OTEL_ML_SKLEARN_MODELS"
ENV_REFERENCES: Final = "OTEL_ML_SKLEARN_REFERENCES"
ENV_VERSION: Final = "OTEL_ML_SKLEARN_VERSION"
ENV_ID_COLUMN: Final = "OTEL_ML_SKLEARN_ID_COLUMN"
ENV_CAPTURE_FEATURES: Final = "OTEL_ML_SKLEARN_CAPTURE_FEATURES"
ENV_FEATURE_SAMPLE_RATE: Final = "OTEL_ML_SKLEARN_FEATURE_SAMPLE_RATE"
ENV_PREDICTION_EVENTS: Final = "OTEL_ML_SKLEARN_PREDICTION_EVENTS"
ENV_RECORD_TRAINING: Final = "OTEL_ML_SKLEARN_RECORD_TRAINING"

FRAMEWORK: Final = "sklearn"
"""``ml.model.framework`` of every model the instrumentor monitors."""


_HOOKS: Final = ("request_hook", "response_hook")
_PROVIDERS: Final = ("tracer_provider", "meter_provider", "logger_provider")
KNOWN_OPTIONS: Final = (
    "models",
    "references",
    "version",
    "id_column",
    "capture_features",
    "feature_sample_rate",
    "prediction_events",
    "record_training",
    *_HOOKS,
    *_PROVIDERS,
)
_OPTION: Final = "instrument"  # error paths: instrument.<keyword>


@dataclass(frozen=True)
class SklearnConfig:
    """What one ``instrument()`` call monitors, and how.

    ``template`` holds the shared settings (version, id column, capture
    settings) of every model not given as complete :class:`MonitorOptions`;
    its model name is replaced by the estimator's class name.
    """

    models: dict[str, MonitorOptions]
    references: dict[str, Profile]
    template: MonitorOptions
    request_hook: Callable[..., None] | None
    response_hook: Callable[..., None] | None
    tracer_provider: trace.TracerProvider | None = None
    meter_provider: metrics.MeterProvider | None = None
    logger_provider: _logs.LoggerProvider | None = None
    record_training: bool = False


def env_name(framework: str, setting: str) -> str:
    """The variable of one setting of one framework's instrumentor.

    >>> env_name("xgboost", "MODELS")
    'OTEL_ML_XGBOOST_MODELS'
    """
    return f"OTEL_ML_{framework.upper()}_{setting}"


def _pairs(text: str, setting: str, example: str) -> list[tuple[str, str]]:
    pairs = []
    for item in text.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise config_error(setting, f"{item.strip()!r} is not KEY=VALUE",
                               f"write e.g. {example!r}")
        pairs.append((key.strip(), value.strip()))
    return pairs


def _named(template: MonitorOptions, spec: str, setting: str) -> MonitorOptions:
    name, sep, version = spec.partition(":")
    if not name.strip() or (sep and not version.strip()):
        raise config_error(setting, f"{spec!r} is not MODEL or MODEL:VERSION",
                           "write e.g. 'credit_risk:3'")
    return dataclasses.replace(
        template, model=name.strip(), version=version.strip() if sep else template.version
    )


def _template(framework: str = FRAMEWORK, **settings: Any) -> MonitorOptions:
    return MonitorOptions(model=framework, framework=framework, **settings)


def parse_models(
    text: str, *, template: MonitorOptions | None = None, setting: str = ENV_MODELS
) -> dict[str, MonitorOptions]:
    """Parse ``Class=name[:version],...`` into options by estimator class name.

    >>> models = parse_models("Pipeline=credit_risk:3,Ridge=prices")
    >>> [(k, o.model, o.version) for k, o in models.items()]
    [('Pipeline', 'credit_risk', '3'), ('Ridge', 'prices', 'unknown')]
    """
    base = template if template is not None else _template()
    return {
        cls_name: _named(base, spec, setting)
        for cls_name, spec in _pairs(text, setting, "Pipeline=credit_risk:3")
    }


def parse_references(text: str, *, setting: str = ENV_REFERENCES) -> dict[str, str]:
    """Parse ``model=path,...`` into reference profile paths by model name.

    >>> parse_references("credit_risk=ref/credit_risk-3.profile.json")
    {'credit_risk': 'ref/credit_risk-3.profile.json'}
    """
    return dict(_pairs(text, setting, "credit_risk=credit_risk-3.profile.json"))


def load_reference(value: object, setting: str) -> Profile:
    """A reference profile, or the one saved at a path or named by an MLflow URI
    (``models:/...``, ``runs:/...``), read now: errors at set-up time.

    Raises :class:`~otel_ml.ProfileError` naming the file or URI when it cannot be read.
    """
    if isinstance(value, Profile):
        return value
    if isinstance(value, (str, os.PathLike)):
        return load_profile(value)
    raise config_error(setting, f"expected a Profile, the path of a saved profile or an MLflow "
                       f"URI, got a {type(value).__name__}", "save the profile with Profile.save")


def with_loaded_reference(options: MonitorOptions, setting: str) -> MonitorOptions:
    """``options`` with a reference given as a path replaced by the profile read from it."""
    reference: object = options.reference
    if reference is None or isinstance(reference, Profile):
        return options
    return dataclasses.replace(options, reference=load_reference(reference, setting))


def _bool(value: object, setting: str) -> bool:
    """A keyword's ``True``/``False``, or a variable's ``true``/``false`` (``1``/``0``, ...)."""
    if isinstance(value, str):
        text = value.strip().lower()
        value = {"true": True, "1": True, "yes": True, "on": True,
                 "false": False, "0": False, "no": False, "off": False}.get(text, value)
    return read_bool(value, setting)


def _events(value: object, setting: str) -> bool | str:
    """``prediction_events``: a boolean as :func:`_bool` reads it, or ``batched`` / ``per_call``."""
    if isinstance(value, str) and value.strip().lower() in ("batched", "per_call"):
        return value.strip().lower()
    return _bool(value, setting)


def _rate(value: object, setting: str) -> float:
    """A share of calls in [0, 1] (a variable's text is read as a number first)."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    return read_float(value, setting, minimum=0.0, maximum=1.0)


def _setting(
    kwargs: Mapping[str, Any], env: Mapping[str, str], name: str, var: str, default: str
) -> tuple[object, str]:
    """The value of option ``name`` (or variable ``var``), and what to call it in errors."""
    if kwargs.get(name) is not None:
        return kwargs[name], f"{_OPTION}.{name}"
    return env.get(var, default), var


def _provider(kwargs: Mapping[str, Any], name: str, kind: type[Any]) -> Any:
    value = kwargs.get(name)
    if value is not None and not isinstance(value, kind):
        raise config_error(f"{_OPTION}.{name}", f"expected an OpenTelemetry {kind.__name__}, "
                           f"got a {type(value).__name__}", "pass the SDK provider or leave "
                           "it out for the global one")
    return value


def _hook(kwargs: Mapping[str, Any], name: str) -> Callable[..., None] | None:
    hook = kwargs.get(name)
    if hook is not None and not callable(hook):
        raise config_error(f"{_OPTION}.{name}", f"expected a function, got {hook!r}",
                           "pass callable(span, estimator, operation, value)")
    return hook


def _models(
    value: object, template: MonitorOptions, env: Mapping[str, str], framework: str
) -> dict[str, MonitorOptions]:
    if value is None:
        var = env_name(framework, "MODELS")
        return parse_models(env.get(var, ""), template=template, setting=var)
    path = f"{_OPTION}.models"
    if not isinstance(value, Mapping):
        raise config_error(path, f"expected a mapping, got a {type(value).__name__}",
                           "map estimator class names to model names")
    models = {}
    for cls_name, spec in value.items():
        where = f"{path}[{cls_name!r}]"
        if isinstance(spec, MonitorOptions):
            models[str(cls_name)] = with_loaded_reference(spec, where)
        elif isinstance(spec, str):
            models[str(cls_name)] = _named(template, spec, where)
        else:
            raise config_error(where, f"expected 'name', 'name:version' or MonitorOptions, got "
                               f"a {type(spec).__name__}", "write e.g. 'credit_risk:3'")
    return models


def parse_config(
    kwargs: Mapping[str, Any], env: Mapping[str, str], *, framework: str = FRAMEWORK
) -> SklearnConfig:
    """Parse ``instrument()`` keyword arguments, falling back on ``env`` variables.

    ``framework`` names the variables read (``OTEL_ML_<FRAMEWORK>_MODELS``, ...) and
    is the ``ml.model.framework`` of the models.
    """
    check_keys(kwargs, KNOWN_OPTIONS, _OPTION)

    def var(setting: str) -> str:
        return env_name(framework, setting)

    version, version_at = _setting(kwargs, env, "version", var("VERSION"), semconv.UNKNOWN_VERSION)
    id_column, id_at = _setting(kwargs, env, "id_column", var("ID_COLUMN"), "")
    capture = _bool(*_setting(kwargs, env, "capture_features", var("CAPTURE_FEATURES"), "true"))
    events = _events(*_setting(kwargs, env, "prediction_events", var("PREDICTION_EVENTS"), "true"))
    rate = _rate(*_setting(kwargs, env, "feature_sample_rate", var("FEATURE_SAMPLE_RATE"), "1"))
    training = _bool(*_setting(kwargs, env, "record_training", var("RECORD_TRAINING"), "false"))
    template = _template(
        framework,
        version=read_str(str(version), version_at),
        id_column=str(id_column) or None,
        capture_features=capture,
        prediction_events=events,
        feature_sample_rate=rate,
    )
    references = kwargs.get("references")
    if references is None:
        references = parse_references(
            env.get(var("REFERENCES"), ""), setting=var("REFERENCES")
        )
    elif not isinstance(references, Mapping):
        raise config_error(f"{_OPTION}.references", f"expected a mapping, got a "
                           f"{type(references).__name__}", "map model names to profiles "
                           "(or their paths)")
    return SklearnConfig(
        models=_models(kwargs.get("models"), template, env, framework),
        references={
            str(k): load_reference(v, f"{_OPTION}.references[{k!r}]")
            for k, v in references.items()
        },
        template=template,
        request_hook=_hook(kwargs, "request_hook"),
        response_hook=_hook(kwargs, "response_hook"),
        tracer_provider=_provider(kwargs, "tracer_provider", trace.TracerProvider),
        meter_provider=_provider(kwargs, "meter_provider", metrics.MeterProvider),
        logger_provider=_provider(kwargs, "logger_provider", _logs.LoggerProvider),
        record_training=training,
    )
