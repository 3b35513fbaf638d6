"""Overhead of the otel_ml SDK, measured against baselines in the same run.

Run from the repository root::

    .venv/bin/python benchmarks/sdk_overhead.py            # full run (~1 min)
    .venv/bin/python benchmarks/sdk_overhead.py --quick    # fewer repetitions

Times are process CPU time per call (every thread of the process, so the
background worker's and the SDK processors' work is included, and the load of
other processes on a shared machine is not). Measures, with SDK providers wired
like a service (batch span and log processors, a periodic metric reader
exporting through the sketch bridge, all to exporters that drop data so only the
process's own work is timed):

1. a single-row call: undecorated, ``@monitor``-decorated, and wrapped in one bare
   OTel span + one counter add (the target: decorated overhead <= 1.3x the
   overhead of that baseline). Decorated timings include draining the
   background worker (sketches and prediction events), so deferred work counts.
   Next to them, on the same providers: a hand-written OTel equivalent emitting
   the same signals per call (one span, one counter add, one histogram record,
   one log record with the row's id and value), the monitor's span alone (same
   name, kind and six attributes, made current), one per-call ``ml.prediction``
   log record alone, ``prediction_events="per_call"`` (the form before batching),
   and the baseline written with ``start_span`` instead of
   ``start_as_current_span``;
2. a 10,000 x 20 batch with feature capture vs without (the difference per value);
3. the per-value cost of a feature sketch update next to ``Histogram.record``;
4. the multivariate drift feature: the same monitor with a reference profile of the 20
   features, with and without its multivariate model (the PCA reconstruction errors of
   each batch, ``docs/drift.md``), single rows and the 10,000 x 20 batch.

Results are printed as a Markdown table (paste into docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from _null_sdk import NullLogs, NullMetrics, NullSpans, per_call
from opentelemetry import context, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind

import otel_ml
from otel_ml import semconv
from otel_ml.instrumentation import (
    Aggregator,
    Runtime,
    SketchMetricExporter,
    default_runtime,
    flush,
)
from otel_ml.instrumentation._options import Task
from otel_ml.sketch import NumericSketch, Profile


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument(
        "--gc-off",
        action="store_true",
        help="diagnostic: disable Python's cyclic garbage collector while measuring",
    )
    args = parser.parse_args(argv)
    if args.gc_off:
        gc.disable()
    repeat = 3 if args.quick else 7
    n_single = 2_000 if args.quick else 10_000

    tp = TracerProvider()
    tp.add_span_processor(BatchSpanProcessor(NullSpans(), max_queue_size=1 << 16))
    lp = LoggerProvider()
    lp.add_log_record_processor(BatchLogRecordProcessor(NullLogs(), max_queue_size=1 << 16))
    agg = Aggregator()
    reader = PeriodicExportingMetricReader(
        SketchMetricExporter(NullMetrics(), aggregator=agg), export_interval_millis=1_000
    )
    mp = MeterProvider(metric_readers=[reader])
    tracer = tp.get_tracer("bench")
    counter = mp.get_meter("bench").create_counter("bench.calls")
    histogram = mp.get_meter("bench").create_histogram("bench.values")
    providers: dict[str, Any] = {
        "tracer_provider": tp, "logger_provider": lp, "meter_provider": mp, "aggregator": agg,
    }  # fmt: skip

    rng = np.random.default_rng(0)
    weights = rng.normal(size=20)

    def model(x: np.ndarray) -> np.ndarray:
        return x @ weights

    row = rng.normal(size=(1, 20))
    decorated = otel_ml.monitor(model="bench", version="1", **providers)(model)
    no_events = otel_ml.monitor(model="bench-ne", prediction_events=False, **providers)(model)
    per_call_events = otel_ml.monitor(
        model="bench-pc", prediction_events="per_call", **providers
    )(model)

    def bare() -> np.ndarray:
        with tracer.start_as_current_span("predict"):
            out = model(row)
            counter.add(1)
            return out

    def bare_lean() -> np.ndarray:
        # The baseline without the context manager's conveniences (as the monitor does it).
        span = tracer.start_span("predict")
        token = context.attach(trace.set_span_in_context(span))
        out = model(row)
        counter.add(1)
        context.detach(token)
        span.end()
        return out

    span_attrs = {
        semconv.ML_MODEL_NAME: "bench", semconv.ML_MODEL_VERSION: "1",
        semconv.ML_MODEL_FRAMEWORK: "custom", semconv.ML_MODEL_TASK: Task.AUTO.value,
        semconv.ML_OPERATION: "predict", semconv.ML_BATCH_SIZE: 1,
    }  # fmt: skip

    def span_alone() -> np.ndarray:
        # The monitor's span without anything else of otel_ml: same name, kind, attributes.
        span = tracer.start_span("predict bench", kind=SpanKind.INTERNAL, attributes=span_attrs)
        token = context.attach(trace.set_span_in_context(span))
        out = model(row)
        context.detach(token)
        span.end()
        return out

    logger = lp.get_logger(semconv.SCOPE_NAME)
    duration = mp.get_meter("bench").create_histogram("bench.duration", unit="s")
    parent = tracer.start_span("parent")
    parent.end()
    parent_ctx = trace.set_span_in_context(parent)
    ids = iter(range(1 << 62))

    def event_alone() -> None:
        # One per-call ml.prediction log record of a one-row call (the form before batching).
        logger.emit(
            timestamp=time.time_ns(), context=parent_ctx, event_name=semconv.EVENT_PREDICTION,
            attributes={
                semconv.ML_MODEL_NAME: "bench", semconv.ML_MODEL_VERSION: "1",
                semconv.ML_PREDICTION_IDS: [f"p-{next(ids)}"],
                semconv.ML_PREDICTION_VALUES: [0.5],
            },
        )  # fmt: skip

    def handwritten() -> np.ndarray:
        # What a user would write by hand for the same signals: a span, a call counter, a
        # duration histogram and one log record with the row's id and predicted value.
        t0 = time.perf_counter()
        with tracer.start_as_current_span("predict bench", attributes=span_attrs):
            out = model(row)
            counter.add(1, {semconv.ML_MODEL_NAME: "bench"})
            duration.record(time.perf_counter() - t0, {semconv.ML_MODEL_NAME: "bench"})
            logger.emit(
                event_name=semconv.EVENT_PREDICTION,
                attributes={
                    semconv.ML_MODEL_NAME: "bench", semconv.ML_MODEL_VERSION: "1",
                    semconv.ML_PREDICTION_IDS: [f"p-{next(ids)}"],
                    semconv.ML_PREDICTION_VALUES: [float(out[0])],
                },
            )  # fmt: skip
            return out

    def noop() -> None:
        pass

    results: list[tuple[str, str]] = []
    t_raw = per_call(lambda: model(row), n_single, repeat, noop, statistics.median)
    gc_counts: list[str] = []

    def counting(fn: Callable[[], Any], after: Callable[[], None]) -> float:
        # Also the cyclic GC's collections (gen0/gen1/full) per 10,000 calls of this path.
        before = [g["collections"] for g in gc.get_stats()]
        t = per_call(fn, n_single, repeat, after, statistics.median)
        calls = n_single * repeat
        done = [g["collections"] - b for g, b in zip(gc.get_stats(), before, strict=True)]
        gc_counts.append("/".join(f"{c * 10_000 / calls:.1f}" for c in done))
        return t

    t_bare = counting(bare, noop)
    t_dec = counting(lambda: decorated(row), flush)
    t_ne = counting(lambda: no_events(row), flush)
    t_pc = per_call(lambda: per_call_events(row), n_single, repeat, flush, statistics.median)
    t_hand = per_call(handwritten, n_single, repeat, noop, statistics.median)
    t_lean = per_call(bare_lean, n_single, repeat, noop, statistics.median)
    t_span = per_call(span_alone, n_single, repeat, noop, statistics.median)
    t_event = per_call(event_alone, n_single, repeat, noop, statistics.median)
    base = t_bare - t_raw
    floor = t_span - t_raw + t_event
    # Split: calling thread vs deferred work. The worker is held back and drained by hand
    # every `wake_at` calls, as it does by itself.
    worker = default_runtime().worker
    saved = worker._wake_at, worker._interval
    worker._wake_at, worker._interval = 1 << 40, 3600.0
    hot, deferred = [], []
    chunk = saved[0]  # what the worker does by itself
    for _ in range(repeat):
        flush()
        t_calls = t_drain = 0.0
        for _ in range(max(n_single // chunk, 1)):
            t0 = time.process_time()
            for _ in range(chunk):
                decorated(row)
            t1 = time.process_time()
            flush()
            t_calls += t1 - t0
            t_drain += time.process_time() - t1
        n = max(n_single // chunk, 1) * chunk
        hot.append(t_calls / n)
        deferred.append(t_drain / n)
    worker._wake_at, worker._interval = saved
    t_hot, t_deferred = statistics.median(hot), statistics.median(deferred)
    results += [
        ("single row: undecorated call", f"{t_raw * 1e6:.2f} µs"),
        ("single row: bare span + counter add (overhead)", f"{base * 1e6:.1f} µs"),
        ("single row: @monitor (overhead, worker drained)", f"{(t_dec - t_raw) * 1e6:.1f} µs"),
        ("single row: overhead ratio vs bare span + counter", f"{(t_dec - t_raw) / base:.2f}x"),
        ("single row: @monitor, calling thread only (overhead)",
         f"{(t_hot - t_raw) * 1e6:.1f} µs = {(t_hot - t_raw) / base:.2f}x"),
        ("single row: @monitor, deferred to the worker (sketches + event)",
         f"{t_deferred * 1e6:.1f} µs"),
        ("single row: hand-written OTel equivalent (span, counter, histogram, log record)",
         f"{(t_hand - t_raw) * 1e6:.1f} µs = {(t_hand - t_raw) / base:.2f}x"),
        ("single row: @monitor overhead vs the hand-written equivalent",
         f"{(t_dec - t_raw) / (t_hand - t_raw):.2f}x"),
        ("single row: @monitor(prediction_events=\"per_call\") (overhead)",
         f"{(t_pc - t_raw) * 1e6:.1f} µs = {(t_pc - t_raw) / base:.2f}x"),
        ("single row: @monitor without prediction events (overhead)",
         f"{(t_ne - t_raw) * 1e6:.1f} µs = {(t_ne - t_raw) / base:.2f}x"),
        ("single row: baseline with start_span instead of start_as_current_span",
         f"{(t_lean - t_raw) * 1e6:.1f} µs = {(t_lean - t_raw) / base:.2f}x"),
        ("single row: the monitor's span alone (6 attributes, made current)",
         f"{(t_span - t_raw) * 1e6:.1f} µs = {(t_span - t_raw) / base:.2f}x"),
        ("single row: one per-call ml.prediction log record alone (Logger.emit)",
         f"{t_event * 1e6:.1f} µs = {t_event / base:.2f}x"),
        ("single row: span alone + log record alone (SDK floor of one call)",
         f"{floor * 1e6:.1f} µs = {floor / base:.2f}x"),
        ("single row: @monitor overhead vs that floor",
         f"{(t_dec - t_raw) / floor:.2f}x"),
        ("GC collections per 10,000 calls, gen0/gen1/full: baseline, @monitor, no events",
         ", ".join(gc_counts)),
    ]  # fmt: skip

    batch = rng.normal(size=(10_000, 20))
    # A budget no run reaches, so every row's id and value is sent (the default 16 MiB
    # would drop most rows of 50 x 10,000-row calls a second, and time the dropping).
    roomy = {**providers, "runtime": Runtime(event_budget_bytes=1 << 34)}
    with_capture = otel_ml.monitor(model="bench-b", **roomy)(model)
    without = otel_ml.monitor(model="bench-nc", capture_features=False, **roomy)(model)
    n_batch = 20 if args.quick else 50
    t_batch_raw = per_call(lambda: model(batch), n_batch, repeat, noop, statistics.median)
    t_with = per_call(lambda: with_capture(batch), n_batch, repeat, flush, statistics.median)
    t_without = per_call(lambda: without(batch), n_batch, repeat, flush, statistics.median)
    per_value_capture = (t_with - t_without) / batch.size
    results += [
        ("10,000 x 20 batch: undecorated", f"{t_batch_raw * 1e3:.2f} ms"),
        ("10,000 x 20 batch: @monitor, no feature capture", f"{t_without * 1e3:.2f} ms"),
        ("10,000 x 20 batch: @monitor, feature capture", f"{t_with * 1e3:.2f} ms"),
        ("feature capture per value (batch difference)", f"{per_value_capture * 1e9:.1f} ns"),
        ("10,000 x 20 batch: rows dropped by the event budget",
         str(sum(roomy["runtime"].events.dropped.values()))),
    ]

    # 4. The multivariate feature: one reference, with and without its PCA model.
    train = rng.normal(size=(20_000, 20))
    train[:, 1] = 0.8 * train[:, 0] + 0.6 * train[:, 1]  # a correlated pair
    with_mv = Profile.from_data(train)
    assert with_mv.multivariate is not None
    without_mv = dataclasses.replace(with_mv, multivariate=None)
    ref_mv = otel_ml.monitor(model="bench-mv", reference=with_mv, **roomy)(model)
    ref_plain = otel_ml.monitor(model="bench-ref", reference=without_mv, **roomy)(model)
    t_row_mv = per_call(lambda: ref_mv(row), n_single, repeat, flush, statistics.median)
    t_row_plain = per_call(lambda: ref_plain(row), n_single, repeat, flush, statistics.median)
    t_b_mv = per_call(lambda: ref_mv(batch), n_batch, repeat, flush, statistics.median)
    t_b_plain = per_call(lambda: ref_plain(batch), n_batch, repeat, flush, statistics.median)
    mv = with_mv.multivariate
    results += [
        ("single row, with a reference profile: @monitor (overhead)",
         f"{(t_row_plain - t_raw) * 1e6:.1f} µs = {(t_row_plain - t_raw) / base:.2f}x"),
        (f"single row, reference with a multivariate model (20 features, "
         f"{mv.n_components} components): @monitor (overhead)",
         f"{(t_row_mv - t_raw) * 1e6:.1f} µs = {(t_row_mv - t_raw) / base:.2f}x"),
        ("single row: added by the multivariate model",
         f"{(t_row_mv - t_row_plain) * 1e6:.2f} µs"),
        ("10,000 x 20 batch, with a reference profile: @monitor", f"{t_b_plain * 1e3:.2f} ms"),
        ("10,000 x 20 batch, reference with a multivariate model: @monitor",
         f"{t_b_mv * 1e3:.2f} ms"),
        ("multivariate model per row (batch difference)",
         f"{(t_b_mv - t_b_plain) / batch.shape[0] * 1e9:.0f} ns "
         f"= {(t_b_mv - t_b_plain) / batch.size * 1e9:.1f} ns per value"),
    ]

    column = rng.normal(size=10_000)
    sketch = NumericSketch()
    t_sketch = (
        per_call(lambda: sketch.update(column), 50, repeat, noop, statistics.median) / column.size
    )
    positive = np.abs(column[:2_000]).tolist()
    attrs = {"ml.model.name": "bench", "ml.feature.name": "f0"}

    def record_all() -> None:
        for v in positive:
            histogram.record(v, attrs)

    t_record = per_call(record_all, 3, repeat, noop, statistics.median) / len(positive)
    results += [
        ("NumericSketch.update per value (10,000-value column)", f"{t_sketch * 1e9:.1f} ns"),
        ("Histogram.record per value", f"{t_record * 1e9:.0f} ns"),
        ("Histogram.record / sketch per value", f"{t_record / t_sketch:.0f}x"),
    ]
    print("| measurement | result |\n|---|---|")
    for name, value in results:
        print(f"| {name} | {value} |")
    tp.shutdown()
    lp.shutdown()
    mp.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
