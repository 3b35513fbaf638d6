"""Batched ml.prediction records (the SDK's default) and ml.prediction.dropped reports,
decoded into one PredictionEvent per call and a DroppedPredictions; the per-call form
is read as before (tests/evaluator/test_decode.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.trace import SpanContext, TraceFlags

from otel_ml import semconv
from otel_ml.evaluator._decode import decode_body
from otel_ml.evaluator._decode_logs import R_CALLS, R_DROPPED
from otel_ml.evaluator._records import Signal
from otel_ml.instrumentation._events import EventBudget, PredictionEvents
from otel_ml.instrumentation._ids import PredictionIds
from otel_ml.instrumentation._options import Task
from otel_ml.instrumentation._outputs import interpret


def _records(fill: Any, budget: int = 1 << 20) -> list[Any]:
    """The SDK's own records: ``fill(events)`` adds calls, then everything is flushed."""
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    events = PredictionEvents(
        provider.get_logger("otel_ml"),
        EventBudget(budget),
        model="churn",
        version="3",
        per_call=False,
    )
    fill(events)
    events.flush(0.0, force=True)
    provider.shutdown()
    return list(exporter.get_finished_logs())


def _ctx(i: int) -> SpanContext:
    return SpanContext(0xABC0 + i, 0x10 + i, is_remote=False, trace_flags=TraceFlags(1))


def test_a_batched_record_is_one_event_per_call_with_its_trace() -> None:
    calls = [
        (PredictionIds.explicit(["a", "b"]), np.array([0.2, 0.9]), _ctx(1), 1_000),
        (PredictionIds.explicit(["c"]), np.array([0.7]), _ctx(2), 2_000),
        (PredictionIds.explicit(["d", "e", "f"]), np.array([0.1, 0.6, 0.4]), None, 3_000),
    ]

    def fill(events: PredictionEvents) -> None:
        for ids, scores, ctx, t in calls:
            events.add(ids, interpret(scores, Task.BINARY_CLASSIFICATION, None), ctx, t)

    records = _records(fill)
    assert len(records) == 1  # three calls, one record
    body = encode_logs(records).SerializeToString()
    batch = decode_body(Signal.LOGS, body, json=False, received_time_unix_nano=9_000)
    assert batch.rejection_counts() == {}
    got = [(e.ids, e.values, e.trace_id, e.span_id, e.time_unix_nano) for e in batch.predictions]
    assert got == [
        (("a", "b"), (0.2, 0.9), f"{0xABC1:032x}", f"{0x11:016x}", 1_000),
        (("c",), (0.7,), f"{0xABC2:032x}", f"{0x12:016x}", 2_000),
        (("d", "e", "f"), (0.1, 0.6, 0.4), "", "", 3_000),
    ]
    assert all((e.model, e.version) == ("churn", "3") for e in batch.predictions)


def test_a_call_split_over_records_keeps_its_trace_in_each_part() -> None:
    ids = PredictionIds.generated(3_000)

    def fill(events: PredictionEvents) -> None:
        events.add(ids, None, _ctx(5), 5_000)

    records = _records(fill)
    assert len(records) > 1
    batch = decode_body(
        Signal.LOGS, encode_logs(records).SerializeToString(), json=False,
        received_time_unix_nano=9_000,
    )  # fmt: skip
    assert sum(len(e.ids) for e in batch.predictions) == 3_000
    assert {e.span_id for e in batch.predictions} == {f"{0x15:016x}"}


def test_dropped_rows_are_reported_as_ranges_and_a_count() -> None:
    generated = [PredictionIds.generated(500) for _ in range(3)]

    def fill(events: PredictionEvents) -> None:
        for ids in generated:
            events.add(ids, None, None, 1_000)
        events.add(PredictionIds.explicit([f"u{i}" for i in range(300)]), None, None, 1_000)

    records = _records(fill, budget=20_000)  # room for a few hundred rows
    batch = decode_body(
        Signal.LOGS, encode_logs(records).SerializeToString(), json=False,
        received_time_unix_nano=9_000,
    )  # fmt: skip
    (dropped,) = batch.dropped
    delivered = sum(len(e.ids) for e in batch.predictions)
    assert delivered + dropped.rows == 1_800 and 0 < delivered < 1_000
    named = {f"{p}-{n}" for p, a, b in dropped.ranges for n in range(a, b + 1)}
    all_generated = {i for ids in generated for i in ids.as_tuple()}
    assert named == all_generated - {i for e in batch.predictions for i in e.ids}
    assert dropped.rows - len(named) == 300  # the user-given ids: only counted


def _raw_record(attrs: dict[str, Any], name: str = semconv.EVENT_PREDICTION) -> bytes:
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    provider.get_logger("x").emit(event_name=name, attributes=attrs)
    provider.shutdown()
    return encode_logs(exporter.get_finished_logs()).SerializeToString()


def test_call_lists_that_do_not_describe_the_rows_are_rejected() -> None:
    good = {
        semconv.ML_MODEL_NAME: "m",
        semconv.ML_PREDICTION_IDS: ["a", "b", "c"],
        semconv.ML_PREDICTION_CALL_OFFSETS: [0, 2],
        semconv.ML_PREDICTION_CALL_TRACE_IDS: ["", "ab" * 16],
        semconv.ML_PREDICTION_CALL_SPAN_IDS: ["", "cd" * 8],
        semconv.ML_PREDICTION_CALL_TIMES: [5, 6],
    }
    bad = [
        {semconv.ML_PREDICTION_CALL_OFFSETS: [1, 2]},  # not from 0
        {semconv.ML_PREDICTION_CALL_OFFSETS: [0, 3]},  # an empty call
        {semconv.ML_PREDICTION_CALL_TIMES: [5]},  # one list short
        {semconv.ML_PREDICTION_CALL_TRACE_IDS: ["", "xyz"]},  # not hex
        {semconv.ML_PREDICTION_CALL_SPAN_IDS: ["", "0" * 16]},  # all-zero: "" is "no span"
    ]
    ok = decode_body(Signal.LOGS, _raw_record(good), json=False, received_time_unix_nano=1)
    assert [len(e.ids) for e in ok.predictions] == [2, 1]
    for change in bad:
        batch = decode_body(
            Signal.LOGS, _raw_record({**good, **change}), json=False, received_time_unix_nano=1
        )
        assert batch.rejection_counts() == {R_CALLS: 1}, change
    dropped = {
        semconv.ML_MODEL_NAME: "m",
        semconv.ML_DROPPED_ROWS: 5,
        semconv.ML_DROPPED_ID_PREFIXES: ["p"],
        semconv.ML_DROPPED_ID_FIRST: [10],
        semconv.ML_DROPPED_ID_LAST: [20],  # 11 ids, more than the 5 rows
    }
    batch = decode_body(
        Signal.LOGS, _raw_record(dropped, semconv.EVENT_PREDICTION_DROPPED), json=False,
        received_time_unix_nano=1,
    )  # fmt: skip
    assert batch.rejection_counts() == {R_DROPPED: 1}
