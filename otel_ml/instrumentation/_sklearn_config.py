"""``SklearnInstrumentor.instrument()`` options and ``OTEL_ML_SKLEARN_*`` variables, parsed once.

Keyword arguments win over environment variables (which is all
``opentelemetry-instrument`` can pass). Every bad value raises
:class:`~otel_ml.ConfigurationError` naming the option or variable.

Examples
--------
>>> config = parse_config({"models": {"Pipeline": "credit_risk:3"}, "id_column": "case_id"}, {})
>>> options = config.models["Pipeline"]
>>> options.model, options.version, options.id_column
('credit_risk', '3', 'case_id')
>>> parse_config({}, {ENV_FEATURE_SAMPLE_RATE: "2"})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
otel_ml._errors.ConfigurationError: OTEL_ML_SKLEARN_FEATURE_SAMPLE_RATE='2' must be ...
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from otel_ml._errors import ConfigurationError
from otel_ml.instrumentation._options import MonitorOptions
from otel_ml.sketch import Profile

__all__ = [
    "ENV_CAPTURE_FEATURES",
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

FRAMEWORK: Final = "sklearn"
"""``ml.model.framework`` of every model the instrumentor monitors."""

_PLACEHOLDER_MODEL: Final = "sklearn"  # replaced by each estimator's class name
_UNKNOWN_VERSION: Final = "unknown"

_HOOKS: Final = ("request_hook", "response_hook")
_PROVIDERS: Final = ("tracer_provider", "meter_provider", "logger_provider")
KNOWN_OPTIONS: Final = frozenset(
    {
        "models",
        "references",
        "version",
        "id_column",
        "capture_features",
        "feature_sample_rate",
        "prediction_events",
        *_HOOKS,
        *_PROVIDERS,
    }
)


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
    providers: dict[str, Any]


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


def _named(template: MonitorOptions, spec: str, setting: str) -> MonitorOptions:
    name, sep, version = spec.partition(":")
    if not name.strip() or (sep and not version.strip()):
        raise ConfigurationError(f"{setting}: {spec!r} is not MODEL or MODEL:VERSION")
    return dataclasses.replace(
        template, model=name.strip(), version=version.strip() if sep else template.version
    )


def _template(**settings: Any) -> MonitorOptions:
    return MonitorOptions(model=_PLACEHOLDER_MODEL, framework=FRAMEWORK, **settings)


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
    """A reference profile, or the one saved at a path (read now: errors at set-up time).

    Raises :class:`~otel_ml.ProfileError` naming the file when it cannot be read.
    """
    if isinstance(value, Profile):
        return value
    if isinstance(value, (str, os.PathLike)):
        return Profile.load(value)
    raise ConfigurationError(
        f"{setting} must be a Profile or the path of a saved profile, not {type(value).__name__}"
    )


def with_loaded_reference(options: MonitorOptions, setting: str) -> MonitorOptions:
    """``options`` with a reference given as a path replaced by the profile read from it."""
    reference: object = options.reference
    if reference is None or isinstance(reference, Profile):
        return options
    return dataclasses.replace(options, reference=load_reference(reference, setting))


def _bool(value: object, setting: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ConfigurationError(f"{setting}={value!r} must be true or false")


def _rate(value: object, setting: str) -> float:
    try:
        rate = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        rate = -1.0
    if not 0.0 <= rate <= 1.0:
        raise ConfigurationError(f"{setting}={value!r} must be a number in [0, 1]")
    return rate


def _setting(
    kwargs: Mapping[str, Any], env: Mapping[str, str], name: str, var: str, default: str
) -> tuple[object, str]:
    """The value of option ``name`` (or variable ``var``), and what to call it in errors."""
    if kwargs.get(name) is not None:
        return kwargs[name], name
    return env.get(var, default), var


def parse_config(kwargs: Mapping[str, Any], env: Mapping[str, str]) -> SklearnConfig:
    """Parse ``instrument()`` keyword arguments, falling back on ``env`` variables."""
    unknown = sorted(set(kwargs) - KNOWN_OPTIONS)
    if unknown:
        raise ConfigurationError(
            f"SklearnInstrumentor.instrument() got unknown option(s) {unknown}; "
            f"known: {sorted(KNOWN_OPTIONS)}"
        )
    for hook in _HOOKS:
        if kwargs.get(hook) is not None and not callable(kwargs[hook]):
            raise ConfigurationError(f"{hook} must be callable(span, estimator, operation, value)")
    version, _ = _setting(kwargs, env, "version", ENV_VERSION, _UNKNOWN_VERSION)
    id_column, _ = _setting(kwargs, env, "id_column", ENV_ID_COLUMN, "")
    capture = _bool(*_setting(kwargs, env, "capture_features", ENV_CAPTURE_FEATURES, "true"))
    events = _bool(*_setting(kwargs, env, "prediction_events", ENV_PREDICTION_EVENTS, "true"))
    rate = _rate(*_setting(kwargs, env, "feature_sample_rate", ENV_FEATURE_SAMPLE_RATE, "1"))
    template = _template(
        version=str(version),
        id_column=str(id_column) or None,
        capture_features=capture,
        prediction_events=events,
        feature_sample_rate=rate,
    )
    models_arg = kwargs.get("models")
    if models_arg is None:
        models = parse_models(env.get(ENV_MODELS, ""), template=template)
    elif isinstance(models_arg, Mapping):
        models = {}
        for cls_name, value in models_arg.items():
            if isinstance(value, MonitorOptions):
                models[str(cls_name)] = with_loaded_reference(value, f"models[{cls_name!r}]")
            elif isinstance(value, str):
                models[str(cls_name)] = _named(template, value, f"models[{cls_name!r}]")
            else:
                raise ConfigurationError(
                    f"models[{cls_name!r}] must be 'name', 'name:version' or MonitorOptions, "
                    f"not {type(value).__name__}"
                )
    else:
        raise ConfigurationError("models must map estimator class names to model names")
    references = kwargs.get("references")
    if references is None:
        references = parse_references(env.get(ENV_REFERENCES, ""))
    elif not isinstance(references, Mapping):
        raise ConfigurationError("references must map model names to profiles (or their paths)")
    return SklearnConfig(
        models=models,
        references={
            str(k): load_reference(v, f"references[{k!r}]") for k, v in references.items()
        },
        template=template,
        request_hook=kwargs.get("request_hook"),
        response_hook=kwargs.get("response_hook"),
        providers={k: kwargs[k] for k in _PROVIDERS if kwargs.get(k) is not None},
    )
