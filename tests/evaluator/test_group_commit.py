"""Group commit: concurrent export requests share one SQLite transaction — those with
cumulative points (the SDK's own counters, by default) too — and each is acknowledged
only once that transaction committed.

Real evaluator (``EvaluatorApp``), real OTLP/HTTP receiver, the SDK's real
``OTLPMetricExporter`` in four threads. The writer thread starts only once the four
requests wait in its queue, so they meet in one group whatever the scheduling.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    ExponentialHistogram,
    Metric,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otel_ml import semconv as sc
from otel_ml.evaluator._app import EvaluatorApp
from otel_ml.evaluator._config import parse_config
from otel_ml.evaluator._records import IngestBatch
from otel_ml.evaluator._store import WriteOutcome
from otel_ml.sketch import NumericSketch, exponential_data_point

SENDERS = 4
S = 10**9


def _app(state_dir: Path) -> EvaluatorApp:
    cfg = parse_config(
        {
            "state_dir": str(state_dir),
            "receivers": {"http": {"port": 0}, "grpc": {"enabled": False}},
            "api": {"enabled": False},
            "windows": {"size": "1h"},
            "ingest": {"queue_size": 16, "max_batch_commit": 16},
        }
    )
    a = EvaluatorApp.from_config(cfg)
    assert a.http is not None
    a.http.start()  # the writer is started by _export_all
    return a


def _request(sender: int, calls: int, started: int, t: int) -> MetricsData:
    """One replica's export: a DELTA feature sketch and its CUMULATIVE call counter."""
    attrs = {sc.ML_MODEL_NAME: "churn", sc.ML_MODEL_VERSION: "1"}
    sketch = NumericSketch()
    sketch.update([float(sender), 1.0 + sender])
    hist = exponential_data_point(sketch, {**attrs, sc.ML_FEATURE_NAME: "age"}, t - S, t)
    metrics = [
        Metric(sc.METRIC_FEATURE_VALUES, "", "1",
               ExponentialHistogram([hist], AggregationTemporality.DELTA)),
        Metric(sc.METRIC_PREDICT_CALLS, "", "{call}",
               Sum([NumberDataPoint(attrs, started, t, calls)],
                   AggregationTemporality.CUMULATIVE, True)),
    ]
    resource = Resource.create({"service.name": "churn-api", "service.instance.id": str(sender)})
    scope = ScopeMetrics(InstrumentationScope("otel_ml", "0"), metrics, "")
    return MetricsData([ResourceMetrics(resource, [scope], "")])


def _export_all(app: EvaluatorApp, requests: Sequence[MetricsData]) -> list[MetricExportResult]:
    """Export ``requests`` concurrently (one real exporter each); start the writer once all
    of them wait in the queue."""
    assert app.http is not None
    results: list[MetricExportResult] = [MetricExportResult.FAILURE] * len(requests)

    def send(i: int) -> None:
        exporter = OTLPMetricExporter(endpoint=f"{app.http.url}/v1/metrics", timeout=30)
        results[i] = exporter.export(requests[i])
        exporter.shutdown()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(requests))]
    for th in threads:
        th.start()
    deadline = time.monotonic() + 20
    while app.service.queue_depth < len(requests) and time.monotonic() < deadline:
        time.sleep(0.01)
    queued = app.service.queue_depth
    app.service.start_writer()
    for th in threads:
        th.join(30)
    app.service.stop()
    assert queued == len(requests), "requests were not queued together (serialised?)"
    return results


def _counting_writes(app: EvaluatorApp) -> list[int]:
    """The size of every group the store writes (the real write runs)."""
    groups: list[int] = []
    write = app.store.write

    def counting_write(
        batches: Sequence[IngestBatch], *, now: float | None = None
    ) -> list[WriteOutcome]:
        groups.append(len(batches))
        return write(batches, now=now)

    app.store.write = counting_write  # type: ignore[method-assign]
    return groups


def test_concurrent_cumulative_requests_share_one_commit(tmp_path: Path) -> None:
    app = _app(tmp_path / "state")
    try:
        groups = _counting_writes(app)
        started = time.time_ns()  # after the evaluator started: the first value counts whole
        t = time.time_ns()
        first = [_request(k, 10 * (k + 1), started, t) for k in range(SENDERS)]
        assert _export_all(app, first) == [MetricExportResult.SUCCESS] * SENDERS
        assert groups == [SENDERS]
        assert app.service.batches.get("stored") == SENDERS
    finally:
        app.stop()

    # restarted on the same state: the next export of every replica, again in one group,
    # differenced from the stream points stored with the first group
    app = _app(tmp_path / "state")
    try:
        groups = _counting_writes(app)
        second = [_request(k, 10 * (k + 1) + 7, started, t + S) for k in range(SENDERS)]
        assert _export_all(app, second) == [MetricExportResult.SUCCESS] * SENDERS
        assert groups == [SENDERS]
        calls = app.store.db.fetchall(
            "SELECT SUM(value) FROM counters WHERE model='churn' AND metric=?",
            (sc.METRIC_PREDICT_CALLS,),
        )[0][0]
        assert calls == sum(10 * (k + 1) + 7 for k in range(SENDERS))  # each call once
        (window,) = app.store.dirty_windows(closed_before=float("inf"))
        assert app.store.load_window(window).numeric["age"].count == 2 * 2 * SENDERS
        assert len(app.store.stream_state(100)) == SENDERS
    finally:
        app.stop()
