"""Buffered small calls: the worker reads many results at once and still emits each call's own.

The worker concatenates the results of many single-row calls (grouped by shape and
dtype), reads them in one go and cuts each call's slice when it emits that call's
event; without prediction events it cuts nothing but still records the outputs.
"""

from __future__ import annotations

import numpy as np
from sdk_support import Telemetry

import otel_ml
from otel_ml import semconv
from otel_ml.instrumentation import ModelKey, flush


def _probabilities(x: np.ndarray) -> np.ndarray:
    p = 1.0 / (1.0 + np.exp(-x[:, 0]))
    return np.column_stack([1.0 - p, p])


def test_each_buffered_call_gets_its_own_values_and_labels(telemetry: Telemetry) -> None:
    @otel_ml.monitor(model="w", task="binary_classification", **telemetry.kwargs())  # type: ignore[arg-type]
    def proba(x: np.ndarray) -> np.ndarray:
        return _probabilities(x)

    @otel_ml.monitor(model="w", task="binary_classification", **telemetry.kwargs())  # type: ignore[arg-type]
    def labels(x: np.ndarray) -> np.ndarray:
        return (x[:, 0] > 0).astype(np.int64)

    rng = np.random.default_rng(3)
    expected: dict[str, tuple[str, float | None]] = {}
    for i in range(300):
        row = rng.normal(size=(1, 4))
        if i % 3:  # two result shapes in one batch: two reads, interleaved calls
            p = proba(row)[0, 1]
            expected[otel_ml.last_prediction_ids()[0]] = ("1" if p >= 0.5 else "0", p)
        else:
            lab = labels(row)[0]
            expected[otel_ml.last_prediction_ids()[0]] = (str(lab), None)
    flush()
    calls = telemetry.calls()
    assert len(calls) == 300
    for call in calls:
        (pid,) = call[semconv.ML_PREDICTION_IDS]
        label, value = expected[pid]
        assert call[semconv.ML_PREDICTION_LABELS] == [label]
        if value is None:
            assert semconv.ML_PREDICTION_VALUES not in call
        else:
            assert call[semconv.ML_PREDICTION_VALUES] == [value]


def test_without_events_outputs_are_still_counted(telemetry: Telemetry) -> None:
    @otel_ml.monitor(  # type: ignore[arg-type]
        model="quiet",
        task="binary_classification",
        prediction_events=False,
        **telemetry.kwargs(),
    )
    def proba(x: np.ndarray) -> np.ndarray:
        return _probabilities(x)

    x = np.linspace(-3.0, 3.0, 100).reshape(100, 1)
    positives = 0
    for i in range(100):
        positives += int(proba(x[i : i + 1])[0, 1] >= 0.5)
    flush()
    assert telemetry.events() == []
    w = telemetry.consumer.collect().windows[ModelKey("quiet", "unknown")]
    assert (w.calls, w.rows) == (100, 100)
    assert w.predictions and all(s.count == 100 for s in w.predictions.values())
    assert w.classes == {"1": positives, "0": 100 - positives}
