"""The cases every gradient-boosting instrumentor (XGBoost, LightGBM, CatBoost) must pass.

A framework's test module subclasses ``Cases`` (and ``SklearnClassifierCases`` where the
framework has a scikit-learn style classifier with no behaviour of its own to test) with
``framework`` set to its ``Framework``; pytest collects the inherited tests there, with that
module's ``telemetry``, ``instrument``, ``instrument_sklearn`` and ``data`` fixtures and a
``model`` fixture (the module's binary model, trained once). What only one framework has
stays in its own module.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from framework_support import FEATURES, model_names, names, window
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import StatusCode
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


@dataclass(frozen=True)
class Framework:
    """How one framework trains, predicts and is patched: all the cases need to know."""

    name_model: Callable[..., Any]
    train_binary: Callable[[Any, Any], Any]  # (X, y) -> the kind of model ``model`` is
    model_prefix: str  # the default name of ``model``: "<prefix><digest>"
    predict: str  # the method the cases call on ``model`` with a DataFrame
    wrong_input: Callable[[Any], Any]  # X -> an input ``model.predict`` rejects
    error: type[Exception]  # what it raises for it
    pipeline_step: Callable[[], Any]  # an untrained classifier, last step of a Pipeline
    pipeline_method: str  # the Pipeline method the case calls
    owners: Callable[[], list[object]]  # every class and module the instrumentor patches
    patched: tuple[int, str]  # (index in owners, attribute) that must be wrapped
    classifier_prefix: str = ""  # SklearnClassifierCases: the classifier's default name


class Cases:
    framework: Framework

    def test_exceptions_propagate_unchanged(self, telemetry, instrument, data, model):
        X, _, _ = data
        wrong = self.framework.wrong_input(X)
        with pytest.raises(self.framework.error) as plain:
            model.predict(wrong)
        instrument()
        with pytest.raises(self.framework.error) as instrumented:
            model.predict(wrong)
        assert type(instrumented.value) is type(plain.value)
        assert str(instrumented.value) == str(plain.value)
        (span,) = telemetry.finished()
        assert span.status.status_code is StatusCode.ERROR

    def test_pipeline_with_the_model_as_last_step_is_one_call(self, telemetry, instrument,
                                                              instrument_sklearn, data):
        X, y, _ = data
        pipe = Pipeline([("scale", StandardScaler()),
                         ("clf", self.framework.pipeline_step())]).fit(X, y)
        instrument_sklearn()
        instrument()
        getattr(pipe, self.framework.pipeline_method)(X.iloc[:10])
        assert names(telemetry) == [f"{self.framework.pipeline_method} Pipeline"]

    def test_uninstrument_restores_every_original(self, instrument):
        owners = self.framework.owners()
        index, attribute = self.framework.patched
        before = [dict(vars(o)) for o in owners]
        instrumentor = instrument()
        assert vars(owners[index])[attribute] is not before[index][attribute]
        instrumentor.uninstrument()
        after = [dict(vars(o)) for o in owners]
        for b, a in zip(before, after, strict=True):
            assert b.keys() == a.keys()
            assert all(a[k] is v for k, v in b.items())

    def test_two_models_of_one_class_get_different_stable_names(self, telemetry, instrument,
                                                                data, model):
        X, y, _ = data
        other = self.framework.train_binary(X, 1 - y)
        again = pickle.loads(pickle.dumps(model))  # the same model, another instance
        named = self.framework.name_model(pickle.loads(pickle.dumps(model)), "credit_risk",
                                          version="3")
        instrument()
        for each in (model, other, again, named):
            getattr(each, self.framework.predict)(X.iloc[:2])
        first, second, third, fourth = model_names(telemetry)
        assert first != second and first == third
        assert str(first).startswith(self.framework.model_prefix)
        assert fourth == "credit_risk"

    def test_suppressed(self, telemetry, instrument, data, model):
        X, _, _ = data
        instrument()
        with suppress_instrumentation():
            getattr(model, self.framework.predict)(X.iloc[:2])
        assert telemetry.finished() == []


class SklearnClassifierCases:
    framework: Framework

    def test_sklearn_api_is_one_call(self, telemetry, instrument, data, clf):
        X, _, _ = data
        expected = clf.predict_proba(X.iloc[:30]), clf.predict(X.iloc[:30])
        instrument()
        proba, labels = clf.predict_proba(X.iloc[:30]), clf.predict(X.iloc[:30])
        assert np.array_equal(proba, expected[0]) and np.array_equal(labels, expected[1])
        assert [n.split(" ")[0] for n in names(telemetry)] == ["predict_proba", "predict"]
        prefix = self.framework.classifier_prefix
        assert all(n.split(" ")[1].startswith(prefix) for n in names(telemetry))
        w = window(telemetry, model_names(telemetry)[0])
        assert sorted(w.numeric) == sorted(FEATURES)
        assert set(w.predictions) == {"0", "1"}
        assert sum(w.classes.values()) == 60
