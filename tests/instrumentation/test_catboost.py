"""CatBoostInstrumentor on real CatBoost models, read back via SDK in-memory exporters."""

from __future__ import annotations

import boosting_cases
import catboost as cb
import framework_support
import numpy as np
import pytest
import sklearn_support
from framework_support import FEATURES, model_names, names, span_attrs, window

from otel_ml import semconv
from otel_ml.instrumentation.catboost import CatBoostInstrumentor, name_model
from otel_ml.instrumentation.sklearn import SklearnInstrumentor

telemetry = pytest.fixture(name="telemetry")(sklearn_support.telemetry_fixture)
instrument = pytest.fixture(name="instrument")(
    sklearn_support.instrument_fixture_for(CatBoostInstrumentor)
)
instrument_sklearn = pytest.fixture(name="instrument_sklearn")(
    sklearn_support.instrument_fixture_for(SklearnInstrumentor)
)
data = pytest.fixture(name="data", scope="module")(framework_support.data_fixture)

QUIET = {"verbose": 0, "allow_writing_files": False, "thread_count": 1}


def _clf(X, y, **params):
    return cb.CatBoostClassifier(iterations=10, depth=3, **QUIET, **params).fit(X, y)


@pytest.fixture(name="clf", scope="module")
def clf_fixture(data):
    X, y, _ = data
    return _clf(X, y)


@pytest.fixture(name="model", scope="module")
def model_fixture(clf):
    return clf


def test_classifier_calls_with_named_features(telemetry, instrument, data, clf):
    X, _, _ = data
    expected = clf.predict_proba(X.iloc[:40]), clf.predict(X.iloc[:40])
    instrument()
    proba, labels = clf.predict_proba(X.iloc[:40]), clf.predict(X.iloc[:40].to_numpy())
    assert np.array_equal(proba, expected[0]) and np.array_equal(labels, expected[1])
    assert [n.split(" ")[0] for n in names(telemetry)] == ["predict_proba", "predict"]
    attrs = span_attrs(telemetry)[0]
    assert str(attrs[semconv.ML_MODEL_NAME]).startswith("CatBoostClassifier-")
    assert attrs[semconv.ML_MODEL_FRAMEWORK] == "catboost"
    assert attrs[semconv.ML_MODEL_TASK] == "binary_classification"
    w = window(telemetry, str(attrs[semconv.ML_MODEL_NAME]))
    assert sorted(w.numeric) == sorted(FEATURES)  # numpy columns named by feature_names_
    assert set(w.predictions) == {"0", "1"}
    assert sum(w.classes.values()) == 80


def test_prediction_types_and_one_object(telemetry, instrument, data, clf):
    X, _, _ = data
    row = X.iloc[0].to_numpy()
    expected = clf.predict_proba(row)
    instrument()
    assert np.array_equal(clf.predict_proba(row), expected)  # one object: a 1-D result
    clf.predict(X.iloc[:10], prediction_type="RawFormulaVal")
    clf.predict(X.iloc[:10], "Probability")
    clf.predict_log_proba(X.iloc[:10])
    ops = [a[semconv.ML_OPERATION] for a in span_attrs(telemetry)]
    assert ops == ["predict_proba", "predict_margin", "predict_proba", "predict_log_proba"]
    assert [a[semconv.ML_BATCH_SIZE] for a in span_attrs(telemetry)] == [1, 10, 10, 10]
    w = window(telemetry, model_names(telemetry)[0])
    assert set(w.predictions) == {"0", "1", "decision"}
    assert w.predictions["1"].count == 21  # the single object is one row, not two
    assert w.predictions["decision"].count == 10


def test_a_pool_is_read_through_its_source(telemetry, instrument, data, clf):
    X, _, _ = data
    instrument()
    source = X.iloc[:25]
    clf.predict_proba(cb.Pool(source))
    clf.predict_proba(cb.Pool(X.iloc[:15].to_numpy().copy()))  # its source is gone
    w = window(telemetry, model_names(telemetry)[0])
    assert (w.calls, w.rows) == (2, 40)
    assert {k: s.count for k, s in w.numeric.items()} == {f: 25 for f in FEATURES}


def test_regressor_multiclass_and_base_class(telemetry, instrument, data):
    X, y, y3 = data
    reg = cb.CatBoostRegressor(iterations=5, **QUIET).fit(X, X["income"])
    multi = _clf(X, y3)
    base = cb.CatBoost({"iterations": 5, "loss_function": "Logloss", **QUIET}).fit(X, y)
    instrument()
    reg.predict(X.iloc[:10])
    multi.predict_proba(X.iloc[:10])
    base.predict(X.iloc[:10])  # RawFormulaVal by default: margins
    tasks = [a[semconv.ML_MODEL_TASK] for a in span_attrs(telemetry)]
    assert tasks == ["regression", "multiclass_classification", "binary_classification"]
    assert [a[semconv.ML_OPERATION] for a in span_attrs(telemetry)][2] == "predict_margin"
    reg_name, multi_name, base_name = model_names(telemetry)
    assert set(window(telemetry, reg_name).predictions) == {"score"}
    multi = set(window(telemetry, multi_name).predictions)
    # the class columns, and per class that won a row its argmax:<class> stream (CBPE)
    assert {n for n in multi if not n.startswith("argmax:")} == {"0", "1", "2"}
    assert multi - {"0", "1", "2"} <= {"argmax:0", "argmax:1", "argmax:2"}
    assert set(window(telemetry, base_name).predictions) == {"decision"}



def test_training_is_not_recorded(telemetry, instrument, data):
    X, y, _ = data

    class Sub(cb.CatBoostClassifier):
        def _fit(self, *args, **kwargs):  # predicts inside fit (as a validation step would)
            result = super()._fit(*args, **kwargs)
            self.predict(X.iloc[:3])
            return result

    instrumentor = instrument()
    Sub(iterations=3, **QUIET).fit(X, y, eval_set=(X, y))
    assert telemetry.finished() == []
    instrumentor.uninstrument()
    instrument(record_training=True)
    Sub(iterations=3, **QUIET).fit(X, y)
    assert [n.split("-")[0] for n in names(telemetry)] == ["predict Sub"]


def _owners():
    import catboost.core

    return [cb.CatBoost, cb.CatBoostClassifier, cb.CatBoostRegressor, cb.CatBoostRanker,
            cb.Pool, cb, catboost.core]


class TestCatBoost(boosting_cases.Cases):
    framework = boosting_cases.Framework(
        name_model=name_model,
        train_binary=_clf,
        model_prefix="CatBoostClassifier-",
        predict="predict",
        wrong_input=lambda X: X.iloc[:5, :2].to_numpy(),
        error=Exception,
        pipeline_step=lambda: cb.CatBoostClassifier(iterations=5, **QUIET),
        pipeline_method="predict_proba",
        owners=_owners,
        patched=(1, "predict"),
    )
