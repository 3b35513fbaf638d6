"""The name one model instance is monitored under (``name_model``), kept on the instance.

One function names models of every framework (a scikit-learn estimator, an
``XGBClassifier``, a LightGBM ``Booster``, a ``CatBoostRegressor``...): every
framework instrumentor reads the same attribute.

``name_model`` stores the naming as an attribute of the estimator
(:data:`ATTRIBUTE`) holding plain Python data -- strings, numbers, tuples,
dicts, the reference profile in its JSON form -- so that

- it travels with the model: a ``pickle`` or ``joblib`` round trip keeps it (a
  model registry, a worker process, a reload at start-up);
- a model pickled after ``name_model`` loads where otel_ml is not installed;
- naming never keeps an estimator alive and works for estimators that are
  unhashable or do not support weak references.

A naming is either *short* (a model name, optionally a version, a reference and
per-instance settings such as the id column: every setting not given -- id
column, feature capture, sampling, events, the version -- comes from the
``instrument()`` call that monitors the estimator, as for a model named by
class) or *complete* (a :class:`MonitorOptions` given to ``name_model``: used as
is).

``sklearn.base.clone`` builds a new estimator from its parameters and does not
copy the naming (a clone is a new, unfitted model).

Examples
--------
>>> class Model:
...     pass
>>> m = Model()
>>> set_naming(m, naming_state("credit_risk", version="3", reference=None))
>>> template = MonitorOptions(model="sklearn", id_column="case_id", prediction_events=False)
>>> o = options_from(naming_of(m), template)
>>> o.model, o.version, o.id_column, o.prediction_events
('credit_risk', '3', 'case_id', False)
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping
from typing import Any, Final, TypeVar

from otel_ml._errors import ConfigurationError
from otel_ml.instrumentation._options import MonitorOptions
from otel_ml.instrumentation._sklearn_config import load_reference, with_loaded_reference
from otel_ml.sketch import Profile

__all__ = [
    "ATTRIBUTE",
    "INSTANCE_SETTINGS",
    "name_model",
    "naming_of",
    "naming_state",
    "options_from",
    "set_naming",
]

ATTRIBUTE: Final = "_otel_ml_naming"
"""The estimator attribute holding its naming (no trailing ``_``: not fitted state)."""

_FORMAT: Final = "otel_ml.naming/1"

Naming = dict[str, Any]
"""A naming in its stored form (plain Python data)."""


def _plain(value: object) -> object:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Profile):
        return value.to_dict()
    return value


INSTANCE_SETTINGS: Final = (
    "id_column",
    "capture_features",
    "feature_sample_rate",
    "prediction_events",
    "features",
    "exclude_features",
)
"""Settings ``name_model`` takes for one instance (the others come from ``instrument()``)."""


def naming_state(
    model: str | MonitorOptions,
    *,
    version: str | None,
    reference: Profile | None,
    settings: Mapping[str, object] | None = None,
) -> Naming:
    """The stored form of a naming: short (a name) or complete (``MonitorOptions``)."""
    if isinstance(model, MonitorOptions):
        fields = {
            f.name: _plain(getattr(model, f.name)) for f in dataclasses.fields(model) if f.init
        }
        return {"format": _FORMAT, "options": fields}
    return {
        "format": _FORMAT,
        "model": model,
        "version": version,
        "reference": None if reference is None else reference.to_dict(),
        "settings": {k: _plain(v) for k, v in (settings or {}).items()},
    }


def set_naming(estimator: object, naming: Naming) -> None:
    """Store ``naming`` on ``estimator``; :class:`ConfigurationError` if it takes no attributes."""
    try:
        setattr(estimator, ATTRIBUTE, naming)
    except (AttributeError, TypeError) as exc:
        raise ConfigurationError(
            f"cannot name a {type(estimator).__name__}: it takes no new attributes; "
            "use instrument(models={...}) by class name instead"
        ) from exc


def naming_of(estimator: object) -> Naming | None:
    """The naming stored on ``estimator`` by ``name_model``, if any."""
    naming = getattr(estimator, ATTRIBUTE, None)
    if isinstance(naming, dict) and naming.get("format") == _FORMAT:
        return naming
    return None


def _reference(d: object) -> Profile | None:
    if d is None:
        return None
    if not isinstance(d, Mapping):
        raise ConfigurationError(f"the reference stored by name_model is not a profile: {d!r}")
    return Profile.from_dict(d, source="reference stored by name_model")


def options_from(naming: Naming, template: MonitorOptions) -> MonitorOptions:
    """The options of a named estimator: a short naming completed from ``template``."""
    options = naming.get("options")
    if isinstance(options, Mapping):
        known = {f.name for f in dataclasses.fields(MonitorOptions) if f.init}
        kwargs = {k: v for k, v in options.items() if k in known}
        kwargs["reference"] = _reference(kwargs.get("reference"))
        return MonitorOptions(**kwargs)
    version = naming.get("version")
    stored = naming.get("settings")
    settings = {
        k: v for k, v in (stored.items() if isinstance(stored, Mapping) else ())
        if k in INSTANCE_SETTINGS
    }
    return dataclasses.replace(
        template,
        model=str(naming.get("model")),
        version=template.version if version is None else str(version),
        reference=_reference(naming.get("reference")),
        **settings,
    )


_E = TypeVar("_E")


def name_model(
    estimator: _E,
    model: str | MonitorOptions,
    *,
    version: str | None = None,
    reference: object | None = None,
    id_column: str | None = None,
    capture_features: bool | None = None,
    feature_sample_rate: float | None = None,
    prediction_events: bool | None = None,
    features: Iterable[str] | None = None,
    exclude_features: Iterable[str] | None = None,
) -> _E:
    """Name the model one instance is monitored as; returns the instance.

    Works for a model of any instrumented framework: a scikit-learn estimator or
    Pipeline, an XGBoost ``Booster`` or ``XGBClassifier``, a LightGBM ``Booster``
    or ``LGBMRegressor``, a CatBoost model. The naming is stored on the instance
    (the attribute ``_otel_ml_naming``, plain Python data): it survives ``pickle``
    / ``joblib`` round trips, and the pickled model still loads where otel_ml is
    not installed. (XGBoost's and LightGBM's own ``save_model`` files do not keep
    it: name the model again after loading one.)

    Parameters
    ----------
    estimator
        The model instance.
    model
        The model name (``ml.model.name``). Every setting not given here comes from
        the instrumentor's ``instrument()``, as for a model named by class. Or
        complete :class:`MonitorOptions`, used as they are (nothing else may be given).
    version
        ``ml.model.version``.
    reference
        A reference :class:`otel_ml.Profile`, or the path of a saved one (read now);
        without one, ``instrument(references=...)`` by model name applies.
    id_column, capture_features, feature_sample_rate, prediction_events, features, exclude_features
        As in :class:`MonitorOptions`, for this instance only.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> clf = name_model(LogisticRegression(), "credit_risk", version="3", id_column="case_id")
    >>> template = MonitorOptions(model="sklearn", id_column="row", prediction_events=False)
    >>> o = options_from(naming_of(clf), template)
    >>> o.model, o.version, o.id_column, o.prediction_events
    ('credit_risk', '3', 'case_id', False)
    >>> name_model(clf, MonitorOptions(model="x"), version="1")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    otel_ml._errors.ConfigurationError: give version=, reference= and the other settings inside ...
    """
    given = {
        "id_column": id_column,
        "capture_features": capture_features,
        "feature_sample_rate": feature_sample_rate,
        "prediction_events": prediction_events,
        "features": None if features is None else tuple(features),
        "exclude_features": None if exclude_features is None else tuple(exclude_features),
    }
    settings = {k: v for k, v in given.items() if v is not None}
    if isinstance(model, MonitorOptions):
        if version is not None or reference is not None or settings:
            raise ConfigurationError(
                "give version=, reference= and the other settings inside MonitorOptions, "
                "not next to it"
            )
        naming = naming_state(
            with_loaded_reference(model, "reference"), version=None, reference=None
        )
    else:
        if not isinstance(model, str) or not model.strip():
            raise ConfigurationError("model must be a non-empty string naming the model")
        MonitorOptions(model=model, **settings)  # type: ignore[arg-type]  # checks the values now
        naming = naming_state(
            model,
            version=None if version is None else str(version),
            reference=None if reference is None else load_reference(reference, "reference"),
            settings=settings,
        )
    set_naming(estimator, naming)
    return estimator
