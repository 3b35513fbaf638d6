"""LightGBMInstrumentor on real LightGBM models, read back via SDK in-memory exporters."""

from __future__ import annotations

import boosting_cases
import framework_support
import lightgbm as lgb
import numpy as np
import pytest
import sklearn_support
from framework_support import FEATURES, model_names, names, span_attrs, window

from otel_ml import semconv
from otel_ml.instrumentation.lightgbm import LightGBMInstrumentor, name_model
from otel_ml.instrumentation.sklearn import SklearnInstrumentor

telemetry = pytest.fixture(name="telemetry")(sklearn_support.telemetry_fixture)
instrument = pytest.fixture(name="instrument")(
    sklearn_support.instrument_fixture_for(LightGBMInstrumentor)
)
instrument_sklearn = pytest.fixture(name="instrument_sklearn")(
    sklearn_support.instrument_fixture_for(SklearnInstrumentor)
)
data = pytest.fixture(name="data", scope="module")(framework_support.data_fixture)

PARAMS = {"num_leaves": 7, "num_threads": 1, "verbose": -1}


def _train(X, y, **params):
    return lgb.train({**PARAMS, **params}, lgb.Dataset(X, label=y), 10)


def _train_binary(X, y):
    return _train(X, y, objective="binary")


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
    return lgb.LGBMClassifier(n_estimators=10, num_leaves=7, n_jobs=1, verbose=-1).fit(X, y)


def test_booster_is_one_call_with_named_features(telemetry, instrument, data, booster):
    X, _, _ = data
    expected = booster.predict(X.iloc[:50])
    instrument()
    result = booster.predict(X.iloc[:50].to_numpy())  # unnamed: the booster's feature names
    assert np.array_equal(result, expected)
    (attrs,) = span_attrs(telemetry)
    assert names(telemetry)[0].startswith("predict_proba Booster-")
    assert attrs[semconv.ML_MODEL_FRAMEWORK] == "lightgbm"
    assert attrs[semconv.ML_MODEL_TASK] == "binary_classification"
    w = window(telemetry, str(attrs[semconv.ML_MODEL_NAME]))
    assert sorted(w.numeric) == sorted(FEATURES)
    assert set(w.predictions) == {"0", "1"}  # the positive column read as two classes
    assert w.predictions["1"].count == 50


def test_raw_scores_have_their_own_stream(telemetry, instrument, data, booster, clf):
    X, _, _ = data
    instrument()
    booster.predict(X.iloc[:10], raw_score=True)
    clf.predict(X.iloc[:10], raw_score=True)
    clf.predict_proba(X.iloc[:10], raw_score=True)
    ops = [a[semconv.ML_OPERATION] for a in span_attrs(telemetry)]
    assert ops == ["predict_margin"] * 3
    first, second, _ = model_names(telemetry)
    assert set(window(telemetry, first).predictions) == {"decision"}
    assert sum(window(telemetry, first).classes.values()) == 10
    assert set(window(telemetry, second).predictions) == {"decision"}


def test_explanations_are_not_predictions(telemetry, instrument, data, booster, clf):
    X, _, _ = data
    instrument()
    booster.predict(X.iloc[:5], pred_contrib=True)
    booster.predict(X.iloc[:5], pred_leaf=True)
    clf.predict(X.iloc[:5], pred_contrib=True)
    assert telemetry.finished() == []




def test_regressor_multiclass_and_ranker(telemetry, instrument, data):
    X, y, y3 = data
    reg = lgb.LGBMRegressor(n_estimators=5, n_jobs=1, verbose=-1).fit(X, X["income"])
    multi = _train(X, y3, objective="multiclass", num_class=3)
    rank = lgb.LGBMRanker(n_estimators=5, n_jobs=1, verbose=-1).fit(X, y, group=[10] * 30)
    loaded = lgb.Booster(model_str=multi.model_to_string())  # no params: read from the text
    instrument()
    reg.predict(X.iloc[:10])
    multi.predict(X.iloc[:10])
    rank.predict(X.iloc[:10])
    loaded.predict(X.iloc[:10])
    tasks = [a[semconv.ML_MODEL_TASK] for a in span_attrs(telemetry)]
    assert tasks == ["regression", "multiclass_classification", "auto",
                     "multiclass_classification"]
    reg_name, multi_name, rank_name, loaded_name = model_names(telemetry)
    assert set(window(telemetry, reg_name).predictions) == {"score"}
    multi = set(window(telemetry, multi_name).predictions)
    # the class columns, and per class that won a row its argmax:<class> stream (CBPE)
    assert {n for n in multi if not n.startswith("argmax:")} == {"0", "1", "2"}
    assert multi - {"0", "1", "2"} <= {"argmax:0", "argmax:1", "argmax:2"}
    assert set(window(telemetry, rank_name).predictions) == {"score"}
    assert loaded_name == multi_name  # the same model text: the same default name


def test_training_is_not_recorded(telemetry, instrument, data):
    X, y, _ = data
    seen = []

    def predict_each_round(env):
        seen.append(env.model.predict(X.iloc[:5]))

    instrumentor = instrument()
    lgb.train(PARAMS, lgb.Dataset(X, label=y), 3, callbacks=[predict_each_round])
    lgb.LGBMClassifier(n_estimators=3, verbose=-1).fit(X, y, eval_set=[(X, y)])
    assert len(seen) == 3 and telemetry.finished() == []
    instrumentor.uninstrument()
    instrument(record_training=True)
    lgb.train(PARAMS, lgb.Dataset(X, label=y), 2, callbacks=[predict_each_round])
    assert len(telemetry.finished()) == 2


def _owners():
    import lightgbm.engine
    import lightgbm.sklearn

    return [lgb.Booster, lgb.LGBMModel, lgb.LGBMClassifier, lgb.LGBMRegressor,
            lgb.LGBMRanker, lgb, lightgbm.engine, lightgbm.sklearn]


class TestLightGBM(boosting_cases.Cases, boosting_cases.SklearnClassifierCases):
    framework = boosting_cases.Framework(
        name_model=name_model,
        train_binary=_train_binary,
        model_prefix="Booster-",
        predict="predict",
        wrong_input=lambda X: X.iloc[:5, :2].to_numpy(),
        error=Exception,
        pipeline_step=lambda: lgb.LGBMClassifier(n_estimators=5, n_jobs=1, verbose=-1),
        pipeline_method="predict",
        owners=_owners,
        patched=(0, "predict"),
        classifier_prefix="LGBMClassifier-",
    )
