"""LightGBMInstrumentor on real LightGBM models, read back via SDK in-memory exporters."""

from __future__ import annotations

import pickle

import framework_support
import lightgbm as lgb
import numpy as np
import pytest
import sklearn_support
from framework_support import FEATURES, model_names, names, span_attrs, window
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import StatusCode
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from otel_ml import semconv
from otel_ml.instrumentation.lightgbm import LightGBMInstrumentor, name_model
from otel_ml.instrumentation.sklearn import SklearnInstrumentor

telemetry = pytest.fixture(name="telemetry")(sklearn_support.telemetry_fixture)
instrument = pytest.fixture(name="instrument")(
    framework_support.instrument_fixture_for(LightGBMInstrumentor)
)
instrument_sklearn = pytest.fixture(name="instrument_sklearn")(
    framework_support.instrument_fixture_for(SklearnInstrumentor)
)
data = pytest.fixture(name="data", scope="module")(framework_support.data_fixture)

PARAMS = {"num_leaves": 7, "num_threads": 1, "verbose": -1}


def _train(X, y, **params):
    return lgb.train({**PARAMS, **params}, lgb.Dataset(X, label=y), 10)


@pytest.fixture(name="booster", scope="module")
def booster_fixture(data):
    X, y, _ = data
    return _train(X, y, objective="binary")


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


def test_sklearn_api_is_one_call(telemetry, instrument, data, clf):
    X, _, _ = data
    expected = clf.predict_proba(X.iloc[:30]), clf.predict(X.iloc[:30])
    instrument()
    proba, labels = clf.predict_proba(X.iloc[:30]), clf.predict(X.iloc[:30])
    assert np.array_equal(proba, expected[0]) and np.array_equal(labels, expected[1])
    assert [n.split(" ")[0] for n in names(telemetry)] == ["predict_proba", "predict"]
    assert all(n.split(" ")[1].startswith("LGBMClassifier-") for n in names(telemetry))
    w = window(telemetry, model_names(telemetry)[0])
    assert sorted(w.numeric) == sorted(FEATURES)
    assert set(w.predictions) == {"0", "1"}
    assert sum(w.classes.values()) == 60


def test_pipeline_with_the_model_as_last_step_is_one_call(telemetry, instrument,
                                                          instrument_sklearn, data):
    X, y, _ = data
    pipe = Pipeline([("scale", StandardScaler()),
                     ("clf", lgb.LGBMClassifier(n_estimators=5, n_jobs=1, verbose=-1))])
    pipe.fit(X, y)
    instrument_sklearn()
    instrument()
    pipe.predict(X.iloc[:10])
    assert names(telemetry) == ["predict Pipeline"]


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
    assert set(window(telemetry, multi_name).predictions) == {"0", "1", "2"}
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


def test_exceptions_propagate_unchanged(telemetry, instrument, data, booster):
    X, _, _ = data
    wrong = X.iloc[:5, :2].to_numpy()
    with pytest.raises(Exception) as plain:
        booster.predict(wrong)
    instrument()
    with pytest.raises(Exception) as instrumented:
        booster.predict(wrong)
    assert type(instrumented.value) is type(plain.value)
    assert str(instrumented.value) == str(plain.value)
    (span,) = telemetry.finished()
    assert span.status.status_code is StatusCode.ERROR


def test_uninstrument_restores_every_original(instrument):
    import lightgbm.engine
    import lightgbm.sklearn

    owners = [lgb.Booster, lgb.LGBMModel, lgb.LGBMClassifier, lgb.LGBMRegressor,
              lgb.LGBMRanker, lgb, lightgbm.engine, lightgbm.sklearn]
    before = [dict(vars(o)) for o in owners]
    instrumentor = instrument()
    assert vars(lgb.Booster)["predict"] is not before[0]["predict"]
    instrumentor.uninstrument()
    after = [dict(vars(o)) for o in owners]
    for b, a in zip(before, after, strict=True):
        assert b.keys() == a.keys()
        assert all(a[k] is v for k, v in b.items())


def test_two_models_of_one_class_get_different_stable_names(telemetry, instrument, data,
                                                            booster):
    X, y, _ = data
    other = _train(X, 1 - y, objective="binary")
    again = pickle.loads(pickle.dumps(booster))
    named = name_model(pickle.loads(pickle.dumps(booster)), "credit_risk", version="3")
    instrument()
    for model in (booster, other, again, named):
        model.predict(X.iloc[:2])
    first, second, third, fourth = model_names(telemetry)
    assert first != second and first == third and first.startswith("Booster-")
    assert fourth == "credit_risk"


def test_suppressed(telemetry, instrument, data, booster):
    X, _, _ = data
    instrument()
    with suppress_instrumentation():
        booster.predict(X.iloc[:2])
    assert telemetry.finished() == []
