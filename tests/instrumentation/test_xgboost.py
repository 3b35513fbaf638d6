"""XGBoostInstrumentor on real XGBoost models, read back via SDK in-memory exporters."""

from __future__ import annotations

import gc
import pickle

import framework_support
import numpy as np
import pytest
import sklearn_support
import xgboost as xgb
from framework_support import FEATURES, model_names, names, span_attrs, window
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import StatusCode
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from otel_ml import semconv
from otel_ml.instrumentation.sklearn import SklearnInstrumentor
from otel_ml.instrumentation.xgboost import XGBoostInstrumentor, name_model

telemetry = pytest.fixture(name="telemetry")(sklearn_support.telemetry_fixture)
instrument = pytest.fixture(name="instrument")(
    framework_support.instrument_fixture_for(XGBoostInstrumentor)
)
instrument_sklearn = pytest.fixture(name="instrument_sklearn")(
    framework_support.instrument_fixture_for(SklearnInstrumentor)
)
data = pytest.fixture(name="data", scope="module")(framework_support.data_fixture)

PARAMS = {"max_depth": 3, "nthread": 1}


@pytest.fixture(name="booster", scope="module")
def booster_fixture(data):
    X, y, _ = data
    return xgb.train({**PARAMS, "objective": "binary:logistic"}, xgb.DMatrix(X, label=y), 10)


@pytest.fixture(name="clf", scope="module")
def clf_fixture(data):
    X, y, _ = data
    return xgb.XGBClassifier(n_estimators=10, max_depth=3, n_jobs=1).fit(X, y)


def test_booster_on_a_dmatrix_is_one_call_with_named_features(telemetry, instrument, data,
                                                                booster):
    X, _, _ = data
    expected = booster.predict(xgb.DMatrix(X.iloc[:50]))
    instrument()
    source = X.iloc[:50]  # kept by the caller: read through a weak reference
    dm = xgb.DMatrix(source)
    result = booster.predict(dm)
    assert np.array_equal(result, expected)
    (attrs,) = span_attrs(telemetry)
    assert names(telemetry)[0].startswith("predict_proba Booster-")
    assert attrs[semconv.ML_MODEL_FRAMEWORK] == "xgboost"
    assert attrs[semconv.ML_MODEL_TASK] == "binary_classification"
    assert attrs[semconv.ML_BATCH_SIZE] == 50
    w = window(telemetry, str(attrs[semconv.ML_MODEL_NAME]))
    assert sorted(w.numeric) == sorted(FEATURES)  # read from the DataFrame behind the DMatrix
    assert set(w.predictions) == {"0", "1"}  # the positive column read as two classes
    assert w.predictions["1"].count == 50


def test_a_dmatrix_whose_source_is_gone_counts_rows_only(telemetry, instrument, data, booster):
    X, _, _ = data
    instrument()
    dm = xgb.DMatrix(X.to_numpy()[:20].copy(), feature_names=FEATURES)
    gc.collect()
    booster.predict(dm)
    w = window(telemetry, model_names(telemetry)[0])
    assert (w.calls, w.rows, w.numeric) == (1, 20, {})


def test_inplace_predict_and_margins_have_their_own_stream(telemetry, instrument, data, booster):
    X, _, _ = data
    instrument()
    p = booster.inplace_predict(X.iloc[:10])
    margin = booster.inplace_predict(X.iloc[:10], predict_type="margin")
    margin2 = booster.predict(xgb.DMatrix(X.iloc[:10]), output_margin=True)
    assert np.allclose(margin, margin2) and p.shape == (10,)
    ops = [a[semconv.ML_OPERATION] for a in span_attrs(telemetry)]
    assert ops == ["predict_proba", "predict_margin", "predict_margin"]
    w = window(telemetry, model_names(telemetry)[0])
    assert set(w.predictions) == {"0", "1", "decision"}
    assert w.predictions["decision"].count == 20
    assert sum(w.classes.values()) == 30  # classes read from margins too


def test_explanations_are_not_predictions(telemetry, instrument, data, booster):
    X, _, _ = data
    instrument()
    booster.predict(xgb.DMatrix(X.iloc[:5]), pred_contribs=True)
    booster.predict(xgb.DMatrix(X.iloc[:5]), pred_leaf=True)
    assert telemetry.finished() == []


def test_sklearn_api_is_one_call(telemetry, instrument, data, clf):
    X, _, _ = data
    expected = clf.predict_proba(X.iloc[:30]), clf.predict(X.iloc[:30])
    instrument()
    proba, labels = clf.predict_proba(X.iloc[:30]), clf.predict(X.iloc[:30])
    assert np.array_equal(proba, expected[0]) and np.array_equal(labels, expected[1])
    assert [n.split(" ")[0] for n in names(telemetry)] == ["predict_proba", "predict"]
    assert all(n.split(" ")[1].startswith("XGBClassifier-") for n in names(telemetry))
    w = window(telemetry, model_names(telemetry)[0])
    assert sorted(w.numeric) == sorted(FEATURES)
    assert set(w.predictions) == {"0", "1"}
    assert sum(w.classes.values()) == 60


def test_pipeline_with_the_model_as_last_step_is_one_call(telemetry, instrument,
                                                          instrument_sklearn, data):
    X, y, _ = data
    pipe = Pipeline([("scale", StandardScaler()),
                     ("clf", xgb.XGBClassifier(n_estimators=5, n_jobs=1))]).fit(X, y)
    instrument_sklearn()
    instrument()
    pipe.predict_proba(X.iloc[:10])
    assert names(telemetry) == ["predict_proba Pipeline"]


def test_regressor_multiclass_and_ranker(telemetry, instrument, data):
    X, y, y3 = data
    reg = xgb.XGBRegressor(n_estimators=5, n_jobs=1).fit(X, X["income"])
    multi = xgb.train({**PARAMS, "objective": "multi:softprob", "num_class": 3},
                      xgb.DMatrix(X, label=y3), 5)
    hard = xgb.train({**PARAMS, "objective": "multi:softmax", "num_class": 3},
                     xgb.DMatrix(X, label=y3), 5)
    rank = xgb.XGBRanker(n_estimators=5, n_jobs=1).fit(X, y, qid=np.repeat(np.arange(30), 10))
    instrument()
    reg.predict(X.iloc[:10])
    multi.predict(xgb.DMatrix(X.iloc[:10]))
    hard.predict(xgb.DMatrix(X.iloc[:10]))
    rank.predict(X.iloc[:10])
    tasks = [a[semconv.ML_MODEL_TASK] for a in span_attrs(telemetry)]
    assert tasks == ["regression", "multiclass_classification", "multiclass_classification",
                     "auto"]
    reg_name, multi_name, hard_name, rank_name = model_names(telemetry)
    assert set(window(telemetry, reg_name).predictions) == {"score"}
    assert set(window(telemetry, multi_name).predictions) == {"0", "1", "2"}
    assert set(window(telemetry, hard_name).classes) <= {"0", "1", "2"}
    assert set(window(telemetry, rank_name).predictions) == {"score"}


def test_training_is_not_recorded(telemetry, instrument, data):
    X, y, _ = data
    seen = []

    class PredictEachRound(xgb.callback.TrainingCallback):
        def after_iteration(self, model, epoch, evals_log):
            seen.append(model.predict(xgb.DMatrix(X.iloc[:5])))
            return False

    instrumentor = instrument()
    xgb.train(PARAMS, xgb.DMatrix(X, label=y), 3, callbacks=[PredictEachRound()])
    xgb.XGBClassifier(n_estimators=3, n_jobs=1).fit(X, y, eval_set=[(X, y)], verbose=False)
    assert len(seen) == 3 and telemetry.finished() == []
    instrumentor.uninstrument()
    instrument(record_training=True)
    xgb.train(PARAMS, xgb.DMatrix(X, label=y), 2, callbacks=[PredictEachRound()])
    assert len(telemetry.finished()) == 2


def test_exceptions_propagate_unchanged(telemetry, instrument, data, booster):
    X, _, _ = data
    wrong = xgb.DMatrix(X.iloc[:5, :2])
    with pytest.raises(ValueError) as plain:
        booster.predict(wrong)
    instrument()
    with pytest.raises(ValueError) as instrumented:
        booster.predict(wrong)
    assert str(instrumented.value) == str(plain.value)
    (span,) = telemetry.finished()
    assert span.status.status_code is StatusCode.ERROR


def test_uninstrument_restores_every_original(instrument):
    import xgboost.sklearn
    import xgboost.training

    owners = [xgb.Booster, xgb.DMatrix, xgb.XGBModel, xgb.XGBClassifier, xgb.XGBRegressor,
              xgb.XGBRanker, xgb.XGBRFClassifier, xgb.XGBRFRegressor, xgb, xgboost.training,
              xgboost.sklearn]
    before = [dict(vars(o)) for o in owners]
    instrumentor = instrument()
    assert vars(xgb.Booster)["predict"] is not before[0]["predict"]
    instrumentor.uninstrument()
    after = [dict(vars(o)) for o in owners]
    for b, a in zip(before, after, strict=True):
        assert b.keys() == a.keys()
        assert all(a[k] is v for k, v in b.items())


def test_two_models_of_one_class_get_different_stable_names(telemetry, instrument, data,
                                                            booster):
    X, y, _ = data
    other = xgb.train({**PARAMS, "objective": "binary:logistic"},
                      xgb.DMatrix(X, label=1 - y), 10)
    again = pickle.loads(pickle.dumps(booster))  # the same model, another instance
    named = name_model(pickle.loads(pickle.dumps(booster)), "credit_risk", version="3")
    instrument()
    for model in (booster, other, again, named):
        model.inplace_predict(X.iloc[:2])
    first, second, third, fourth = model_names(telemetry)
    assert first != second and first == third and first.startswith("Booster-")
    assert fourth == "credit_risk"


def test_suppressed_and_disabled(telemetry, instrument, data, booster):
    X, _, _ = data
    instrument()
    with suppress_instrumentation():
        booster.inplace_predict(X.iloc[:2])
    assert telemetry.finished() == []
