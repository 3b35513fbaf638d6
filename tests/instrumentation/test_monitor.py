"""@monitor / ModelMonitor: spans, counts, sketches, events, ids, errors."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from sdk_support import Telemetry

import otel_ml
from otel_ml import semconv
from otel_ml.instrumentation import ModelKey, flush


def test_batch_call_returns_same_object_and_records_everything(telemetry: Telemetry) -> None:
    out = np.array([0.1, 0.9, 0.4])

    @otel_ml.monitor(model="m", version="2", **telemetry.kwargs())  # type: ignore[arg-type]
    def predict(x: np.ndarray) -> np.ndarray:
        return out

    x = np.arange(60, dtype=float).reshape(3, 20)
    assert predict(x) is out
    ids = otel_ml.last_prediction_ids()
    assert len(ids) == 3 and len(set(ids)) == 3
    flush()
    w = telemetry.consumer.collect().windows[ModelKey("m", "2")]
    assert (w.calls, w.rows, w.duration.count) == (1, 3, 1)
    assert set(w.numeric) == {f"f{j}" for j in range(20)}
    assert w.numeric["f0"].count == 3 and w.numeric["f0"].max == 40.0
    assert w.predictions["score"].count == 3
    (span,) = telemetry.spans()
    assert span.name == "predict m"
    assert span.attributes is not None
    assert span.attributes[semconv.ML_BATCH_SIZE] == 3
    assert span.attributes[semconv.ML_MODEL_VERSION] == "2"
    (event,) = telemetry.events()
    rec = event.log_record
    assert rec.attributes is not None
    assert list(rec.attributes[semconv.ML_PREDICTION_IDS]) == list(ids)  # type: ignore[arg-type]
    assert list(rec.attributes[semconv.ML_PREDICTION_VALUES]) == [0.1, 0.9, 0.4]  # type: ignore[arg-type]
    assert rec.trace_id == span.context.trace_id and rec.span_id == span.context.span_id


def test_single_rows_are_buffered_then_sketched(telemetry: Telemetry) -> None:
    @otel_ml.monitor(model="m", id_column="id", **telemetry.kwargs())  # type: ignore[arg-type]
    def predict(row: dict[str, object]) -> str:
        return "yes" if row["age"] > 30 else "no"  # type: ignore[operator]

    for i in range(50):
        row = {"id": f"r{i}", "age": float(i), "city": "x" if i % 2 else "y"}
        assert predict(row) in ("yes", "no")
        assert otel_ml.last_prediction_ids() == (f"r{i}",)
    flush()
    w = telemetry.consumer.collect().windows[ModelKey("m", "unknown")]
    assert w.calls == 50 and w.numeric["age"].count == 50
    assert w.categorical["city"].counts == {"x": 25, "y": 25}
    assert "id" not in w.categorical and "id" not in w.numeric
    assert w.classes == {"yes": 19, "no": 31}
    events = telemetry.events()
    assert len(events) == 50
    assert events[3].log_record.attributes[semconv.ML_PREDICTION_LABELS] == ("no",)  # type: ignore[index]


def test_user_exception_propagates_unchanged(telemetry: Telemetry) -> None:
    boom = KeyError("missing column")

    @otel_ml.monitor(model="m", **telemetry.kwargs())  # type: ignore[arg-type]
    def predict(x: object) -> None:
        raise boom

    with pytest.raises(KeyError) as info:
        predict(np.zeros((2, 2)))
    assert info.value is boom
    w = telemetry.consumer.collect().windows[ModelKey("m", "unknown")]
    assert w.errors == {"KeyError": 1} and w.calls == 1
    (span,) = telemetry.spans()
    assert span.attributes[semconv.ERROR_TYPE] == "KeyError"  # type: ignore[index]


def test_async_function_and_method(telemetry: Telemetry) -> None:
    class Model:
        @otel_ml.monitor(model="svc", **telemetry.kwargs())  # type: ignore[arg-type]
        async def predict(self, x: np.ndarray) -> np.ndarray:
            await asyncio.sleep(0)
            return x.sum(axis=1)

    x = np.ones((4, 2))
    res = asyncio.run(Model().predict(x))
    assert res.tolist() == [2.0] * 4
    w = telemetry.consumer.collect().windows[ModelKey("svc", "unknown")]
    assert w.rows == 4 and sorted(w.numeric) == ["f0", "f1"]
