"""SklearnInstrumentor on real scikit-learn estimators, read back via SDK in-memory exporters."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import sklearn_support
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import StatusCode
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor, VotingClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.linear_model._base import LinearClassifierMixin
from sklearn.model_selection import GridSearchCV
from sklearn.multioutput import MultiOutputClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn_support import FEATURES, only_span

from otel_ml import semconv
from otel_ml.instrumentation import _sklearn_patch
from otel_ml.instrumentation._monitor import internal_errors
from otel_ml.instrumentation._window import ModelKey

telemetry = pytest.fixture(name="telemetry")(sklearn_support.telemetry_fixture)
instrument = pytest.fixture(name="instrument")(sklearn_support.instrument_fixture)
data = pytest.fixture(name="data", scope="module")(sklearn_support.data_fixture)


def test_logistic_regression_one_span_and_untouched_result(telemetry, instrument, data):
    X, y = data
    model = LogisticRegression().fit(X, y)
    expected = model.predict_proba(X.iloc[:40])  # not instrumented yet
    seen = []
    instrument(response_hook=lambda span, est, op, result: seen.append(result))

    result = model.predict_proba(X.iloc[:40])

    assert np.array_equal(result, expected)
    assert seen and seen[0] is result  # the object the estimator returned, not a copy
    span = only_span(telemetry)
    assert span.name == "predict_proba LogisticRegression"
    attrs = dict(span.attributes or {})
    assert attrs[semconv.ML_MODEL_NAME] == "LogisticRegression"
    assert attrs[semconv.ML_MODEL_FRAMEWORK] == "sklearn"
    assert attrs[semconv.ML_MODEL_TASK] == "binary_classification"
    assert attrs[semconv.ML_OPERATION] == "predict_proba"
    assert attrs[semconv.ML_BATCH_SIZE] == 40
    assert span.status.status_code is not StatusCode.ERROR


def test_pipeline_is_one_call_with_raw_features(telemetry, instrument, data):
    X, y = data
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(X, y)
    instrument()

    labels = pipe.predict(X.iloc[:25])

    span = only_span(telemetry)  # not a second span for the final LogisticRegression
    assert span.name == "predict Pipeline"
    window = telemetry.consumer.collect().windows[ModelKey("Pipeline", "unknown")]
    assert window.calls == 1 and window.rows == 25
    # The features are the Pipeline's input (before scaling), named by the DataFrame.
    assert set(window.numeric) == set(FEATURES)
    age = window.numeric["age"]
    assert age.count == 25
    assert age.min == pytest.approx(X["age"].iloc[:25].min())
    events = telemetry.events()
    assert len(events) == 1
    assert events[0][semconv.ML_PREDICTION_LABELS] == [str(v) for v in labels]
    assert events[0]["trace_id"] == span.context.trace_id
    assert events[0]["span_id"] == span.context.span_id


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_forest_with_threads_is_one_call(telemetry, instrument, data, n_jobs):
    X, y = data
    forest = RandomForestClassifier(n_estimators=12, n_jobs=n_jobs, random_state=0).fit(X, y)
    expected = forest.predict(X.iloc[:30])
    instrument()

    # predict calls predict_proba, which calls every tree's predict_proba in joblib threads.
    assert np.array_equal(forest.predict(X.iloc[:30]), expected)

    span = only_span(telemetry)
    assert span.name == "predict RandomForestClassifier"


def test_voting_ensemble_is_one_call(telemetry, instrument, data):
    X, y = data
    vote = VotingClassifier(
        [("lr", LogisticRegression()), ("rf", RandomForestClassifier(n_estimators=5))],
        voting="soft",
    ).fit(X, y)
    instrument()
    vote.predict(X.iloc[:5])
    assert only_span(telemetry).name == "predict VotingClassifier"


def test_regressor_values_in_event(telemetry, instrument, data):
    X, _ = data
    target = 2.0 * X["age"].to_numpy() - X["debt"].to_numpy()
    model = RandomForestRegressor(n_estimators=5, random_state=0).fit(X, target)
    instrument()

    values = model.predict(X.iloc[:20])

    span = only_span(telemetry)
    assert dict(span.attributes or {})[semconv.ML_MODEL_TASK] == "regression"
    (event,) = telemetry.events()
    assert event[semconv.ML_PREDICTION_VALUES] == pytest.approx(values.tolist())
    assert len(event[semconv.ML_PREDICTION_IDS]) == 20


def test_exceptions_propagate_unchanged(telemetry, instrument, data):
    X, y = data
    model = LogisticRegression().fit(X, y)
    bad = pd.DataFrame(np.zeros((3, 7)), columns=[f"c{i}" for i in range(7)])
    with pytest.raises(ValueError) as plain:
        model.predict(bad)
    instrument()

    with pytest.raises(ValueError) as wrapped:
        model.predict(bad)
    with pytest.raises(NotFittedError):
        Ridge().predict(bad)

    assert type(wrapped.value) is type(plain.value)
    assert str(wrapped.value) == str(plain.value)
    failed = [s for s in telemetry.finished() if s.name == "predict LogisticRegression"]
    assert len(failed) == 1
    assert dict(failed[0].attributes or {})[semconv.ERROR_TYPE] == "ValueError"
    assert failed[0].status.status_code is StatusCode.ERROR


def test_uninstrument_restores_the_exact_originals(telemetry, instrument, data):
    X, y = data
    classes = _sklearn_patch.estimator_classes()
    methods = _sklearn_patch.PREDICT_METHODS + _sklearn_patch.GUARD_METHODS
    owners = {owner for cls in classes for owner in cls.__mro__}
    before = {(c, m): vars(c)[m] for c in owners for m in methods if m in vars(c)}
    model = LogisticRegression().fit(X, y)
    instrumentor = instrument()
    assert vars(LinearClassifierMixin)["predict"] is not before[(LinearClassifierMixin, "predict")]

    instrumentor.uninstrument()

    after = {(c, m): vars(c)[m] for c in owners for m in methods if m in vars(c)}
    assert after.keys() == before.keys()
    assert all(after[k] is before[k] for k in before)
    model.predict(X.iloc[:3])
    assert telemetry.finished() == []


def test_suppressed_calls_are_not_monitored(telemetry, instrument, data):
    X, y = data
    model = LogisticRegression().fit(X, y)
    instrument()
    with suppress_instrumentation():
        model.predict(X.iloc[:3])
    assert telemetry.finished() == []
    model.predict(X.iloc[:3])
    assert len(telemetry.finished()) == 1


def test_training_and_scoring_are_not_monitored(telemetry, instrument, data):
    X, y = data
    instrument()
    search = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=3).fit(X, y)
    search.score(X, y)
    assert telemetry.finished() == []
    search.predict(X.iloc[:4])
    assert only_span(telemetry).name == "predict GridSearchCV"


def test_hooks_run_inside_the_span_and_cannot_break_the_model(telemetry, instrument, data):
    X, y = data
    model = LogisticRegression().fit(X, y)
    calls = []

    def request_hook(span, estimator, operation, inputs):
        calls.append((span.is_recording(), estimator is model, operation, inputs.shape))
        span.set_attribute("app.tenant", "t1")

    def response_hook(span, estimator, operation, result):
        raise RuntimeError("hook bug")

    errors_before = internal_errors().total()
    instrument(request_hook=request_hook, response_hook=response_hook)
    result = model.predict(X.iloc[:6])

    assert len(result) == 6
    assert calls == [(True, True, "predict", (6, 4))]
    assert dict(only_span(telemetry).attributes or {})["app.tenant"] == "t1"
    assert internal_errors().total() == errors_before + 1


def test_estimator_behaviour_is_preserved(telemetry, instrument, data):
    X, y = data
    model = LogisticRegression().fit(X, y)
    multi = MultiOutputClassifier(LogisticRegression(), n_jobs=2).fit(X, np.c_[y, 1 - y])
    expected_multi = multi.predict(X.iloc[:5])
    instrument()

    # available_if descriptors keep their meaning
    assert not hasattr(SVC(), "predict_proba")
    assert not hasattr(Pipeline([("r", Ridge())]), "predict_proba")
    assert hasattr(Pipeline([("lr", LogisticRegression())]), "predict_proba")
    # bound wrapped methods pickle (joblib sends them to worker processes)
    restored = pickle.loads(pickle.dumps(model.predict))
    assert np.array_equal(restored(X.iloc[:3]), model.predict(X.iloc[:3]))
    telemetry.spans.clear()
    assert np.array_equal(multi.predict(X.iloc[:5]), expected_multi)  # loky processes
    assert [s.name for s in telemetry.finished()] == ["predict MultiOutputClassifier"]


def test_user_subclass_is_covered_but_scratch_estimator_is_not(telemetry, instrument, data):
    X, y = data

    class MyLogistic(LogisticRegression):
        pass

    class Scratch(ClassifierMixin, BaseEstimator):
        def fit(self, X, y):
            self.classes_ = np.unique(y)
            return self

        def predict(self, X):
            return np.zeros(len(X), dtype=int)

    sub = MyLogistic().fit(X, y)
    scratch = Scratch().fit(X, y)
    instrument()
    sub.predict(X.iloc[:2])
    scratch.predict(X.iloc[:2])
    assert [s.name for s in telemetry.finished()] == ["predict MyLogistic"]


def test_decorated_function_calling_an_instrumented_model_is_one_call(
    telemetry, instrument, data
):
    import otel_ml

    X, y = data
    # A forest with n_jobs: its trees predict in joblib threads, outside the decorator's thread.
    model = RandomForestClassifier(n_estimators=6, n_jobs=2, random_state=0).fit(X, y)
    instrument()

    @otel_ml.monitor(model="credit_risk", version="5", tracer_provider=telemetry.tracer_provider)
    def score(frame):
        return model.predict_proba(frame)[:, 1]

    score(X.iloc[:8])

    span = only_span(telemetry)
    assert span.name == "predict credit_risk"


def test_async_decorated_function_calling_an_instrumented_model_is_one_call(
    telemetry, instrument, data
):
    import asyncio

    import otel_ml

    X, y = data
    model = RandomForestClassifier(n_estimators=4, n_jobs=2, random_state=0).fit(X, y)
    instrument()

    @otel_ml.monitor(model="async_risk", tracer_provider=telemetry.tracer_provider)
    async def score(frame):
        await asyncio.sleep(0)
        return model.predict_proba(frame)[:, 1]

    asyncio.run(score(X.iloc[:8]))

    assert only_span(telemetry).name == "predict async_risk"
