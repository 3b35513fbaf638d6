"""Each prediction method's output: one kind of number per ml.prediction.values stream."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn_support
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from otel_ml import semconv
from otel_ml.instrumentation._window import ModelKey

telemetry = pytest.fixture(name="telemetry")(sklearn_support.telemetry_fixture)
instrument = pytest.fixture(name="instrument")(sklearn_support.instrument_fixture)
data = pytest.fixture(name="data", scope="module")(sklearn_support.data_fixture)

DECISION = semconv.PREDICTION_OUTPUT_DECISION


def _streams(telemetry, model: str):
    window = telemetry.consumer.collect().windows[ModelKey(model, "unknown")]
    return window.predictions, window.classes


@pytest.mark.parametrize("rows", [4, 60])  # handled by the worker / on the calling thread
def test_log_probabilities_are_read_as_probabilities(telemetry, instrument, data, rows):
    X, y = data
    model = LogisticRegression().fit(X, y)
    proba = model.predict_proba(X.iloc[:rows])  # not instrumented yet
    instrument()

    model.predict_proba(X.iloc[:rows])
    with_proba, _ = _streams(telemetry, "LogisticRegression")
    log_result = model.predict_log_proba(X.iloc[:rows])
    with_log, _ = _streams(telemetry, "LogisticRegression")

    assert log_result.min() < -1.0  # what used to land in the probability streams
    assert set(with_log) == set(with_proba) == {"0", "1"}
    for name in ("0", "1"):
        assert with_log[name].count == rows
        assert with_log[name].min >= 0.0 and with_log[name].max <= 1.0
        assert with_log[name].min == pytest.approx(with_proba[name].min)
        assert with_log[name].max == pytest.approx(with_proba[name].max)
    _, log_event = telemetry.events()
    assert log_event[semconv.ML_PREDICTION_VALUES] == pytest.approx(proba[:, 1].tolist())


@pytest.mark.parametrize("rows", [4, 60])
def test_binary_decision_values_get_their_own_stream(telemetry, instrument, data, rows):
    X, y = data
    model = LogisticRegression().fit(X, y)
    expected = [str(c) for c in model.predict(X.iloc[:rows])]
    instrument()

    scores = model.decision_function(X.iloc[:rows])
    model.predict_proba(X.iloc[:rows])

    streams, classes = _streams(telemetry, "LogisticRegression")
    assert set(streams) == {DECISION, "0", "1"}
    assert streams[DECISION].count == rows
    assert streams[DECISION].min == pytest.approx(scores.min())
    assert streams["0"].min >= 0.0  # probabilities only
    assert sum(classes.values()) == 2 * rows
    decision_event, _ = telemetry.events()
    assert decision_event[semconv.ML_PREDICTION_LABELS] == expected
    assert semconv.ML_PREDICTION_VALUES not in decision_event  # margins are not probabilities


def test_multiclass_decision_values_per_class(telemetry, instrument, data):
    X, _ = data
    y3 = np.digitize(X["age"].to_numpy(), [-0.5, 0.5])  # three classes
    model = LinearSVC().fit(X, y3)
    expected = [str(c) for c in model.predict(X.iloc[:30])]
    instrument()

    model.decision_function(X.iloc[:30])

    streams, _ = _streams(telemetry, "LinearSVC")
    assert set(streams) == {f"{DECISION}:0", f"{DECISION}:1", f"{DECISION}:2"}
    (event,) = telemetry.events()
    assert event[semconv.ML_PREDICTION_LABELS] == expected


@pytest.mark.parametrize("rows", [4, 60])  # handled by the worker / on the calling thread
def test_multiclass_probabilities_add_each_class_on_the_rows_it_won(
    telemetry, instrument, data, rows
):
    """predict_proba of three classes: besides each class column, argmax:<class> holds
    1 - that column on the rows where the class was predicted (multiclass CBPE's input)."""
    X, _ = data
    y3 = np.digitize(X["age"].to_numpy(), [-0.5, 0.5])  # three classes
    model = LogisticRegression().fit(X, y3)
    proba = model.predict_proba(X.iloc[:rows])  # not instrumented yet
    instrument()

    model.predict_proba(X.iloc[:rows])

    streams, _ = _streams(telemetry, "LogisticRegression")
    won = proba.argmax(axis=1)
    argmax = semconv.PREDICTION_OUTPUT_ARGMAX_PREFIX
    assert {"0", "1", "2"} <= set(streams)
    assert set(streams) - {"0", "1", "2"} == {f"{argmax}{c}" for c in set(won.tolist())}
    for c in set(won.tolist()):
        s = streams[f"{argmax}{c}"]
        assert s.count == int(np.sum(won == c))
        assert s.min == pytest.approx(1 - proba[won == c, c].max())  # 1 - p: fine near p = 1
        assert s.max == pytest.approx(1 - proba[won == c, c].min())
    assert streams["0"].count == rows  # the class columns keep every row
