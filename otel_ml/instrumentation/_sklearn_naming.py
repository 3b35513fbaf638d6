"""The name one estimator instance is monitored under (``name_model``), kept on the instance.

``name_model`` stores the naming as an attribute of the estimator
(:data:`ATTRIBUTE`) holding plain Python data -- strings, numbers, tuples,
dicts, the reference profile in its JSON form -- so that

- it travels with the model: a ``pickle`` or ``joblib`` round trip keeps it (a
  model registry, a worker process, a reload at start-up);
- a model pickled after ``name_model`` loads where otel_ml is not installed;
- naming never keeps an estimator alive and works for estimators that are
  unhashable or do not support weak references.

A naming is either *short* (a model name, optionally a version and a reference:
every other setting -- id column, feature capture, sampling, events, the
version when none is given -- comes from the ``instrument()`` call that
monitors the estimator, as for a model named by class) or *complete* (a
:class:`MonitorOptions` given to ``name_model``: used as is).

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
from collections.abc import Mapping
from typing import Any, Final

from otel_ml._errors import ConfigurationError
from otel_ml.instrumentation._options import MonitorOptions
from otel_ml.sketch import Profile

__all__ = ["ATTRIBUTE", "naming_of", "naming_state", "options_from", "set_naming"]

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


def naming_state(
    model: str | MonitorOptions, *, version: str | None, reference: Profile | None
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
    return dataclasses.replace(
        template,
        model=str(naming.get("model")),
        version=template.version if version is None else str(version),
        reference=_reference(naming.get("reference")),
    )
