"""The core every framework instrumentor shares (``_framework.py``, ``_naming.py``)."""

from __future__ import annotations

import types

import numpy as np
import pytest
import sklearn_support
from opentelemetry.instrumentation.dependencies import DependencyConflict
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

from otel_ml._errors import ConfigurationError
from otel_ml.instrumentation._framework import (
    IN_MONITORED_CALL,
    FrameworkCalls,
    FrameworkInstrumentor,
    Patcher,
    guard_only,
)
from otel_ml.instrumentation._monitor import internal_errors
from otel_ml.instrumentation._naming import name_model
from otel_ml.instrumentation._options import MonitorOptions
from otel_ml.instrumentation._sklearn_calls import IN_MONITORED_CALL as SKLEARN_GUARD
from otel_ml.instrumentation._sklearn_calls import SklearnFramework

telemetry = pytest.fixture(name="telemetry")(sklearn_support.telemetry_fixture)
instrument = pytest.fixture(name="instrument")(sklearn_support.instrument_fixture)
data = pytest.fixture(name="data", scope="module")(sklearn_support.data_fixture)


def _calls(template: MonitorOptions) -> FrameworkCalls:
    return FrameworkCalls(
        framework=SklearnFramework(),
        models={},
        references={},
        template=template,
        monitor_factory=lambda options: types.SimpleNamespace(options=options),  # type: ignore
        errors=internal_errors(),
    )


def test_one_guard_for_every_framework():
    assert SKLEARN_GUARD is IN_MONITORED_CALL


def test_name_model_settings_of_one_instance_win_over_instrument():
    template = MonitorOptions(model="sklearn", id_column="row_id", capture_features=True)
    calls = _calls(template)
    named = name_model(LogisticRegression(), "credit_risk", version="3", id_column="case_id",
                       capture_features=False, exclude_features=["ssn"])
    short = name_model(LogisticRegression(), "fraud")
    o = calls.options_for(named)
    assert (o.model, o.version, o.id_column, o.capture_features) == (
        "credit_risk", "3", "case_id", False)
    assert not o.wants_feature("ssn") and not o.wants_feature("case_id")
    s = calls.options_for(short)
    assert (s.model, s.version, s.id_column, s.capture_features) == (
        "fraud", "unknown", "row_id", True)
    assert calls.options_for(LogisticRegression()).model == "LogisticRegression"


def test_name_model_checks_the_settings_now():
    with pytest.raises(ConfigurationError, match="feature_sample_rate"):
        name_model(LogisticRegression(), "m", feature_sample_rate=2.0)
    with pytest.raises(ConfigurationError, match="both allowed and excluded"):
        name_model(LogisticRegression(), "m", features=["a"], exclude_features=["a"])
    with pytest.raises(ConfigurationError, match="inside MonitorOptions"):
        name_model(LogisticRegression(), MonitorOptions(model="m"), id_column="x")


def test_training_is_not_recorded_unless_asked(telemetry, instrument, data):
    X, y = data
    search = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=2)
    instrumentor = instrument()
    search.fit(X, y)  # cross-validation predicts inside fit
    assert telemetry.finished() == []
    instrumentor.uninstrument()
    instrument(record_training=True)
    search.fit(X, y)
    names = {s.name for s in telemetry.finished()}
    assert "predict LogisticRegression" in names


def test_record_training_from_the_environment(monkeypatch):
    from otel_ml.instrumentation._sklearn_config import parse_config

    config = parse_config({}, {"OTEL_ML_XGBOOST_RECORD_TRAINING": "true"}, framework="xgboost")
    assert config.record_training and config.template.framework == "xgboost"
    with pytest.raises(ConfigurationError, match="OTEL_ML_XGBOOST_MODELS"):
        parse_config({}, {"OTEL_ML_XGBOOST_MODELS": "oops"}, framework="xgboost")


class _Missing(FrameworkInstrumentor):
    framework = "nosuchframework"
    module = "otel_ml_no_such_framework"
    instruments_any = ("otel-ml-no-such-framework >= 1", "otel-ml-nor-this >= 1")


def test_a_framework_that_is_not_installed_is_skipped():
    instrumentor = _Missing()
    conflict = instrumentor._check_dependency_conflicts()
    assert isinstance(conflict, DependencyConflict)
    instrumentor.instrument()  # the dependency check refuses: nothing happens, no error
    assert instrumentor._patcher is None
    instrumentor.instrument(skip_dep_check=True)  # as opentelemetry-instrument loads it
    assert instrumentor._patcher is None
    instrumentor.uninstrument()


def test_any_one_distribution_satisfies_the_dependency_check():
    class AnyOf(FrameworkInstrumentor):  # (instrumentors are singletons per class)
        framework = "nosuchframework"
        module = "otel_ml_no_such_framework"
        instruments_any = ("otel-ml-no-such-framework >= 1", "numpy >= 1.0")

    assert AnyOf()._check_dependency_conflicts() is None


def test_patcher_wraps_module_functions_and_restores_them():
    module = types.ModuleType("fake_framework")
    exec("def train(x):\n    from otel_ml.instrumentation._framework import IN_MONITORED_CALL"
         "\n    return IN_MONITORED_CALL.get()", module.__dict__)
    original = module.train
    patcher = Patcher()
    assert patcher.wrap(module, "train", guard_only)
    assert not patcher.wrap(module, "train", guard_only)  # already wrapped
    assert not patcher.wrap(module, "absent", guard_only)
    assert module.train(1) is True  # the guard is set inside
    assert IN_MONITORED_CALL.get() is False
    patcher.restore()
    assert module.train is original


def test_the_guard_is_set_when_resolving_the_model_fails(telemetry, instrument, data):
    """A failure of ours runs the call unmonitored, and what it calls inside too."""
    X, y = data
    model = LogisticRegression().fit(X, y)
    expected = model.predict(X.iloc[:3])
    # A naming that cannot be resolved (an empty model name): counted, not raised.
    model._otel_ml_naming = {"format": "otel_ml.naming/1", "options": {"model": ""}}
    instrument()
    assert np.array_equal(model.predict(X.iloc[:3]), expected)
    assert telemetry.finished() == []  # predict -> predict_proba not recorded either
