"""ml.prediction records: batched off the calling thread, bounded in bytes, within a byte budget.

Big batches through the real OTLP log exporter to a loopback receiver: every prediction
id is delivered or reported dropped (and counted), memory stays flat. Single-row calls
share records; the per-call form stays available.
"""

from __future__ import annotations

import gc
import json
import os
import tracemalloc

import numpy as np
import pytest
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sdk_otlp_receiver import http_receiver
from sdk_support import Telemetry

import otel_ml
from otel_ml import semconv
from otel_ml.instrumentation import Aggregator, Runtime, _ids
from otel_ml.instrumentation._events import MAX_RECORD_BYTES

ROWS = 100_000
CALLS = 50
BUDGET = 2 * 1024 * 1024


def _ids_of(received: object) -> tuple[list[str], int, list[tuple[str, int, int]], int]:
    """Delivered ids, reported dropped rows and ranges, and the largest record's size."""
    ids: list[str] = []
    dropped_rows = 0
    ranges: list[tuple[str, int, int]] = []
    largest = 0
    for _, rec, attrs in received.log_records(semconv.EVENT_PREDICTION):  # type: ignore[attr-defined]
        ids.extend(attrs[semconv.ML_PREDICTION_IDS])
        largest = max(largest, rec.ByteSize())
    for _, _, attrs in received.log_records(semconv.EVENT_PREDICTION_DROPPED):  # type: ignore[attr-defined]
        dropped_rows += attrs[semconv.ML_DROPPED_ROWS]
        ranges += zip(
            attrs.get(semconv.ML_DROPPED_ID_PREFIXES, []),
            attrs.get(semconv.ML_DROPPED_ID_FIRST, []),
            attrs.get(semconv.ML_DROPPED_ID_LAST, []),
            strict=True,
        )
    return ids, dropped_rows, ranges, largest


def test_big_batches_deliver_or_report_every_id_with_flat_memory() -> None:
    """50 calls of 100,000 rows, a 2 MiB budget: delivered + reported dropped == sent."""
    with http_receiver() as (url, received):
        lp = LoggerProvider()
        lp.add_log_record_processor(
            BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"{url}/v1/logs"))
        )
        runtime = Runtime(event_budget_bytes=BUDGET)

        @otel_ml.monitor(  # type: ignore[arg-type]
            model="big",
            aggregator=Aggregator(),
            tracer_provider=TracerProvider(),
            logger_provider=lp,
            runtime=runtime,
        )
        def predict(x: np.ndarray) -> np.ndarray:
            return x[:, 0] * 0.5

        x = np.random.default_rng(0).normal(size=(ROWS, 2))
        sent: list[tuple[str, int, int]] = []  # each call's generated ids: prefix, first, last

        def call() -> None:
            predict(x)
            last = _ids._LAST_IDS.get()
            assert last is not None and last.generated_prefix is not None
            sent.append((last.generated_prefix, last.number(0), last.number(ROWS - 1)))

        call()  # warm up (worker thread, exporter, sketches)
        runtime.flush()
        gc.collect()
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            for _ in range(CALLS - 1):
                call()
            runtime.flush()
            growth = tracemalloc.get_traced_memory()[0] - base
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        lp.force_flush()
        lp.shutdown()
        ids, dropped_rows, ranges, largest = _ids_of(received)

    print(f"delivered {len(ids)}, dropped {dropped_rows}, growth {growth}, peak {peak}")
    # Every id delivered once, or reported dropped, and counted on the self-metric.
    (prefix,) = {p for p, _, _ in sent}
    expected = np.concatenate([np.arange(a, b + 1) for _, a, b in sent])
    assert len(np.unique(expected)) == CALLS * ROWS
    assert {i.rpartition("-")[0] for i in ids} == {prefix}
    got = np.array([int(i.rpartition("-")[2]) for i in ids])
    assert len(np.unique(got)) == len(got)
    assert len(ids) + dropped_rows == CALLS * ROWS
    assert runtime.events.dropped[("big", "unknown")] == dropped_rows > 0
    assert len(ids) >= BUDGET // 64  # the budget's worth went out
    # The ranges name exactly the ids that were not delivered (generated: <prefix>-<n>).
    assert {p for p, _, _ in ranges} == {prefix}
    named = np.concatenate([np.arange(a, b + 1) for _, a, b in ranges])
    assert len(named) == dropped_rows
    assert np.array_equal(np.sort(np.concatenate([named, got])), np.sort(expected))
    # Each record bounded in bytes (estimate with margin), memory flat: the 2 MiB budget,
    # not 5,000,000 ids (~300 MB as Python strings) nor one record per call.
    assert largest <= MAX_RECORD_BYTES * 1.25
    assert peak < 48 * 1024 * 1024, peak
    assert growth < 8 * 1024 * 1024, growth


def test_single_row_calls_share_records(telemetry: Telemetry) -> None:
    spans = InMemorySpanExporter()
    telemetry.tracer_provider.add_span_processor(SimpleSpanProcessor(spans))

    @otel_ml.monitor(model="one", **telemetry.kwargs())  # type: ignore[arg-type]
    def predict(x: np.ndarray) -> np.ndarray:
        return x[:, 0] > 0

    for i in range(1_000):
        predict(np.array([[float(i % 7) - 3.0, 1.0]]))
    calls = telemetry.calls()
    records = telemetry.events()
    assert len(calls) == 1_000
    assert len(records) <= 1_000 / 20, len(records)  # ~80 calls per 8 KiB record
    # Each call keeps its own trace link (the evaluator's example traces).
    by_span = {s.context.span_id: s.context.trace_id for s in spans.get_finished_spans()}
    assert {c["span_id"]: c["trace_id"] for c in calls} == by_span
    assert all(r.log_record.trace_id == 0 for r in records)  # the record itself: no span


def test_per_call_records_stay_available(telemetry: Telemetry) -> None:
    spans = InMemorySpanExporter()
    telemetry.tracer_provider.add_span_processor(SimpleSpanProcessor(spans))

    @otel_ml.monitor(model="pc", prediction_events="per_call", **telemetry.kwargs())  # type: ignore[arg-type]
    def predict(x: np.ndarray) -> np.ndarray:
        return x[:, 0]

    for _ in range(5):
        predict(np.ones((3, 2)))
    records = telemetry.events()
    assert len(records) == 5
    span_ids = [s.context.span_id for s in spans.get_finished_spans()]
    assert [r.log_record.span_id for r in records] == span_ids
    attrs = records[0].log_record.attributes
    assert attrs is not None and semconv.ML_PREDICTION_CALL_OFFSETS not in attrs


def test_prediction_events_option_is_checked() -> None:
    with pytest.raises(otel_ml.ConfigurationError, match="prediction_events='sometimes'"):
        otel_ml.monitor(model="m", prediction_events="sometimes")(lambda x: x)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_forked_child_does_not_send_the_parents_open_record(telemetry: Telemetry) -> None:
    @otel_ml.monitor(model="fork", **telemetry.kwargs())  # type: ignore[arg-type]
    def predict(x: np.ndarray) -> np.ndarray:
        return x[:, 0]

    predict(np.ones((2, 2)))
    with telemetry.runtime.worker._drain_lock:  # the call into the open record, not sent
        telemetry.runtime.worker._drain_locked(force=False)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one call of its own, then everything it sends
        try:
            predict(np.ones((3, 2)))
            sizes = [len(c[semconv.ML_PREDICTION_IDS]) for c in telemetry.calls()]
            os.write(write, json.dumps(sizes).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        child = json.loads(f.read())
    os.waitpid(pid, 0)
    assert child == [3]  # not the parent's 2 rows as well
    assert [len(c[semconv.ML_PREDICTION_IDS]) for c in telemetry.calls()] == [2]
