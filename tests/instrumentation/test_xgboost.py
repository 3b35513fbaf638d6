"""XGBoostInstrumentor on real XGBoost models, read back via SDK in-memory exporters."""

from __future__ import annotations

import gc

import boosting_cases
import framework_support
import numpy as np
import pytest
import sklearn_support
import xgboost as xgb
from framework_support import FEATURES, model_names, names, span_attrs, window

from otel_ml import semconv
from otel_ml.instrumentation.sklearn import SklearnInstrumentor
from otel_ml.instrumentation.xgboost import XGBoostInstrumentor, name_model

telemetry = pytest.fixture(name="telemetry")(sklearn_support.telemetry_fixture)
instrument = pytest.fixture(name="instrument")(
    sklearn_support.instrument_fixture_for(XGBoostInstrumentor)
)
instrument_sklearn = pytest.fixture(name="instrument_sklearn")(
    sklearn_support.instrument_fixture_for(SklearnInstrumentor)
)
data = pytest.fixture(name="data", scope="module")(framework_support.data_fixture)

PARAMS = {"max_depth": 3, "nthread": 1}


def _train_binary(X, y):
    return xgb.train({**PARAMS, "objective": "binary:logistic"}, xgb.DMatrix(X, label=y), 10)


def _owners():
    import xgboost.sklearn
    import xgboost.training

    return [xgb.Booster, xgb.DMatrix, xgb.XGBModel, xgb.XGBClassifier, xgb.XGBRegressor,
            xgb.XGBRanker, xgb.XGBRFClassifier, xgb.XGBRFRegressor, xgb, xgboost.training,
            xgboost.sklearn]


@pytest.fixture(name="booster", scope="module")
def booster_fixture(data):
    X, y, _ = data
    return _train_binary(X, y)


@pytest.fixture(name="model", scope="module")
def model_fixture(booster):
    return booster


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
    multi = set(window(telemetry, multi_name).predictions)
    # the class columns, and per class that won a row its argmax:<class> stream (CBPE)
    assert {n for n in multi if not n.startswith("argmax:")} == {"0", "1", "2"}
    assert multi - {"0", "1", "2"} <= {"argmax:0", "argmax:1", "argmax:2"}
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


class TestXGBoost(boosting_cases.Cases, boosting_cases.SklearnClassifierCases):
    framework = boosting_cases.Framework(
        name_model=name_model,
        train_binary=_train_binary,
        model_prefix="Booster-",
        predict="inplace_predict",
        wrong_input=lambda X: xgb.DMatrix(X.iloc[:5, :2]),
        error=ValueError,
        pipeline_step=lambda: xgb.XGBClassifier(n_estimators=5, n_jobs=1),
        pipeline_method="predict_proba",
        owners=_owners,
        patched=(0, "predict"),
        classifier_prefix="XGBClassifier-",
    )
